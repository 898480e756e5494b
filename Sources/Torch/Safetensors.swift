import Base
import Foundation

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
/// JSON header mapping each tensor name to dtype, shape and byte offsets (plus an optional
/// `__metadata__` object of string pairs), then the raw little-endian data.
public enum Safetensors {
  static let codes: [(DType, String)] = [
    (.float32, "F32"), (.float16, "F16"), (.bfloat16, "BF16"), (.float64, "F64"), (.int64, "I64"),
    (.int32, "I32"), (.uint8, "U8"), (.bool, "BOOL"),
  ]

  static func dtype(_ code: String) -> DType? { codes.first { $0.1 == code }?.0 }
  static func code(_ dtype: DType) -> String { codes.first { $0.0 == dtype }?.1 ?? "F32" }

  /// Reads every tensor (as CPU tensors) and the metadata. Names keep the file's order of offsets.
  public static func read(_ path: String) throws -> (tensors: [(String, Tensor)], metadata: [String: String]) {
    try parse(try readFile(path), path: path)
  }

  /// Parses the bytes of a safetensors file; `path` names it in errors.
  public static func parse(_ bytes: [UInt8], path: String) throws -> (
    tensors: [(String, Tensor)], metadata: [String: String]
  ) {
    var r = ByteReader(bytes, path: path)
    let headerLength = try r.u64("header length")
    guard headerLength <= UInt64(r.remaining), headerLength < 100_000_000 else {
      throw FileFormatError(path, "not a safetensors file: header length \(headerLength) exceeds the file size \(bytes.count)")
    }
    let header = try r.take(Int(headerLength), "header")
    let dataStart = r.offset
    guard let json = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any] else {
      throw FileFormatError(path, "not a safetensors file: the header is not a JSON object")
    }
    var metadata: [String: String] = [:]
    if let m = json["__metadata__"] as? [String: Any] {
      for (k, v) in m { metadata[k] = v as? String ?? "\(v)" }
    }
    var entries: [(String, DType, [Int], Int, Int)] = []
    for (name, value) in json where name != "__metadata__" {
      guard let info = value as? [String: Any], let code = info["dtype"] as? String,
        let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
      else {
        throw FileFormatError(path, "tensor '\(name)': entry needs dtype, shape and data_offsets")
      }
      guard let dtype = Self.dtype(code) else {
        throw FileFormatError(path, "tensor '\(name)': unsupported dtype \(code)")
      }
      guard let expected = checkedByteCount(shape: shape, elementSize: dtype.byteSize) else {
        throw FileFormatError(path, "tensor '\(name)': shape \(shape) has a negative or impossibly large size")
      }
      guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] - offsets[0] == expected else {
        throw FileFormatError(
          path, "tensor '\(name)': shape \(shape) of \(code) needs \(expected) bytes, data_offsets are \(offsets)")
      }
      guard offsets[1] <= bytes.count - dataStart else {
        throw FileFormatError(
          path, "truncated: tensor '\(name)' ends at byte \(offsets[1]) of the data, which has \(bytes.count - dataStart)")
      }
      entries.append((name, dtype, shape, offsets[0], offsets[1]))
    }
    entries.sort { $0.3 < $1.3 }
    var tensors: [(String, Tensor)] = []
    for (name, dtype, shape, begin, end) in entries {
      let t = try bytes.withUnsafeBytes { buf in
        try Tensor(
          bytes: UnsafeRawBufferPointer(rebasing: buf[(dataStart + begin)..<(dataStart + end)]), shape: shape, dtype: dtype)
      }
      tensors.append((name, t))
    }
    return (tensors, metadata)
  }

  /// Writes tensors (any device; copied to CPU) in the given order, with string metadata.
  /// The write is atomic.
  public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String) throws {
    var header: [String: Any] = [:]
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var blobs: [[UInt8]] = []
    var offset = 0
    var seen = Set<String>()
    for (name, t) in tensors {
      guard seen.insert(name).inserted else { throw FileFormatError(path, "duplicate tensor name '\(name)'") }
      let data = try t.bytes()
      header[name] = ["dtype": code(t.dtype), "shape": t.shape, "data_offsets": [offset, offset + data.count]] as [String: Any]
      offset += data.count
      blobs.append(data)
    }
    var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
    while json.count % 8 != 0 { json.append(0x20) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + json.count + offset)
    let n = UInt64(json.count)
    for i in 0..<8 { out.append(UInt8((n >> (8 * UInt64(i))) & 0xff)) }
    out += json
    for b in blobs { out += b }
    try writeFileAtomically(out, to: path)
  }
}
