/// SplitMix64: a small, fast, seedable generator whose whole state is one UInt64, so a run can
/// derive an independent stream per epoch from (seed, epoch) and resume exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public var state: UInt64

  public init(seed: UInt64) { state = seed }

  /// A generator for stream `stream` of `seed` (e.g. one per epoch), decorrelated from the others.
  public init(seed: UInt64, stream: UInt64) {
    var g = SplitMix64(seed: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
    state = g.next()
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in 0..<n.
  public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
