import CTorch

/// Element types the project uses. Raw values are the shim's dtype codes.
public enum DType: Int32, CaseIterable, Sendable, CustomStringConvertible {
  case uint8 = 0, int32 = 1, int64 = 2, float16 = 3, float32 = 4, float64 = 5, bfloat16 = 6, bool = 7

  public var byteSize: Int {
    switch self {
    case .uint8, .bool: return 1
    case .float16, .bfloat16: return 2
    case .int32, .float32: return 4
    case .int64, .float64: return 8
    }
  }

  public var isFloatingPoint: Bool {
    switch self {
    case .float16, .float32, .float64, .bfloat16: return true
    default: return false
    }
  }

  public var description: String {
    switch self {
    case .uint8: return "uint8"
    case .int32: return "int32"
    case .int64: return "int64"
    case .float16: return "float16"
    case .float32: return "float32"
    case .float64: return "float64"
    case .bfloat16: return "bfloat16"
    case .bool: return "bool"
    }
  }
}

/// Where a tensor lives. CUDA is available only when the linked libtorch was built with it.
public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
  case cpu
  case cuda(Int)

  var code: Int32 {
    switch self {
    case .cpu: return -1
    case .cuda(let i): return Int32(i)
    }
  }

  init(code: Int32) { self = code < 0 ? .cpu : .cuda(Int(code)) }

  public var description: String {
    switch self {
    case .cpu: return "cpu"
    case .cuda(let i): return "cuda:\(i)"
    }
  }

  /// Parses `cpu`, `cuda` or `cuda:N`.
  public init?(parsing s: String) {
    if s == "cpu" {
      self = .cpu
    } else if s == "cuda" {
      self = .cuda(0)
    } else if s.hasPrefix("cuda:"), let i = Int(s.dropFirst(5)), i >= 0 {
      self = .cuda(i)
    } else {
      return nil
    }
  }
}

/// Swift element types that map one-to-one onto a tensor dtype.
public protocol TensorScalar: Sendable {
  static var dtype: DType { get }
}

extension UInt8: TensorScalar { public static var dtype: DType { .uint8 } }
extension Int32: TensorScalar { public static var dtype: DType { .int32 } }
extension Int64: TensorScalar { public static var dtype: DType { .int64 } }
extension Float: TensorScalar { public static var dtype: DType { .float32 } }
extension Double: TensorScalar { public static var dtype: DType { .float64 } }
extension Bool: TensorScalar { public static var dtype: DType { .bool } }
#if arch(x86_64) || arch(arm64)
  @available(macOS 11.0, *)
  extension Float16: TensorScalar { public static var dtype: DType { .float16 } }
#endif
