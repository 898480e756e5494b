import Analysis
import ArgumentParser
import Base
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

  @Option(help: "A CIFAR-10-C folder (official or from `data corrupt`): accuracy per corruption and severity, means, and the paper's sample if present.")
  var cifar10c: String?

  func validate() throws {
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    if let cifar10c { return try evaluateCorruptions(cifar10c, device: device) }
    let paths = model.models.isEmpty ? ["default"] : model.models
    let networks = try paths.map { try loadNetwork($0, options: model, device: device) }
    let data = try dataOptions.load(for: networks[0].info)
    var entries: [(String, ClassificationReport)] = []
    for (path, net) in zip(paths, networks) {
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
      if r.classNames.count > 10 { print("  top-5 accuracy   \(pct(r.top5Accuracy))  (\(r.top5Correct)/\(r.count))") }
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
        "top5_accuracy": r.top5Accuracy,
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

extension Eval {
  /// Accuracy on every corruption file and severity of a CIFAR-10-C folder, the mean over
  /// corruptions per severity and overall (the standard summary), and the 2,000-image sample.
  func evaluateCorruptions(_ folder: String, device: Device) throws {
    let names = DataSource.corruptionFiles(in: folder)
    guard !names.isEmpty else { throw ValidationFailure("\(folder): no CIFAR-10-C files (labels.npy and <corruption>.npy)") }
    let classifier = try model.load(device: device)
    var table: [String: [Double]] = [:]
    for name in names {
      var row: [Double] = []
      for s in 1...5 {
        var data = try DataSource.loadCorruption(folder: folder, name: name, severity: s)
        if let limit = dataOptions.limit, limit < data.count { data = data.subset(Array(0..<limit)) }
        let probs = try predictProbabilities(classifier, on: data, batchSize: batchSize, device: device, progressLabel: "\(name) s\(s)")
        row.append(ClassificationReport(probabilities: probs, labels: data.labels, classNames: classifier.info.classNames).accuracy)
      }
      table[name] = row
    }
    var sample: Double?
    if let file = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.first(where: { $0.hasPrefix("sample_") && $0.hasSuffix("_data.npy") }) {
      let base = folder + "/" + String(file.dropLast("_data.npy".count))
      let data = try DataSource.loadNpyImages(images: base + "_data.npy", labels: base + "_labels.npy", indices: nil, description: base)
      let probs = try predictProbabilities(classifier, on: data, batchSize: batchSize, device: device)
      sample = ClassificationReport(probabilities: probs, labels: data.labels, classNames: classifier.info.classNames).accuracy
    }
    let perSeverity = (0..<5).map { s in names.map { table[$0]?[s] ?? 0 }.reduce(0, +) / Double(names.count) }
    let overall = perSeverity.reduce(0, +) / 5
    if json {
      var root: [String: Any] = ["folder": folder, "model": classifier.info.architecture, "accuracy": table, "mean_per_severity": perSeverity, "mean": overall]
      if let sample { root["sample_accuracy"] = sample }
      if let limit = dataOptions.limit { root["images_per_severity"] = limit }
      let bytes = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
      print(String(decoding: bytes, as: UTF8.self))
      return
    }
    print("CIFAR-10-C accuracy (%) of \(classifier.info.architecture) on \(folder)\(dataOptions.limit.map { ", first \($0) images per severity" } ?? "")")
    print(pad("corruption", 20) + (1...5).map { pad("s\($0)", 8, left: true) }.joined() + pad("mean", 8, left: true))
    for name in names {
      let row = table[name] ?? []
      print(pad(name, 20) + row.map { pad(fmt($0 * 100, digits: 1), 8, left: true) }.joined() + pad(fmt(row.reduce(0, +) / 5 * 100, digits: 1), 8, left: true))
    }
    print(pad("mean", 20) + perSeverity.map { pad(fmt($0 * 100, digits: 1), 8, left: true) }.joined() + pad(fmt(overall * 100, digits: 1), 8, left: true))
    if let sample { print("paper's random sample: \(fmt(sample * 100)) %") }
  }
}
