import Analysis
import ArgumentParser
import Datasets
import Foundation
import Models
import Torch

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Accuracy, confidence, per-class accuracy and confusion matrix of a model or an ensemble.",
    discussion: """
      Several --model options evaluate each model and their ensemble (mean of logits). Models \
      whose names end in a replicate number are summarized as mean ± std across replicates.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var runtime: RuntimeOptions

  @Option(help: "Images per forward pass.")
  var batchSize: Int = 256

  @Flag(help: "Print one JSON object instead of tables.")
  var json = false

  @Flag(help: "Also print the confusion matrix.")
  var confusion = false

  func validate() throws {
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let data = try dataOptions.load()
    let paths = model.models.isEmpty ? ["default"] : model.models
    var entries: [(String, ClassificationReport)] = []
    var networks: [any Network] = []
    for path in paths {
      let net = try loadNetwork(path, arch: model.arch, normalization: model.normalization, device: device)
      networks.append(net)
      let probs = try predictProbabilities(net, on: data, batchSize: batchSize, device: device, progressLabel: "eval \(path)")
      entries.append((path, ClassificationReport(probabilities: probs, labels: data.labels, classNames: net.info.classNames)))
    }
    if networks.count > 1 {
      let ensemble = try Ensemble(networks)
      let probs = try predictProbabilities(ensemble, on: data, batchSize: batchSize, device: device, progressLabel: "eval ensemble")
      entries.append(("ensemble", ClassificationReport(probabilities: probs, labels: data.labels, classNames: ensemble.info.classNames)))
    }
    let singles = entries.filter { $0.0 != "ensemble" }.map { $0.1.accuracy * 100 }
    let summary = singles.count > 1 ? meanStd(singles) : nil
    if json {
      print(try jsonReport(entries, data: data, summary: summary))
    } else {
      printReport(entries, data: data, summary: summary)
    }
  }

  func printReport(_ entries: [(String, ClassificationReport)], data: ImageDataset, summary: (mean: Double, std: Double)?) {
    print("data: \(data.description), \(data.count) images")
    for (name, r) in entries {
      print("")
      print("model: \(name)")
      print("  accuracy         \(pct(r.accuracy))  (\(r.correct)/\(r.count))")
      print("  mean confidence  \(pct(r.meanConfidence))")
      print("  per class:")
      for (k, acc) in r.perClassAccuracy.enumerated() {
        let n = r.confusion[k].reduce(0, +)
        print("    \(pad(r.classNames[k], 12)) \(acc.map(pct) ?? "   n/a")  (\(n) images)")
      }
      if confusion {
        print("  confusion (rows: true class, columns: predicted):")
        print("    " + pad("", 12) + r.classNames.indices.map { pad(String($0), 6, left: true) }.joined())
        for (k, row) in r.confusion.enumerated() {
          print("    " + pad(r.classNames[k], 12) + row.map { pad(String($0), 6, left: true) }.joined())
        }
      }
    }
    if let summary {
      print("")
      print("replicates: accuracy \(fmt(summary.mean)) ± \(fmt(summary.std)) % (mean ± sample std over \(entries.filter { $0.0 != "ensemble" }.count) models)")
    }
  }

  func jsonReport(_ entries: [(String, ClassificationReport)], data: ImageDataset, summary: (mean: Double, std: Double)?) throws -> String {
    var models: [[String: Any]] = []
    for (name, r) in entries {
      models.append([
        "model": name, "accuracy": r.accuracy, "correct": r.correct, "count": r.count, "mean_confidence": r.meanConfidence,
        "per_class_accuracy": r.perClassAccuracy.map { $0 as Any? ?? NSNull() }, "confusion": r.confusion,
        "class_names": r.classNames,
      ])
    }
    var root: [String: Any] = ["data": data.description, "images": data.count, "models": models]
    if let summary { root["replicates"] = ["accuracy_mean": summary.mean / 100, "accuracy_std": summary.std / 100] }
    let bytes = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    return String(decoding: bytes, as: UTF8.self)
  }
}

func pct(_ x: Double) -> String { pad(fmt(x * 100) + "%", 7, left: true) }

func fmt(_ x: Double, digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
  let fill = String(repeating: " ", count: max(0, width - s.count))
  return left ? fill + s : s + fill
}
