import Foundation

/// A mean with a two-sided confidence interval.
public struct Interval: Codable, Sendable, Equatable {
  public var estimate: Double
  public var lower: Double
  public var upper: Double

  public init(estimate: Double, lower: Double, upper: Double) {
    self.estimate = estimate
    self.lower = lower
    self.upper = upper
  }

  /// Half the width: estimate ± this.
  public var halfWidth: Double { (upper - lower) / 2 }

  /// The interval with its ends moved into `range` (what the quantity can be: a probability
  /// in [0, 1], a size at least 0).
  public func clamped(to range: ClosedRange<Double>) -> Interval {
    Interval(
      estimate: estimate, lower: Swift.min(Swift.max(lower, range.lowerBound), range.upperBound),
      upper: Swift.min(Swift.max(upper, range.lowerBound), range.upperBound))
  }

  public func clamped(to range: PartialRangeFrom<Double>) -> Interval {
    Interval(estimate: estimate, lower: Swift.max(lower, range.lowerBound), upper: Swift.max(upper, range.lowerBound))
  }
}

/// The mean of `xs` with Student's t confidence interval at `level` (default 95%):
/// mean ± t(1 − (1 − level)/2, n − 1) · s/√n, s the sample standard deviation. nil for fewer
/// than two values (no spread to estimate).
public func meanInterval(_ xs: [Double], level: Double = 0.95) -> Interval? {
  guard xs.count >= 2 else { return nil }
  let (m, s) = meanStd(xs)
  let h = studentTQuantile(1 - (1 - level) / 2, degreesOfFreedom: Double(xs.count - 1)) * s / Double(xs.count).squareRoot()
  return Interval(estimate: m, lower: m - h, upper: m + h)
}

/// The difference of the means of `a` and `b` (a − b) with Welch's confidence interval at `level`:
/// (ā − b̄) ± t(1 − (1 − level)/2, ν) · √(s_a²/n_a + s_b²/n_b), ν the Welch–Satterthwaite degrees
/// of freedom. nil when either group has fewer than two values or both have no spread.
public func differenceInterval(_ a: [Double], _ b: [Double], level: Double = 0.95) -> Interval? {
  guard a.count >= 2, b.count >= 2 else { return nil }
  let (ma, sa) = meanStd(a)
  let (mb, sb) = meanStd(b)
  let va = sa * sa / Double(a.count)
  let vb = sb * sb / Double(b.count)
  guard va + vb > 0 else { return nil }
  let df = (va + vb) * (va + vb) / (va * va / Double(a.count - 1) + vb * vb / Double(b.count - 1))
  let h = studentTQuantile(1 - (1 - level) / 2, degreesOfFreedom: df) * (va + vb).squareRoot()
  return Interval(estimate: ma - mb, lower: ma - mb - h, upper: ma - mb + h)
}

/// The CDF of Student's t distribution with `df` degrees of freedom, through the regularized
/// incomplete beta function: P(T ≤ t) = 1 − I_{df/(df+t²)}(df/2, 1/2) / 2 for t ≥ 0.
public func studentTCDF(_ t: Double, degreesOfFreedom df: Double) -> Double {
  let x = df / (df + t * t)
  let tail = 0.5 * regularizedIncompleteBeta(x, a: df / 2, b: 0.5)
  return t >= 0 ? 1 - tail : tail
}

/// The p-quantile of Student's t distribution (bisection on `studentTCDF`, to 1e-10).
public func studentTQuantile(_ p: Double, degreesOfFreedom df: Double) -> Double {
  precondition(p > 0 && p < 1 && df > 0, "quantile needs 0 < p < 1 and df > 0")
  if p == 0.5 { return 0 }
  var lo = -1.0
  var hi = 1.0
  while studentTCDF(lo, degreesOfFreedom: df) > p { lo *= 2 }
  while studentTCDF(hi, degreesOfFreedom: df) < p { hi *= 2 }
  for _ in 0..<200 {
    let mid = (lo + hi) / 2
    if studentTCDF(mid, degreesOfFreedom: df) < p { lo = mid } else { hi = mid }
    if hi - lo < 1e-10 { break }
  }
  return (lo + hi) / 2
}

/// I_x(a, b), by the continued fraction of Numerical Recipes (betacf), using the symmetry
/// I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
public func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
  if x <= 0 { return 0 }
  if x >= 1 { return 1 }
  let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
  let logPowers: Double = a * log(x) + b * log(1 - x)
  let logFront = logPowers - logBeta
  if x < (a + 1) / (a + b + 2) {
    return exp(logFront) * betaContinuedFraction(x, a: a, b: b) / a
  }
  return 1 - exp(logFront) * betaContinuedFraction(1 - x, a: b, b: a) / b
}

func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
  let tiny = 1e-300
  let qab = a + b
  let qap = a + 1
  let qam = a - 1
  var c = 1.0
  var d = 1 - qab * x / qap
  if abs(d) < tiny { d = tiny }
  d = 1 / d
  var h = d
  for m in 1...300 {
    let m = Double(m)
    let m2 = 2 * m
    var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
    d = 1 + aa * d
    if abs(d) < tiny { d = tiny }
    c = 1 + aa / c
    if abs(c) < tiny { c = tiny }
    d = 1 / d
    h *= d * c
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
    d = 1 + aa * d
    if abs(d) < tiny { d = tiny }
    c = 1 + aa / c
    if abs(c) < tiny { c = tiny }
    d = 1 / d
    let delta = d * c
    h *= delta
    if abs(delta - 1) < 1e-15 { break }
  }
  return h
}
