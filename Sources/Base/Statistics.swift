/// Plain statistics on Swift arrays, shared by the analyses, the study report and the CLI.

/// The arithmetic mean (0 for no values).
public func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for fewer than two values).
public func meanStd(_ xs: [Double]) -> (mean: Double, std: Double) {
  guard !xs.isEmpty else { return (0, 0) }
  let m = mean(xs)
  guard xs.count > 1 else { return (m, 0) }
  let v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)
  return (m, v.squareRoot())
}

/// The median: the middle value, or the mean of the two middle values for an even count (nil for
/// no values).
public func median(_ xs: [Double]) -> Double? {
  guard !xs.isEmpty else { return nil }
  let s = xs.sorted()
  let mid = s.count / 2
  return s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/// The index of the largest value, the first one on ties (nil for no values): the predicted class
/// of a probability row.
public func argmax<C: Collection>(_ values: C) -> C.Index? where C.Element: Comparable {
  var best: C.Index?
  for i in values.indices where best.map({ values[i] > values[$0] }) ?? true { best = i }
  return best
}
