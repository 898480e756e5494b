import Base
import Datasets
import Foundation
import Models
import Torch

/// Accuracy reports of one or several models on one dataset: each model, their ensemble (mean of
/// logits, as in the paper) when there are several, and mean ± sample std of the single models'
/// accuracy (the form of the paper's Table 1).
public struct ModelEvaluation {
  public let dataDescription: String
  public let imageCount: Int
  /// (name, report) per model, then ("ensemble", report) for several models.
  public let entries: [(name: String, report: ClassificationReport)]

  public init(
    networks: [(name: String, network: any Classifier)], data: ImageDataset, batchSize: Int = 256, device: Device = .cpu,
    progress: Bool = true
  ) throws {
    var entries: [(name: String, report: ClassificationReport)] = []
    func evaluate(_ name: String, _ classifier: any Classifier) throws {
      let probs = try predictProbabilities(
        classifier, on: data, batchSize: batchSize, device: device, progressLabel: progress ? "eval \(name)" : nil)
      entries.append(
        (name, ClassificationReport(probabilities: probs, labels: data.labels, classNames: classifier.info.classNames)))
    }
    for (name, net) in networks { try evaluate(name, net) }
    if networks.count > 1 { try evaluate("ensemble", try Ensemble(networks.map(\.network))) }
    self.entries = entries
    dataDescription = data.description
    imageCount = data.count
  }

  /// Mean ± sample std of the single models' accuracy in percent (nil for one model).
  public var replicates: (mean: Double, std: Double)? {
    let singles = entries.filter { $0.name != "ensemble" }.map { $0.report.accuracy * 100 }
    return singles.count > 1 ? meanStd(singles) : nil
  }

  /// The text `overinterp eval` prints; `confusion` adds each confusion matrix.
  public func lines(confusion: Bool) -> [String] {
    var out = ["data: \(dataDescription), \(imageCount) images"]
    for (name, r) in entries {
      out += ["", "model: \(name)", "  accuracy         \(pct(r.accuracy))  (\(r.correct)/\(r.count))"]
      if r.classNames.count > 10 { out.append("  top-5 accuracy   \(pct(r.top5Accuracy))  (\(r.top5Correct)/\(r.count))") }
      out += ["  mean confidence  \(pct(r.meanConfidence))", "  per class:"]
      for (k, acc) in r.perClassAccuracy.enumerated() {
        out.append("    \(pad(r.classNames[k], 12)) \(acc.map(pct) ?? "   n/a")  (\(r.confusion[k].reduce(0, +)) images)")
      }
      if confusion {
        out.append("  confusion (rows: true class, columns: predicted):")
        out.append("    " + pad("", 12) + r.classNames.indices.map { pad(String($0), 6, left: true) }.joined())
        for (k, row) in r.confusion.enumerated() {
          out.append("    " + pad(r.classNames[k], 12) + row.map { pad(String($0), 6, left: true) }.joined())
        }
      }
    }
    if let summary = replicates {
      let n = entries.filter { $0.name != "ensemble" }.count
      out += ["", "replicates: accuracy \(fmt(summary.mean)) ± \(fmt(summary.std)) % (mean ± sample std over \(n) models)"]
    }
    return out
  }

  /// The same as a JSON object.
  public var json: [String: Any] {
    let models: [[String: Any]] = entries.map { name, r in
      [
        "model": name, "accuracy": r.accuracy, "correct": r.correct, "count": r.count, "mean_confidence": r.meanConfidence,
        "top5_accuracy": r.top5Accuracy, "per_class_accuracy": r.perClassAccuracy.map { $0 as Any? ?? NSNull() },
        "confusion": r.confusion, "class_names": r.classNames,
      ]
    }
    var root: [String: Any] = ["data": dataDescription, "images": imageCount, "models": models]
    if let summary = replicates { root["replicates"] = ["accuracy_mean": summary.mean / 100, "accuracy_std": summary.std / 100] }
    return root
  }
}

/// "92.10 ± 0.31": mean ± sample std of replicate results.
public func replicateSummary(_ values: [Double]) -> String {
  let (m, s) = meanStd(values)
  return "\(fmt(m)) ± \(fmt(s))"
}

/// A JSON object as pretty-printed text with sorted keys (for `--json` output).
public func jsonText(_ object: Any) throws -> String {
  let bytes = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
  return String(decoding: bytes, as: UTF8.self)
}
