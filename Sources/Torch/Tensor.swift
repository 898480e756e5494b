import Base
import CTorch

/// An n-dimensional array owned by libtorch.
///
/// The handle is freed in `deinit`. Operations return new tensors; the few that change a tensor
/// in place end in an underscore (`copy_`, `fill_`, `add_`). Every operation throws `TorchError`
/// with libtorch's message when libtorch rejects it (for example mismatched shapes).
public final class Tensor: @unchecked Sendable {
  let handle: OpaquePointer

  /// Takes ownership of a handle returned by the shim.
  init(owning handle: OpaquePointer) { self.handle = handle }

  deinit { ot_tensor_free(handle) }

  /// Number of tensor handles alive in this process (for leak tests).
  public static var liveCount: Int { Int(ot_live_tensors()) }

  /// Handles created minus handles freed on the calling thread; lets a synchronous test prove it
  /// leaks nothing while other tests run in parallel.
  public static var liveCountOnThisThread: Int { Int(ot_live_tensors_thread()) }

  // MARK: creation

  /// A tensor holding a copy of `values`, laid out in C order with the given shape.
  public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]) throws(TorchError) {
    let count = shape.reduce(1, *)
    guard count == values.count, shape.allSatisfy({ $0 >= 0 }) else {
      throw TorchError("shape \(shape) needs \(count) values, got \(values.count)")
    }
    let dims = shape.map(Int64.init)
    let h = values.withUnsafeBytes { buf in
      ot_tensor_from_blob(buf.baseAddress, dims, Int32(dims.count), T.dtype.rawValue)
    }
    guard let h else { throw TorchError.last() }
    self.init(owning: h)
  }

  /// A tensor of `dtype` holding a copy of raw little-endian bytes in C order.
  public convenience init(bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) throws(TorchError) {
    guard let needed = checkedByteCount(shape: shape, elementSize: dtype.byteSize), needed == bytes.count else {
      throw TorchError("shape \(shape) of \(dtype) does not match the \(bytes.count) bytes given")
    }
    let dims = shape.map(Int64.init)
    guard let h = ot_tensor_from_blob(bytes.baseAddress, dims, Int32(dims.count), dtype.rawValue) else {
      throw TorchError.last()
    }
    self.init(owning: h)
  }

  /// A 0-dimensional tensor.
  public convenience init(scalar value: Double, dtype: DType = .float32) throws(TorchError) {
    guard let h = ot_tensor_scalar(value, dtype.rawValue) else { throw TorchError.last() }
    self.init(owning: h)
  }

  public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws(TorchError) -> Tensor {
    let dims = shape.map(Int64.init)
    return try owned(ot_tensor_zeros(dims, Int32(dims.count), dtype.rawValue, device.code))
  }

  public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws(TorchError) -> Tensor {
    let dims = shape.map(Int64.init)
    return try owned(ot_tensor_ones(dims, Int32(dims.count), dtype.rawValue, device.code))
  }

  public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu)
    throws(TorchError) -> Tensor
  {
    let dims = shape.map(Int64.init)
    return try owned(ot_tensor_full(dims, Int32(dims.count), value, dtype.rawValue, device.code))
  }

  /// Standard normal samples from `generator`, else from libtorch's default generator (seed it with
  /// `Runtime.manualSeed`).
  public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil)
    throws(TorchError) -> Tensor
  {
    if let generator { return try generator.draw(normal: true, shape, dtype: dtype, device: device) }
    let dims = shape.map(Int64.init)
    return try owned(ot_tensor_randn(dims, Int32(dims.count), dtype.rawValue, device.code))
  }

  /// Uniform samples in [0, 1), from `generator` when given.
  public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil)
    throws(TorchError) -> Tensor
  {
    if let generator { return try generator.draw(normal: false, shape, dtype: dtype, device: device) }
    let dims = shape.map(Int64.init)
    return try owned(ot_tensor_rand(dims, Int32(dims.count), dtype.rawValue, device.code))
  }

  /// Uniform int64 samples in [low, high).
  public static func randint(_ low: Int, _ high: Int, _ shape: [Int], device: Device = .cpu) throws(TorchError) -> Tensor {
    let dims = shape.map(Int64.init)
    return try owned(ot_tensor_randint(Int64(low), Int64(high), dims, Int32(dims.count), device.code))
  }

  public static func arange(_ start: Int, _ end: Int, step: Int = 1, dtype: DType = .int64, device: Device = .cpu)
    throws(TorchError) -> Tensor
  {
    try owned(ot_tensor_arange(Int64(start), Int64(end), Int64(step), dtype.rawValue, device.code))
  }

  // MARK: metadata

  public var shape: [Int] {
    let n = Int(ot_tensor_ndim(handle))
    var dims = [Int64](repeating: 0, count: Swift.max(n, 0))
    _ = ot_tensor_shape(handle, &dims)
    return dims.map(Int.init)
  }

  public var strides: [Int] {
    let n = Int(ot_tensor_ndim(handle))
    var dims = [Int64](repeating: 0, count: Swift.max(n, 0))
    _ = ot_tensor_strides(handle, &dims)
    return dims.map(Int.init)
  }

  public var rank: Int { Int(ot_tensor_ndim(handle)) }

  public var count: Int { Int(ot_tensor_numel(handle)) }

  public var dtype: DType {
    // A tensor created by this module always has one of the DType codes.
    DType(rawValue: ot_tensor_dtype(handle)) ?? .float32
  }

  public var device: Device { Device(code: ot_tensor_device(handle)) }

  public var isContiguous: Bool { ot_tensor_is_contiguous(handle) == 1 }

  // MARK: export

  /// The elements in C order as a Swift array. `T` must match `dtype`.
  public func scalars<T: TensorScalar>(as type: T.Type = T.self) throws(TorchError) -> [T] {
    guard T.dtype == dtype else { throw TorchError("tensor is \(dtype), asked for \(T.dtype)") }
    let n = count
    var status: Int32 = 0
    // Every TensorScalar is trivially copyable; fill through raw bytes.
    let out = [T](unsafeUninitializedCapacity: n) { buf, initialized in
      status = ot_tensor_copy_to(handle, UnsafeMutableRawPointer(buf.baseAddress), Int64(n * T.dtype.byteSize))
      initialized = status < 0 ? 0 : n
    }
    try checked(status)
    return out
  }

  /// Elements converted to Float (any dtype).
  public func floats() throws(TorchError) -> [Float] {
    try to(.float32).scalars(as: Float.self)
  }

  /// Elements converted to Int (any dtype).
  public func ints() throws(TorchError) -> [Int] {
    try to(.int64).scalars(as: Int64.self).map(Int.init)
  }

  /// Raw bytes in C order.
  public func bytes() throws(TorchError) -> [UInt8] {
    let n = count * dtype.byteSize
    var status: Int32 = 0
    let out = [UInt8](unsafeUninitializedCapacity: n) { buf, initialized in
      status = ot_tensor_copy_to(handle, UnsafeMutableRawPointer(buf.baseAddress), Int64(n))
      initialized = status < 0 ? 0 : n
    }
    try checked(status)
    return out
  }

  /// The value of a one-element tensor.
  public func item() throws(TorchError) -> Double {
    let v = ot_tensor_item(handle)
    if v.isNaN, let e = ot_last_error() {
      let message = String(cString: e)
      ot_clear_error()
      throw TorchError(message)
    }
    return v
  }

  /// Borrowed pointer to the storage of a contiguous CPU tensor, valid inside `body`.
  public func withUnsafeMutableRawPointer<R>(_ body: (UnsafeMutableRawPointer) throws -> R) throws -> R {
    guard let p = ot_tensor_data_ptr(handle) else { throw TorchError.last() }
    return try withExtendedLifetime(self) { try body(p) }
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String { "Tensor(\(dtype), shape: \(shape), device: \(device))" }
}
