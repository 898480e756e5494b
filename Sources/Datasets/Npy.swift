import Base
import Torch

/// An array in numpy's `.npy` format: raw little-endian bytes in C order, a dtype and a shape.
///
/// Supported dtypes: uint8, bool, int32, int64, float16, float32, float64 (also uint16 on read,
/// widened to int32, since removal orders are stored as uint16). Fortran order and big-endian
/// data are refused with a clear error.
public struct NpyArray: Sendable {
  public enum Kind: String, Sendable {
    case uint8 = "|u1", bool = "|b1", int32 = "<i4", int64 = "<i8", float16 = "<f2", float32 = "<f4", float64 = "<f8"
    case uint16 = "<u2"

    var byteSize: Int {
      switch self {
      case .uint8, .bool: return 1
      case .float16, .uint16: return 2
      case .int32, .float32: return 4
      case .int64, .float64: return 8
      }
    }
  }

  public var kind: Kind
  public var shape: [Int]
  public var data: [UInt8]

  public init(kind: Kind, shape: [Int], data: [UInt8]) {
    self.kind = kind
    self.shape = shape
    self.data = data
  }

  public init<T: NpyScalar>(_ values: [T], shape: [Int]) {
    precondition(values.count == shape.reduce(1, *), "shape does not match the value count")
    kind = T.npyKind
    self.shape = shape
    data = values.withUnsafeBytes { Array($0) }
  }

  public var count: Int { shape.reduce(1, *) }

  /// Elements as `T` (which must match the stored kind exactly).
  public func values<T: NpyScalar>(as type: T.Type = T.self) throws -> [T] {
    guard T.npyKind == kind else { throw FileFormatError("npy", "array holds \(kind.rawValue), asked for \(T.npyKind.rawValue)") }
    return [T](unsafeUninitializedCapacity: count) { buf, n in
      data.withUnsafeBytes { src in
        UnsafeMutableRawBufferPointer(buf).copyMemory(from: src)
      }
      n = count
    }
  }

  /// Integer elements of any integer or bool kind, widened to Int.
  public func integers() throws -> [Int] {
    switch kind {
    case .uint8: return data.map(Int.init)
    case .bool: return data.map { $0 != 0 ? 1 : 0 }
    case .uint16: return try values(as: UInt16.self).map(Int.init)
    case .int32: return try values(as: Int32.self).map(Int.init)
    case .int64: return try values(as: Int64.self).map(Int.init)
    default: throw FileFormatError("npy", "array holds \(kind.rawValue), expected integers")
    }
  }

  /// Float elements of any float kind, as Float.
  public func floats() throws -> [Float] {
    switch kind {
    case .float32: return try values(as: Float.self)
    case .float64: return try values(as: Double.self).map(Float.init)
    case .float16: return try tensor().floats()
    default: return try integers().map(Float.init)
    }
  }

  /// A CPU tensor with the same shape (uint16 widens to int32).
  public func tensor() throws -> Tensor {
    let dtype: DType
    switch kind {
    case .uint8: dtype = .uint8
    case .bool: dtype = .bool
    case .int32: dtype = .int32
    case .int64: dtype = .int64
    case .float16: dtype = .float16
    case .float32: dtype = .float32
    case .float64: dtype = .float64
    case .uint16:
      return try Tensor(try integers().map { Int32($0) }, shape: shape)
    }
    return try data.withUnsafeBytes { try Tensor(bytes: $0, shape: shape, dtype: dtype) }
  }

  /// The contents of a tensor of a supported dtype (bfloat16 is stored as float32).
  public init(_ tensor: Tensor) throws {
    var t = tensor
    let kind: Kind
    switch tensor.dtype {
    case .uint8: kind = .uint8
    case .bool: kind = .bool
    case .int32: kind = .int32
    case .int64: kind = .int64
    case .float16: kind = .float16
    case .float32: kind = .float32
    case .float64: kind = .float64
    case .bfloat16:
      kind = .float32
      t = try tensor.to(.float32)
    }
    self.init(kind: kind, shape: t.shape, data: try t.bytes())
  }

  // MARK: reading and writing

  public static func read(_ path: String) throws -> NpyArray {
    try parse(try readFile(path), path: path)
  }

  public static func parse(_ bytes: [UInt8], path: String) throws -> NpyArray {
    let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
      throw FileFormatError(path, "not a .npy file (missing the \\x93NUMPY magic)")
    }
    let major = bytes[6]
    let headerStart: Int
    let headerLength: Int
    if major == 1 {
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      headerStart = 10
    } else if major == 2 || major == 3 {
      guard bytes.count >= 12 else { throw FileFormatError(path, "truncated .npy header") }
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
      headerStart = 12
    } else {
      throw FileFormatError(path, "unsupported .npy version \(major)")
    }
    guard headerStart + headerLength <= bytes.count else { throw FileFormatError(path, "truncated .npy header") }
    let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
    guard let descr = field(header, "descr") else { throw FileFormatError(path, "npy header without 'descr': \(header)") }
    let descrText = descr.trimming(chars: "'\" ")
    let normalized =
      descrText == "<u1" || descrText == "u1" ? "|u1" : (descrText == "?" || descrText == "<b1" ? "|b1" : descrText)
    guard let kind = Kind(rawValue: normalized) else {
      throw FileFormatError(
        path,
        "unsupported npy dtype '\(descrText)' (supported: uint8, bool, uint16, int32, int64, float16, float32, float64, little-endian)"
      )
    }
    if let fortran = field(header, "fortran_order"), fortran.contains("True") {
      throw FileFormatError(path, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
    }
    guard let shapeText = field(header, "shape") else { throw FileFormatError(path, "npy header without 'shape'") }
    var parts = shapeText.trimming(chars: "() ").split(separator: ",", omittingEmptySubsequences: false).map {
      String($0).trimming(chars: " ")
    }
    if parts.last == "" { parts.removeLast() }  // "()" and the trailing comma of "(3,)"
    var shape: [Int] = []
    for text in parts {
      guard let d = Int(text), d >= 0 else {
        throw FileFormatError(path, "npy shape \(shapeText) is not a tuple of non-negative integers")
      }
      shape.append(d)
    }
    let start = headerStart + headerLength
    guard let expected = checkedByteCount(shape: shape, elementSize: kind.byteSize) else {
      throw FileFormatError(path, "npy shape \(shapeText) is impossibly large")
    }
    guard bytes.count - start >= expected else {
      throw FileFormatError(
        path, "truncated: shape \(shape) of \(kind.rawValue) needs \(expected) data bytes, file has \(bytes.count - start)")
    }
    return NpyArray(kind: kind, shape: shape, data: Array(bytes[start..<(start + expected)]))
  }

  /// The value text of `'key': value` in a numpy header dict.
  static func field(_ header: String, _ key: String) -> String? {
    guard let range = header.range(of: "'\(key)':") else { return nil }
    var rest = header[range.upperBound...].drop { $0 == " " }
    if rest.first == "(" {
      guard let close = rest.firstIndex(of: ")") else { return nil }
      return String(rest[...close])
    }
    if let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) { rest = rest[..<end] }
    return String(rest)
  }

  /// The `.npy` file bytes.
  public func encoded() -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(kind.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
    let total = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
    var out: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]
    let n = header.utf8.count
    out += [UInt8(n & 0xff), UInt8(n >> 8)]
    out += Array(header.utf8)
    out += data
    return out
  }

  /// Writes atomically (temporary file, then rename).
  public func write(to path: String) throws {
    try writeFileAtomically(encoded(), to: path)
  }
}

/// `.npz` archives: one `.npy` per named array in a ZIP file (stored or deflated entries).
public enum Npz {
  public static func read(_ path: String) throws -> [String: NpyArray] {
    try parse(try readFile(path), path: path)
  }

  /// Parses the bytes of an `.npz` file; `path` names it in errors.
  public static func parse(_ bytes: [UInt8], path: String) throws -> [String: NpyArray] {
    let zip = try ZipArchive(bytes: bytes, path: path)
    var out: [String: NpyArray] = [:]
    for e in zip.entries where e.name.hasSuffix(".npy") {
      out[String(e.name.dropLast(4))] = try NpyArray.parse(try zip.data(of: e), path: "\(path)[\(e.name)]")
    }
    return out
  }

  public static func write(_ arrays: [(String, NpyArray)], to path: String) throws {
    var zip = ZipWriter()
    for (name, a) in arrays { zip.add(name: name + ".npy", data: a.encoded()) }
    try writeFileAtomically(zip.bytes(), to: path)
  }
}

/// Swift scalars with an exact `.npy` dtype.
public protocol NpyScalar { static var npyKind: NpyArray.Kind { get } }
extension UInt8: NpyScalar { public static var npyKind: NpyArray.Kind { .uint8 } }
extension UInt16: NpyScalar { public static var npyKind: NpyArray.Kind { .uint16 } }
extension Int32: NpyScalar { public static var npyKind: NpyArray.Kind { .int32 } }
extension Int64: NpyScalar { public static var npyKind: NpyArray.Kind { .int64 } }
extension Float: NpyScalar { public static var npyKind: NpyArray.Kind { .float32 } }
extension Double: NpyScalar { public static var npyKind: NpyArray.Kind { .float64 } }

extension String {
  func trimming(chars: String) -> String {
    let set = Set(chars)
    var s = Substring(self)
    while let f = s.first, set.contains(f) { s = s.dropFirst() }
    while let l = s.last, set.contains(l) { s = s.dropLast() }
    return String(s)
  }
}
