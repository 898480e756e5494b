import Base
import Datasets
import Foundation
import SIS

extension ImageRecord {
  /// FindSIS at `threshold` on the stored removal order.
  public func sis(at threshold: Double) -> SISOutcome {
    findSIS(order: order, values: values, fullInput: confidence, threshold: Float(threshold))
  }

  /// f on the k% subset alone: the value recorded just before its first feature was masked (the
  /// full image's confidence when the subset is the whole order).
  public func confidenceOnSubset(fraction: Double) -> Double {
    let p = order.count
    let k = subset(fraction: fraction).count
    return p - k - 1 >= 0 ? Double(values[p - k - 1]) : Double(confidence)
  }
}

/// The SIS at one threshold (and optionally the k% subsets) of a stored run, with the statistics
/// `overinterp sis` prints: sizes, ties, the raster-order correlation, and the confidence drop on
/// the subsets (section 4.1).
public struct SISSummary: Sendable {
  public let threshold: Double
  public let fraction: Double?
  public let featureCount: Int
  /// What one tie-counting step is in the run ("1024 steps").
  public let steps: String
  /// Per record, in run order: the SIS, or nil where f(x) < threshold.
  public let sis: [[Int]?]
  /// Per record: the k% subset (empty without a fraction).
  public let subsets: [[Int]]
  public let sizes: [Int]
  public let exactTies: [Int]
  public let nearTies: [Int]
  /// Mean `rasterCorrelation` of the removal orders (pixel features only).
  public let rasterCorrelation: Double?
  /// f on each k% subset, and f(x) minus it.
  public let confidenceOnSubset: [Double]
  public let confidenceDrop: [Double]

  public init(records: [ImageRecord], manifest: RunManifest, threshold: Double, fraction: Double?) {
    self.threshold = threshold
    self.fraction = fraction
    featureCount = manifest.featureCount
    steps = manifest.stepsDescription
    sis = records.map { $0.sis(at: threshold).features }
    sizes = sis.compactMap { $0?.count }
    exactTies = records.map(\.exactTies)
    nearTies = records.map(\.nearTies)
    rasterCorrelation = manifest.features == "pixel" ? mean(records.map { Analysis.rasterCorrelation($0.order) }) : nil
    if let fraction {
      subsets = records.map { $0.subset(fraction: fraction) }
      confidenceOnSubset = records.map { $0.confidenceOnSubset(fraction: fraction) }
      confidenceDrop = zip(records, confidenceOnSubset).map { Double($0.confidence) - $1 }
    } else {
      subsets = records.map { _ in [] }
      confidenceOnSubset = []
      confidenceDrop = []
    }
  }

  /// One line per record: its SIS size (or why it has none) and ties.
  public func perImageLines(_ records: [ImageRecord]) -> [String] {
    zip(records, sis).map { r, s in
      let text =
        s.map { "SIS size \($0.count) (\(fmt(100 * Double($0.count) / Double(featureCount)))% of features)" }
        ?? "no SIS (f(x) = \(r.confidence) < \(threshold))"
      return "position \(r.position) (source index \(r.sourceIndex)) label \(r.label) predicted \(r.predicted) "
        + "f(x) \(fmt(Double(r.confidence), digits: 4)): \(text); ties \(r.exactTies) exact, \(r.nearTies) within 1e-6"
    }
  }

  /// The lines `overinterp sis` prints after its header.
  public var lines: [String] {
    let n = sis.count
    let p = featureCount
    var out = ["threshold \(threshold): \(sizes.count) image(s) with a SIS, \(n - sizes.count) with f(x) below the threshold"]
    if !sizes.isEmpty {
      let d = sizes.map(Double.init)
      let (m, sd) = meanStd(d)
      out.append(
        "SIS size: mean \(fmt(m)) ± \(fmt(sd)) features (\(fmt(100 * m / Double(p)))% of \(p)), median \(formatCount(median(d) ?? 0)), "
          + "min \(sizes.min() ?? 0), max \(sizes.max() ?? 0)")
    }
    out.append(
      "ties per image (best candidate equal to the runner-up): exact mean \(fmt(mean(exactTies.map(Double.init)))), "
        + "within 1e-6 mean \(fmt(mean(nearTies.map(Double.init)))) of \(steps); \(exactTies.filter { $0 > 0 }.count) image(s) with at least one exact tie"
    )
    if let rho = rasterCorrelation {
      out.append(
        "correlation of the removal order with raster order: mean \(fmt(rho, digits: 2)) (1: raster order; about 0 for an order unrelated to position)"
          + (rho > 0.5
            ? SettingNames.render(
              "; ties to the lowest index decided much of the order: compare with a {score} logprob run (overinterp compare)")
            : ""))
    }
    if let fraction {
      let k = subsets.first?.count ?? 0
      let (dm, dsd) = meanStd(confidenceDrop)
      out.append(
        "\(fmt(fraction * 100))% subsets (\(k) features each): mean f on the subset \(fmt(mean(confidenceOnSubset), digits: 4)); "
          + "confidence drop f(x) - f(subset) \(fmt(dm, digits: 4)) ± \(fmt(dsd, digits: 4)); "
          + "\(confidenceOnSubset.filter { $0 > 0.5 }.count)/\(n) keep the class with probability > 0.5")
    }
    return out
  }

  /// Sizes and masks as numpy arrays: `position`, `source_index`, `sis_size` (-1: no SIS),
  /// `sis_mask` and, with a fraction, `subset_mask` (images x features, 1 = kept).
  public func write(records: [ImageRecord], to path: String) throws {
    let n = records.count
    let p = featureCount
    var arrays: [(String, NpyArray)] = [
      ("position", NpyArray(records.map { Int64($0.position) }, shape: [n])),
      ("source_index", NpyArray(records.map { Int64($0.sourceIndex) }, shape: [n])),
      ("sis_size", NpyArray(sis.map { Int64($0?.count ?? -1) }, shape: [n])),
      ("sis_mask", NpyArray(sis.flatMap { maskBytes($0 ?? [], p) }, shape: [n, p])),
      ("threshold", NpyArray([threshold], shape: [1])),
    ]
    if let fraction {
      arrays.append(("subset_mask", NpyArray(subsets.flatMap { maskBytes($0, p) }, shape: [n, p])))
      arrays.append(("fraction", NpyArray([fraction], shape: [1])))
    }
    try Npz.write(arrays, to: path)
  }
}

/// A count that may be a half (the median of an even number of counts): "22" or "22.5".
func formatCount(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : fmt(x, digits: 1) }
