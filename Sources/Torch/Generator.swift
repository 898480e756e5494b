import CTorch

/// A private random stream (libtorch's CPU Mersenne twister). Seeded with `s` it yields what the
/// default generator yields after `Runtime.manualSeed(s)`, but draws made elsewhere in the process
/// (another thread, another test) cannot move it. Samples are drawn on the CPU and then moved, so a
/// seed gives the same numbers on every device.
public final class Generator: @unchecked Sendable {
  // libtorch locks the generator inside each draw, so one instance may be shared.
  let handle: ot_generator

  public init(seed: UInt64) throws(TorchError) {
    guard let h = ot_generator_new(seed) else { throw TorchError.last() }
    handle = h
  }

  deinit { ot_generator_free(handle) }

  /// The generator new layers draw their weights from (see `seeded(_:_:)`); nil: libtorch's default.
  @TaskLocal public static var current: Generator?

  /// Runs `body` with new layers drawing their initial weights from a fresh generator seeded with
  /// `seed`, so a network built inside is the same whatever else the process draws meanwhile.
  public static func seeded<T>(_ seed: UInt64, _ body: () throws -> T) throws -> T {
    try $current.withValue(try Generator(seed: seed)) { try body() }
  }

  func draw(normal: Bool, _ shape: [Int], dtype: DType, device: Device) throws(TorchError) -> Tensor {
    let dims = shape.map(Int64.init)
    return try owned(ot_tensor_random_from(handle, normal ? 1 : 0, dims, Int32(dims.count), dtype.rawValue, device.code))
  }
}
