import Foundation

/// A ratio of two means with Fieller's confidence interval, which may be unbounded.
public struct RatioInterval: Codable, Sendable, Equatable {
  /// mean(a) / mean(b).
  public var estimate: Double
  /// The interval's ends; nil when the set of ratios the data allow is unbounded (the
  /// denominator's mean is not distinguishable from 0 at this level).
  public var lower: Double?
  public var upper: Double?

  public init(estimate: Double, lower: Double?, upper: Double?) {
    self.estimate = estimate
    self.lower = lower
    self.upper = upper
  }

  public var bounded: Bool { lower != nil && upper != nil }
}

/// The ratio mean(a) / mean(b) of two independent samples with Fieller's interval at `level`:
/// the ratios ρ with (ā − ρ b̄)² ≤ t² (v_a + ρ² v_b), v = s²/n, t at Welch's degrees of freedom.
/// It is bounded exactly when b̄² > t² v_b (b̄ is significantly away from 0); otherwise the
/// ends are nil. Ratios below `floor` (for non-negative data, 0) are impossible and are clipped.
/// nil when a group has fewer than two values or b̄ is 0.
public func ratioInterval(_ a: [Double], _ b: [Double], level: Double = 0.95, floor: Double? = 0) -> RatioInterval? {
  guard a.count >= 2, b.count >= 2 else { return nil }
  let (ma, sa) = meanStd(a)
  let (mb, sb) = meanStd(b)
  guard mb != 0 else { return nil }
  let va = sa * sa / Double(a.count)
  let vb = sb * sb / Double(b.count)
  let estimate = ma / mb
  guard va + vb > 0 else { return RatioInterval(estimate: estimate, lower: estimate, upper: estimate) }
  let df = (va + vb) * (va + vb) / (va * va / Double(a.count - 1) + vb * vb / Double(b.count - 1))
  let t = studentTQuantile(1 - (1 - level) / 2, degreesOfFreedom: df)
  let t2 = t * t
  // (b̄² − t² v_b) ρ² − 2 ā b̄ ρ + (ā² − t² v_a) ≤ 0
  let qa = mb * mb - t2 * vb
  guard qa > 0 else { return RatioInterval(estimate: estimate, lower: nil, upper: nil) }
  let qb = -2 * ma * mb
  let qc = ma * ma - t2 * va
  let root = Swift.max(0, qb * qb - 4 * qa * qc).squareRoot()
  var lower = (-qb - root) / (2 * qa)
  var upper = (-qb + root) / (2 * qa)
  if let floor {
    lower = Swift.max(lower, floor)
    upper = Swift.max(upper, floor)
  }
  return RatioInterval(estimate: estimate, lower: lower, upper: upper)
}

/// The Mann-Whitney U test of two independent samples (the Wilcoxon rank-sum test): U of `a`
/// (pairs (x, y) with x > y, ties counting one half), and the two-sided p-value of the normal
/// approximation with the tie correction and a continuity correction of 1/2 (as scipy's
/// `mannwhitneyu(..., method="asymptotic")`). nil when a group is empty.
public func mannWhitney(_ a: [Double], _ b: [Double]) -> (u: Double, p: Double)? {
  guard !a.isEmpty, !b.isEmpty else { return nil }
  let (n1, n2) = (Double(a.count), Double(b.count))
  let all = (a.map { ($0, 0) } + b.map { ($0, 1) }).sorted { $0.0 < $1.0 }
  var ranks = [Double](repeating: 0, count: all.count)
  var tieTerm = 0.0
  var i = 0
  while i < all.count {
    var j = i
    while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
    let rank = Double(i + j) / 2 + 1
    for k in i...j { ranks[k] = rank }
    let t = Double(j - i + 1)
    tieTerm += t * t * t - t
    i = j + 1
  }
  let r1 = zip(all, ranks).filter { $0.0.1 == 0 }.reduce(0) { $0 + $1.1 }
  let u = r1 - n1 * (n1 + 1) / 2
  let mu = n1 * n2 / 2
  let n = n1 + n2
  let variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
  guard variance > 0 else { return (u, 1) }
  let z = (Swift.abs(u - mu) - 0.5) / variance.squareRoot()
  return (u, Swift.min(1, erfc(Swift.max(z, 0) / 2.0.squareRoot())))
}

/// The two-sided exact sign test: the probability, under a fair coin, of a split of `n` signs at
/// least as uneven as `k` of one sign (ties are left out before). 1 when `n` is 0.
public func signTestP(_ k: Int, of n: Int) -> Double {
  guard n > 0 else { return 1 }
  let extreme = Swift.min(k, n - k)
  func logChoose(_ n: Int, _ i: Int) -> Double { lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1)) }
  let tail = (0...extreme).reduce(0.0) { $0 + exp(logChoose(n, $1) - Double(n) * log(2.0)) }
  return Swift.min(1, 2 * tail)
}
