import Base
import SIS

/// One point of the SIS-size-against-threshold curve (the paper's Figure 6): the SIS sizes of the
/// images that have a SIS at τ (f(x) ≥ τ), their mean with a 95% t-interval.
public struct SISSizePoint: Codable, Sendable, Equatable {
  public var threshold: Double
  /// Images with a SIS at this threshold.
  public var images: Int
  /// Mean SIS size in features (nil without images); the interval (clipped at 0) is nil for
  /// fewer than two.
  public var mean: Double?
  public var interval: Interval?
  /// Images whose SIS is empty: the fully masked image alone keeps f ≥ τ for their class (nil in
  /// results written before it was counted).
  public var empty: Int?
  /// The mean and interval over the images with a non-empty SIS.
  public var meanNonEmpty: Double?
  public var intervalNonEmpty: Interval?
}

/// SIS size against threshold over stored records, one point per threshold.
public func sisSizeCurve(_ records: [ImageRecord], thresholds: [Double], level: Double = 0.95) -> [SISSizePoint] {
  thresholds.map { tau in
    let sizes = records.compactMap { $0.sis(at: tau).features.map { Double($0.count) } }
    let nonEmpty = sizes.filter { $0 > 0 }
    return SISSizePoint(
      threshold: tau, images: sizes.count, mean: sizes.isEmpty ? nil : Base.mean(sizes),
      interval: meanInterval(sizes, level: level)?.clamped(to: 0...), empty: sizes.count - nonEmpty.count,
      meanNonEmpty: nonEmpty.isEmpty ? nil : Base.mean(nonEmpty),
      intervalNonEmpty: meanInterval(nonEmpty, level: level)?.clamped(to: 0...))
  }
}

/// Correctly against incorrectly classified images at one threshold (the paper's Figure 5 and
/// Figure S3): mean SIS sizes of each group among the images with a SIS at τ, the percentage
/// increase of the correct group's mean over the incorrect one's with Fieller's 95% interval for
/// the ratio of the means (unbounded when the misclassified mean is not distinguishable from 0),
/// the difference in means with Welch's interval, the Mann-Whitney test of the sizes, the empty
/// SIS of each group, and each group's mean confidence f(x) with its t-interval (clipped to
/// [0, 1]). The thresholds test nested sets of the same images, so the points are not
/// independent tests.
public struct CorrectIncorrectPoint: Codable, Sendable, Equatable {
  public var threshold: Double
  public var correct: Int
  public var incorrect: Int
  public var correctMeanSize: Double?
  public var incorrectMeanSize: Double?
  /// 100 · (mean_correct − mean_incorrect) / mean_incorrect.
  public var percentIncrease: Double?
  /// mean_correct − mean_incorrect, in features, with Welch's interval.
  public var difference: Interval?
  /// 100 · (ρ − 1) over Fieller's interval for ρ = mean_correct / mean_incorrect; nil when that
  /// interval is unbounded (`percentIncreaseUnbounded`) or a group has fewer than two images.
  /// Results written before Fieller's interval divided Welch's interval by the incorrect mean.
  public var percentIncreaseInterval: Interval?
  /// Fieller's interval for the ratio is unbounded: the data allow any increase.
  public var percentIncreaseUnbounded: Bool?
  /// Two-sided p-value of the Mann-Whitney U test of the two groups' sizes.
  public var mannWhitneyP: Double?
  /// Images of each group whose SIS is empty.
  public var correctEmpty: Int?
  public var incorrectEmpty: Int?
  public var correctConfidence: Interval?
  public var incorrectConfidence: Interval?
}

/// Correct against incorrect images over stored records (a record is correct when its predicted
/// class is its label), one point per threshold.
/// `withoutEmpty`: leave out the images whose SIS is empty.
public func correctIncorrect(
  _ records: [ImageRecord], thresholds: [Double], level: Double = 0.95, withoutEmpty: Bool = false
) -> [CorrectIncorrectPoint] {
  thresholds.map { tau in
    var sizes: [Bool: [Double]] = [true: [], false: []]
    var confidences: [Bool: [Double]] = [true: [], false: []]
    for r in records {
      guard let s = r.sis(at: tau).features, !(withoutEmpty && s.isEmpty) else { continue }
      let ok = r.predicted == r.label
      sizes[ok, default: []].append(Double(s.count))
      confidences[ok, default: []].append(Double(r.confidence))
    }
    let c = sizes[true] ?? []
    let i = sizes[false] ?? []
    let mc = c.isEmpty ? nil : mean(c)
    let mi = i.isEmpty ? nil : mean(i)
    var increase: Double?
    if let mc, let mi, mi > 0 { increase = 100 * (mc - mi) / mi }
    let diff = differenceInterval(c, i, level: level)
    let ratio = ratioInterval(c, i, level: level)
    var pctInterval: Interval?
    if let ratio, let lower = ratio.lower, let upper = ratio.upper {
      pctInterval = Interval(estimate: 100 * (ratio.estimate - 1), lower: 100 * (lower - 1), upper: 100 * (upper - 1))
    }
    return CorrectIncorrectPoint(
      threshold: tau, correct: c.count, incorrect: i.count, correctMeanSize: mc, incorrectMeanSize: mi, percentIncrease: increase,
      difference: diff, percentIncreaseInterval: pctInterval, percentIncreaseUnbounded: ratio.map { !$0.bounded },
      mannWhitneyP: mannWhitney(c, i)?.p, correctEmpty: c.filter { $0 == 0 }.count, incorrectEmpty: i.filter { $0 == 0 }.count,
      correctConfidence: meanInterval(confidences[true] ?? [], level: level)?.clamped(to: 0...1),
      incorrectConfidence: meanInterval(confidences[false] ?? [], level: level)?.clamped(to: 0...1))
  }
}

/// One audited model against another on the same images at one threshold (the paper's section
/// 4.6: an ensemble's SIS against each member's), paired per image: the images both models hold
/// with f ≥ τ, the mean of the per-image differences in SIS size (first − second) with its 95%
/// t-interval, how many images each has the larger SIS on, and the exact sign test.
public struct PairedSISPoint: Codable, Sendable, Equatable {
  public var threshold: Double
  /// Images with a SIS at τ under both models.
  public var images: Int
  public var meanDifference: Double?
  public var interval: Interval?
  public var firstLarger: Int
  public var secondLarger: Int
  /// Two-sided sign test of `firstLarger` against `secondLarger` (ties left out).
  public var signTestP: Double
}

/// Paired SIS sizes of two runs over the same source images (matched by source index).
public func pairedSISDifference(
  _ first: [ImageRecord], _ second: [ImageRecord], thresholds: [Double], level: Double = 0.95
) -> [PairedSISPoint] {
  let other = Dictionary(second.map { ($0.sourceIndex, $0) }, uniquingKeysWith: { a, _ in a })
  let pairs = first.compactMap { r in other[r.sourceIndex].map { (r, $0) } }
  return thresholds.map { tau in
    let diffs = pairs.compactMap { a, b -> Double? in
      guard let x = a.sis(at: tau).features, let y = b.sis(at: tau).features else { return nil }
      return Double(x.count - y.count)
    }
    let (up, down) = (diffs.filter { $0 > 0 }.count, diffs.filter { $0 < 0 }.count)
    return PairedSISPoint(
      threshold: tau, images: diffs.count, meanDifference: diffs.isEmpty ? nil : mean(diffs),
      interval: meanInterval(diffs, level: level), firstLarger: up, secondLarger: down,
      signTestP: Base.signTestP(up, of: up + down))
  }
}
