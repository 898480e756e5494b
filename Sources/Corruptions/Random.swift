import Foundation
import Datasets

/// Seeded draws for the corruption engine (SplitMix64 underneath, so every output is a function
/// of the seed).
public struct CorruptionRandom {
  var g: SplitMix64
  var spare: Double?

  public init(seed: UInt64, stream: UInt64) { g = SplitMix64(seed: seed, stream: stream) }

  /// Uniform in [0, 1).
  public mutating func uniform() -> Double { Double(g.next() >> 11) * 0x1p-53 }

  public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

  /// Uniform integer in lo..<hi.
  public mutating func integer(_ lo: Int, _ hi: Int) -> Int { lo + g.below(hi - lo) }

  /// Standard normal (Box-Muller, both values used).
  public mutating func normal() -> Double {
    if let s = spare {
      spare = nil
      return s
    }
    var u = uniform()
    while u <= 0 { u = uniform() }
    let v = uniform()
    let r = (-2 * log(u)).squareRoot()
    spare = r * sin(2 * Double.pi * v)
    return r * cos(2 * Double.pi * v)
  }

  public mutating func normal(mean: Double, std: Double) -> Double { mean + std * normal() }

  /// Poisson with mean lambda: multiplication method below 30, Hörmann's PTRS above.
  public mutating func poisson(_ lambda: Double) -> Double {
    if lambda <= 0 { return 0 }
    if lambda < 30 {
      let limit = exp(-lambda)
      var k = 0.0
      var p = uniform()
      while p > limit {
        k += 1
        p *= uniform()
      }
      return k
    }
    let slam = lambda.squareRoot()
    let loglam = log(lambda)
    let b = 0.931 + 2.53 * slam
    let a = -0.059 + 0.02483 * b
    let invalpha = 1.1239 + 1.1328 / (b - 3.4)
    let vr = 0.9277 - 3.6224 / (b - 2)
    while true {
      let u = uniform() - 0.5
      let v = uniform()
      let us = 0.5 - abs(u)
      let k = floor((2 * a / us + b) * u + lambda + 0.43)
      if us >= 0.07 && v <= vr { return k }
      if k < 0 || (us < 0.013 && v > us) { continue }
      if log(v) + log(invalpha) - log(a / (us * us) + b) <= -lambda + k * loglam - lgamma(k + 1) { return k }
    }
  }
}
