import Base
import Datasets
import Foundation
import Models
import Torch

/// Accuracy and mean confidence of groups of models (e.g. replicates trained on full images, on 5%
/// backward-selection subsets, on 5% random subsets) on several datasets: the layout of the
/// paper's Table 1 and of its transfer matrix (model B evaluated on model A's subsets). Each cell
/// is the mean ± sample std over the models of a group.
public struct AccuracyMatrix {
  public struct Cell: Sendable {
    public let group: String
    public let model: String
    public let data: String
    public let accuracy: Double
    public let meanConfidence: Double
    public let count: Int
  }

  /// Row labels (model groups) and column labels (datasets), in the order given.
  public let groups: [String]
  public let datasets: [String]
  /// One cell per (model, dataset).
  public let cells: [Cell]
  /// Dataset descriptions by label.
  public let descriptions: [String: String]

  /// `models`: (group, name, network); `data`: (label, dataset).
  public init(
    models: [(group: String, name: String, network: any Classifier)], data: [(label: String, dataset: ImageDataset)],
    batchSize: Int = 500, device: Device = .cpu
  ) throws {
    var cells: [Cell] = []
    for (label, dataset) in data {
      for m in models {
        let probs = try predictProbabilities(
          m.network, on: dataset, batchSize: batchSize, device: device, progressLabel: "\(m.name) on \(label)")
        let r = ClassificationReport(probabilities: probs, labels: dataset.labels, classNames: m.network.info.classNames)
        cells.append(
          Cell(group: m.group, model: m.name, data: label, accuracy: r.accuracy, meanConfidence: r.meanConfidence, count: r.count)
        )
      }
    }
    self.cells = cells
    groups = models.map(\.group).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    datasets = data.map(\.label)
    descriptions = Dictionary(data.map { ($0.label, $0.dataset.description) }, uniquingKeysWith: { a, _ in a })
  }

  /// Accuracy in percent, mean and sample std over the group's models, and their count.
  public func summary(group: String, data: String) -> (mean: Double, std: Double, models: Int) {
    let values = cells.filter { $0.group == group && $0.data == data }.map { $0.accuracy * 100 }
    let (m, s) = meanStd(values)
    return (m, s, values.count)
  }

  /// Mean confidence in percent over the group's models.
  public func confidence(group: String, data: String) -> Double {
    mean(cells.filter { $0.group == group && $0.data == data }.map { $0.meanConfidence * 100 })
  }

  /// Dataset labels written EVALUATED-ON@BENCHMARK (e.g. `5% BS@CIFAR-10 test`) give the paper's
  /// layout: one row per (model group, evaluated on), one column per benchmark.
  public var hasPaperLayout: Bool { datasets.contains { $0.contains("@") } }

  static func split(_ label: String) -> (kind: String, benchmark: String) {
    guard let at = label.lastIndex(of: "@") else { return (label, "") }
    return (String(label[..<at]), String(label[label.index(after: at)...]))
  }

  /// The paper's Table 1 layout (see `hasPaperLayout`).
  public var paperText: String {
    let kinds = datasets.map { Self.split($0).kind }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    let benchmarks = datasets.map { Self.split($0).benchmark }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    let width = Swift.max(18, (benchmarks.map(\.count).max() ?? 0) + 2)
    var lines = ["accuracy (%), mean ± std over the models of each group (the paper's Table 1 layout)"]
    lines.append(
      pad("trained on (models)", 24) + pad("evaluated on", 18) + benchmarks.map { pad($0, width, left: true) }.joined())
    for g in groups {
      let n = Set(cells.filter { $0.group == g }.map(\.model)).count
      for (i, kind) in kinds.enumerated() {
        let row = benchmarks.map { b -> String in
          let label = datasets.first { Self.split($0) == (kind, b) }
          guard let label else { return pad("-", width, left: true) }
          let s = summary(group: g, data: label)
          return pad(s.models > 1 ? "\(fmt(s.mean)) ± \(fmt(s.std))" : fmt(s.mean), width, left: true)
        }
        lines.append(pad(i == 0 ? "\(g) (\(n))" : "", 24) + pad(kind, 18) + row.joined())
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The table as text: rows = groups ("trained on"), columns = datasets ("evaluated on").
  public var text: String {
    let width = Swift.max(18, (datasets.map(\.count).max() ?? 0) + 2)
    var lines = ["accuracy (%), mean ± std over the models of each row; rows: models, columns: data"]
    lines.append(pad("", 22) + datasets.map { pad($0, width, left: true) }.joined())
    for g in groups {
      let n = cells.filter { $0.group == g }.map(\.model).reduce(into: Set<String>()) { $0.insert($1) }.count
      lines.append(
        pad("\(g) (\(n))", 22)
          + datasets.map { d in
            let s = summary(group: g, data: d)
            return pad(s.models > 1 ? "\(fmt(s.mean)) ± \(fmt(s.std))" : fmt(s.mean), width, left: true)
          }.joined())
    }
    lines.append("")
    lines.append("mean confidence of the predicted class (%)")
    for g in groups {
      lines.append(pad(g, 22) + datasets.map { pad(fmt(confidence(group: g, data: $0)), width, left: true) }.joined())
    }
    lines.append("")
    for d in datasets { lines.append("\(d): \(descriptions[d] ?? "") (\(cells.first { $0.data == d }?.count ?? 0) images)") }
    return (hasPaperLayout ? paperText + "\n" : "") + lines.joined(separator: "\n") + "\n"
  }

  /// One row per (model, dataset).
  public var csv: String {
    func quote(_ s: String) -> String {
      s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
    return "group,model,data,accuracy,mean_confidence,images\n"
      + cells.map { "\(quote($0.group)),\(quote($0.model)),\(quote($0.data)),\($0.accuracy),\($0.meanConfidence),\($0.count)" }
      .joined(separator: "\n") + "\n"
  }

  public var json: [String: Any] {
    [
      "groups": groups, "datasets": datasets, "descriptions": descriptions,
      "cells": cells.map {
        [
          "group": $0.group, "model": $0.model, "data": $0.data, "accuracy": $0.accuracy, "mean_confidence": $0.meanConfidence,
          "images": $0.count,
        ]
          as [String: Any]
      },
      "summary": groups.map { g in
        [
          "group": g,
          "accuracy": datasets.map { d -> [String: Any] in
            let s = summary(group: g, data: d)
            return ["data": d, "mean": s.mean / 100, "std": s.std / 100, "models": s.models]
          },
        ] as [String: Any]
      },
    ]
  }

  /// Writes table.txt, table.csv and table.json into `folder`.
  public func write(to folder: String) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try writeFileAtomically(Array(text.utf8), to: folder + "/table.txt")
    try writeFileAtomically(Array(csv.utf8), to: folder + "/table.csv")
    try writeFileAtomically(Array(try jsonText(json).utf8) + [0x0a], to: folder + "/table.json")
  }
}
