import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Accuracy and confidence of a classifier on the full images of a run, on their k% backward-
/// selection subsets and on k% random subsets of the same images (the paper's section 4.1 and
/// Table 1's "evaluate on" rows), and the confidence drop f(x) − f(subset) for the class predicted
/// on the full image (section 4.1: negative means more confident on the subset).
public struct SubsetEvaluation: Codable, Sendable {
  public struct Row: Codable, Sendable {
    /// "full images", "5% backward selection", "5% random".
    public var kind: String
    public var images: Int
    /// Against the true labels.
    public var accuracy: Double
    /// Mean probability of the class predicted on these inputs.
    public var meanConfidence: Double
    /// Share of images whose prediction equals the prediction on the full image.
    public var agreement: Double
    /// Mean of f(x) − f(input) for the class predicted on the full image, and its sample std.
    public var confidenceDrop: Double
    public var confidenceDropStd: Double
    /// The class predicted most often on these inputs, its name, and the share of images it takes
    /// (random subsets often collapse to one class: their "accuracy" is then that class's share
    /// of the images). nil in results written before.
    public var commonestPrediction: Int?
    public var commonestClass: String?
    public var commonestShare: Double?
  }

  public var fraction: Double
  public var randomSeed: UInt64
  public var rows: [Row]

  public init(
    classifier: any Classifier, data: ImageDataset, records: [ImageRecord], fraction: Double, randomSeed: UInt64,
    device: Device = .cpu
  ) throws {
    let positions = records.map(\.position)
    let base = data.subset(positions)
    let p = base.plane
    let k = Swift.min(p, Int((fraction * Double(p)).rounded(.up)))
    let pct = fmt(fraction * 100, digits: fraction * 100 == (fraction * 100).rounded() ? 0 : 1)
    var full = base
    full.masks = nil
    var bs = base
    bs.masks = records.flatMap { maskBytes($0.subset(fraction: fraction), p) }
    var random = base
    random.masks = records.flatMap {
      maskBytes(PixelSubsets.randomPixels(count: k, of: p, seed: randomSeed, sourceIndex: $0.sourceIndex), p)
    }
    var rows: [Row] = []
    var fullPredicted: [Int] = []
    for (kind, d) in [("full images", full), ("\(pct)% backward selection", bs), ("\(pct)% random", random)] {
      let probs = try predictProbabilities(classifier, on: d, device: device, progressLabel: nil)
      let report = ClassificationReport(probabilities: probs, labels: d.labels, classNames: classifier.info.classNames)
      if fullPredicted.isEmpty { fullPredicted = report.predictions }
      let drops = zip(records, probs).map { r, row in Double(r.confidence) - Double(row[r.predicted]) }
      let (dm, ds) = meanStd(drops)
      let counts = Dictionary(report.predictions.map { ($0, 1) }, uniquingKeysWith: +)
      // The most frequent class, the lowest index among equals.
      let commonest = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }
      rows.append(
        Row(
          kind: kind, images: d.count, accuracy: report.accuracy, meanConfidence: report.meanConfidence,
          agreement: mean(zip(report.predictions, fullPredicted).map { $0 == $1 ? 1 : 0 }), confidenceDrop: dm,
          confidenceDropStd: ds, commonestPrediction: commonest?.key,
          commonestClass: commonest.flatMap {
            classifier.info.classNames.indices.contains($0.key) ? classifier.info.classNames[$0.key] : nil
          },
          commonestShare: commonest.map { Double($0.value) / Double(Swift.max(1, d.count)) }))
    }
    self.fraction = fraction
    self.randomSeed = randomSeed
    self.rows = rows
  }

  public var csv: String {
    "evaluated_on,images,accuracy,mean_confidence,agreement_with_full,confidence_drop_mean,confidence_drop_std,commonest_class,commonest_share\n"
      + rows.map {
        "\($0.kind),\($0.images),\($0.accuracy),\($0.meanConfidence),\($0.agreement),\($0.confidenceDrop),\($0.confidenceDropStd),\($0.commonestClass ?? ""),\($0.commonestShare.map { String($0) } ?? "")"
      }
      .joined(separator: "\n") + "\n"
  }
}
