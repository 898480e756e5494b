import Base
import Datasets
import Foundation
import Models
import Torch

/// Accuracy of a classifier on every corruption file and severity of a CIFAR-10-C folder
/// (official or made by `overinterp data corrupt`), the mean over corruptions per severity and
/// overall (the standard summary), and on the paper's 2,000-image sample if the folder has one.
public struct CorruptionEvaluation: Sendable {
  public let folder: String
  public let architecture: String
  /// Corruption names, sorted.
  public let names: [String]
  /// Accuracy per corruption, severities 1-5.
  public let accuracy: [String: [Double]]
  /// The paper's random sample (`sample_*_data.npy`), if present.
  public let sampleAccuracy: Double?
  /// Images per severity when limited (the first N).
  public let limit: Int?

  public init(folder: String, classifier: any Classifier, limit: Int? = nil, batchSize: Int = 256, device: Device = .cpu) throws {
    let names = DataSource.corruptionFiles(in: folder)
    guard !names.isEmpty else { throw FileFormatError(folder, "no CIFAR-10-C files (labels.npy and <corruption>.npy)") }
    func accuracyOn(_ data: ImageDataset, label: String?) throws -> Double {
      let probs = try predictProbabilities(classifier, on: data, batchSize: batchSize, device: device, progressLabel: label)
      return ClassificationReport(probabilities: probs, labels: data.labels, classNames: classifier.info.classNames).accuracy
    }
    var table: [String: [Double]] = [:]
    for name in names {
      table[name] = try (1...5).map { s in
        var data = try DataSource.loadCorruption(folder: folder, name: name, severity: s)
        if let limit, limit < data.count { data = data.subset(Array(0..<limit)) }
        return try accuracyOn(data, label: "\(name) s\(s)")
      }
    }
    let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    if let file = files.first(where: { $0.hasPrefix("sample_") && $0.hasSuffix("_data.npy") }) {
      let base = folder + "/" + String(file.dropLast("_data.npy".count))
      let data = try DataSource.loadNpyImages(
        images: base + "_data.npy", labels: base + "_labels.npy", indices: nil, description: base)
      sampleAccuracy = try accuracyOn(data, label: nil)
    } else {
      sampleAccuracy = nil
    }
    self.folder = folder
    self.architecture = classifier.info.architecture
    self.names = names
    self.accuracy = table
    self.limit = limit
  }

  /// Mean accuracy over the corruptions, per severity.
  public var meanPerSeverity: [Double] { (0..<5).map { s in mean(names.map { accuracy[$0]?[s] ?? 0 }) } }

  /// Mean over corruptions and severities.
  public var overall: Double { mean(meanPerSeverity) }

  /// The table `eval --cifar10c` prints (percentages).
  public var lines: [String] {
    func cells(_ row: [Double]) -> String { row.map { pad(fmt($0 * 100, digits: 1), 8, left: true) }.joined() }
    var out = [
      "CIFAR-10-C accuracy (%) of \(architecture) on \(folder)\(limit.map { ", first \($0) images per severity" } ?? "")"
    ]
    out.append(pad("corruption", 20) + (1...5).map { pad("s\($0)", 8, left: true) }.joined() + pad("mean", 8, left: true))
    for name in names {
      let row = accuracy[name] ?? []
      out.append(pad(name, 20) + cells(row + [mean(row)]))
    }
    out.append(pad("mean", 20) + cells(meanPerSeverity + [overall]))
    if let sampleAccuracy { out.append("paper's random sample: \(fmt(sampleAccuracy * 100)) %") }
    return out
  }

  /// The same as a JSON object.
  public var json: [String: Any] {
    var root: [String: Any] = [
      "folder": folder, "model": architecture, "accuracy": accuracy, "mean_per_severity": meanPerSeverity, "mean": overall,
    ]
    if let sampleAccuracy { root["sample_accuracy"] = sampleAccuracy }
    if let limit { root["images_per_severity"] = limit }
    return root
  }
}
