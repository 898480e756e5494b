import Base

/// A file written by PyTorch's `torch.save`, read without running any of its code.
///
/// Both on-disk layouts are supported: the ZIP layout of PyTorch >= 1.6 (`archive/data.pkl` plus
/// one entry per storage under `archive/data/`) and the legacy layout (a sequence of pickles: magic
/// number, protocol version, system info, the object, the storage keys, then each storage's
/// element count and raw bytes). Objects go through `PickleReader`, which accepts tensors,
/// storages and plain containers only.
public struct TorchCheckpoint {
  public let path: String
  /// The unpickled object, with tensors as references into `storages`.
  public let root: PickleValue
  let storages: [String: [UInt8]]

  /// 0x1950a86a20f9469cfc6c as little-endian bytes.
  static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

  public init(path: String) throws {
    try self.init(bytes: try readFile(path), path: path)
  }

  /// Parses the bytes of a checkpoint file; `path` names it in errors.
  public init(bytes: [UInt8], path: String) throws {
    self.path = path
    if bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4b && bytes[2] == 0x03 && bytes[3] == 0x04 {
      let zip = try ZipArchive(bytes: bytes, path: path)
      guard let pkl = zip.entries.first(where: { $0.name.hasSuffix("/data.pkl") || $0.name == "data.pkl" }) else {
        throw FileFormatError(path, "ZIP file without data.pkl: not a torch.save checkpoint")
      }
      let prefix = String(pkl.name.dropLast("data.pkl".count))
      var r = ByteReader(try zip.data(of: pkl), path: path)
      root = try PickleReader(path: path).load(&r)
      var storages: [String: [UInt8]] = [:]
      for ref in Self.storageRefs(in: root) where storages[ref.key] == nil {
        guard let e = zip.entry(named: prefix + "data/" + ref.key) else {
          throw FileFormatError(path, "checkpoint names storage '\(ref.key)' but has no entry \(prefix)data/\(ref.key)")
        }
        let data = try zip.data(of: e)
        guard let needed = checkedByteCount(shape: [ref.count], elementSize: ref.dtype.byteSize), data.count >= needed else {
          throw FileFormatError(
            path, "storage '\(ref.key)' has \(data.count) bytes, needs \(ref.count) elements of \(ref.dtype.byteSize) bytes")
        }
        storages[ref.key] = data
      }
      self.storages = storages
    } else {
      var r = ByteReader(bytes, path: path)
      let reader = PickleReader(path: path)
      let magic: PickleValue
      do { magic = try reader.load(&r) } catch let e as FileFormatError where e.message.hasPrefix("refusing") {
        throw e
      } catch {
        throw FileFormatError(path, "not a PyTorch checkpoint (neither a ZIP archive nor a legacy torch.save pickle)")
      }
      guard case .bigInt(let m) = magic, m == Self.legacyMagic else {
        throw FileFormatError(path, "not a PyTorch checkpoint: legacy magic number missing")
      }
      let version = try reader.load(&r)
      guard version.int == 1001 else {
        throw FileFormatError(path, "unsupported legacy protocol version \(version.summary())")
      }
      _ = try reader.load(&r)  // system info
      root = try reader.load(&r)
      guard case .list(let keyValues) = try reader.load(&r) else {
        throw FileFormatError(path, "legacy checkpoint without a storage key list")
      }
      let refs = Dictionary(Self.storageRefs(in: root).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
      var storages: [String: [UInt8]] = [:]
      for kv in keyValues {
        guard let key = kv.string, let ref = refs[key] else {
          throw FileFormatError(path, "legacy checkpoint lists unknown storage \(kv.summary())")
        }
        let n = try r.size64("storage '\(key)' size")
        guard n == ref.count else {
          throw FileFormatError(path, "storage '\(key)' holds \(n) elements, the pickle says \(ref.count)")
        }
        guard let byteCount = checkedByteCount(shape: [n], elementSize: ref.dtype.byteSize) else {
          throw FileFormatError(path, "storage '\(key)' of \(n) elements is larger than the file")
        }
        storages[key] = Array(try r.take(byteCount, "storage '\(key)'"))
      }
      self.storages = storages
    }
  }

  static func storageRefs(in value: PickleValue) -> [StorageRef] {
    switch value {
    case .tensor(let t): return [t.storage]
    case .storage(let s): return [s]
    case .list(let l), .tuple(let l): return l.flatMap(storageRefs)
    case .dict(let d): return d.flatMap { storageRefs(in: $0.0) + storageRefs(in: $0.1) }
    default: return []
    }
  }

  /// Materializes a tensor reference as a contiguous CPU tensor.
  public func tensor(_ ref: TensorRef) throws -> Tensor {
    guard let storage = storages[ref.storage.key] else {
      throw FileFormatError(path, "missing storage '\(ref.storage.key)'")
    }
    let size = ref.dtype.byteSize
    guard let bytes = checkedByteCount(shape: ref.shape, elementSize: size), bytes <= storage.count || bytes == 0,
      ref.stride.allSatisfy({ $0 >= 0 })
    else {
      throw FileFormatError(
        path, "tensor of shape \(ref.shape) and strides \(ref.stride) does not fit storage '\(ref.storage.key)'")
    }
    let count = bytes / Swift.max(size, 1)
    // The highest element reached through the strides must lie inside the storage (every step
    // checked for overflow: the offset, shape and strides come from the file).
    var last = ref.offset
    var fits = ref.offset >= 0
    for (n, st) in zip(ref.shape, ref.stride) where n > 0 && fits {
      let (step, o1) = (n - 1).multipliedReportingOverflow(by: st)
      let (sum, o2) = last.addingReportingOverflow(step)
      fits = !o1 && !o2
      last = sum
    }
    guard count == 0 || (fits && last < storage.count / Swift.max(size, 1)) else {
      throw FileFormatError(path, "tensor of shape \(ref.shape) reaches past the end of storage '\(ref.storage.key)'")
    }
    var out = [UInt8](repeating: 0, count: count * size)
    var index = [Int](repeating: 0, count: ref.shape.count)
    for n in 0..<count {
      var src = ref.offset
      for d in index.indices { src += index[d] * ref.stride[d] }
      for b in 0..<size { out[n * size + b] = storage[src * size + b] }
      var d = index.count - 1
      while d >= 0 {
        index[d] += 1
        if index[d] < ref.shape[d] { break }
        index[d] = 0
        d -= 1
      }
    }
    return try out.withUnsafeBytes { try Tensor(bytes: $0, shape: ref.shape, dtype: ref.dtype) }
  }

  /// The model weights: the root dict if it maps names to tensors, otherwise its `state_dict`,
  /// `model_state_dict`, `model` or `net` entry. A `module.` prefix (from `nn.DataParallel`) is
  /// removed from every name.
  public func stateDict() throws -> [(String, Tensor)] {
    func isStateDict(_ v: PickleValue) -> Bool {
      guard let items = v.dictItems, !items.isEmpty else { return false }
      return items.allSatisfy { if case .tensor = $0.1 { return $0.0.string != nil } else { return false } }
    }
    var candidate: PickleValue? = isStateDict(root) ? root : nil
    if candidate == nil {
      for key in ["state_dict", "model_state_dict", "model", "net"] {
        if let v = root[key], isStateDict(v) {
          candidate = v
          break
        }
      }
    }
    guard let dict = candidate?.dictItems else {
      throw FileFormatError(
        path, "no state dict found (looked at the root and its state_dict/model_state_dict/model/net entries)")
    }
    let allPrefixed = dict.allSatisfy { $0.0.string?.hasPrefix("module.") == true }
    var out: [(String, Tensor)] = []
    for (k, v) in dict {
      guard let name = k.string, case .tensor(let ref) = v else { continue }
      out.append((allPrefixed ? String(name.dropFirst("module.".count)) : name, try tensor(ref)))
    }
    return out
  }
}
