import Base
import SIS

/// One point of the SIS-size-against-threshold curve (the paper's Figure 6): the SIS sizes of the
/// images that have a SIS at τ (f(x) ≥ τ), their mean with a 95% t-interval.
public struct SISSizePoint: Codable, Sendable, Equatable {
  public var threshold: Double
  /// Images with a SIS at this threshold.
  public var images: Int
  /// Mean SIS size in features (nil without images); the interval is nil for fewer than two.
  public var mean: Double?
  public var interval: Interval?
}

/// SIS size against threshold over stored records, one point per threshold.
public func sisSizeCurve(_ records: [ImageRecord], thresholds: [Double], level: Double = 0.95) -> [SISSizePoint] {
  thresholds.map { tau in
    let sizes = records.compactMap { $0.sis(at: tau).features.map { Double($0.count) } }
    return SISSizePoint(
      threshold: tau, images: sizes.count, mean: sizes.isEmpty ? nil : Base.mean(sizes),
      interval: meanInterval(sizes, level: level))
  }
}

/// Correctly against incorrectly classified images at one threshold (the paper's Figure 5 and
/// Figure S3): mean SIS sizes of each group among the images with a SIS at τ, the percentage
/// increase of the correct group's mean over the incorrect one's, the difference in means with
/// Welch's 95% interval (also as percentages of the incorrect mean), and each group's mean
/// confidence f(x) with its t-interval.
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
  /// The same interval as percentages of the incorrect group's mean.
  public var percentIncreaseInterval: Interval?
  public var correctConfidence: Interval?
  public var incorrectConfidence: Interval?
}

/// Correct against incorrect images over stored records (a record is correct when its predicted
/// class is its label), one point per threshold.
public func correctIncorrect(_ records: [ImageRecord], thresholds: [Double], level: Double = 0.95) -> [CorrectIncorrectPoint] {
  thresholds.map { tau in
    var sizes: [Bool: [Double]] = [true: [], false: []]
    var confidences: [Bool: [Double]] = [true: [], false: []]
    for r in records {
      guard let s = r.sis(at: tau).features else { continue }
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
    var pctInterval: Interval?
    if let diff, let mi, mi > 0 {
      pctInterval = Interval(estimate: 100 * diff.estimate / mi, lower: 100 * diff.lower / mi, upper: 100 * diff.upper / mi)
    }
    return CorrectIncorrectPoint(
      threshold: tau, correct: c.count, incorrect: i.count, correctMeanSize: mc, incorrectMeanSize: mi, percentIncrease: increase,
      difference: diff, percentIncreaseInterval: pctInterval,
      correctConfidence: meanInterval(confidences[true] ?? [], level: level),
      incorrectConfidence: meanInterval(confidences[false] ?? [], level: level))
  }
}
