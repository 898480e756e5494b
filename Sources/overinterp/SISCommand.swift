import Analysis
import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

struct SISCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sis",
    abstract: "Sufficient input subsets: derived from a backselect run, or SIS collections computed directly.",
    discussion: """
      With --run, each image's SIS at --threshold is the shortest suffix of its stored removal \
      order whose masked image keeps f >= threshold (no recomputation); images with f(x) below \
      the threshold have no SIS. --fraction also derives the paper's k% backward-selection \
      subsets (the last ceil(k*p) features of the order) and f on them. With --collection, \
      SIS collections (disjoint SIS found one after another) are computed for the selected images.
      """)

  @Option(name: .customLong("run"), help: "A backselect run folder.")
  var runFolder: String?

  @Option(help: "Confidence threshold tau in [0, 1].")
  var threshold: Double = 0.99

  @Option(help: "Also derive the last-k% subsets, e.g. 0.05.")
  var fraction: Double?

  @Option(help: "Write sizes and masks to this .npz.")
  var save: String?

  @Option(help: "Write PNGs (image | SIS pixels | masked image) into this folder.")
  var png: String?

  @Option(help: "How many images get PNGs (the first ones), unless --png-positions is given.")
  var show: Int = 8

  @Option(help: "Positions to draw, e.g. 0,5,9.")
  var pngPositions: String?

  @Flag(help: "Print one line per image.")
  var perImage = false

  @Flag(help: "Compute SIS collections for images selected with --model/--data/--indices etc.")
  var collection = false

  @OptionGroup(title: "Model") var model: ModelOptions
  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Image selection") var selection: SelectionOptions
  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  @Option(help: "With --collection: what BackSelect maximises (prob, logprob, margin).")
  var score: SelectionScore = .logprob

  @Option(help: "With --collection: features (pixel, value, row, column, channel, patchK).")
  var features: String = "pixel"

  @Option(help: "With --collection: candidate images per forward pass.")
  var chunk: Int = 128

  func validate() throws {
    if !(threshold >= 0 && threshold <= 1) { throw ValidationError("--threshold must be in [0, 1], got \(threshold)") }
    if let fraction, !(fraction > 0 && fraction <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
    if collection { try selection.requireOne() }
    if (runFolder == nil) == !collection {
      throw ValidationError("give either --run RUN or --collection (with --model/--data and a selection)")
    }
    if show < 0 { throw ValidationError("--show must be >= 0") }
    if let pngPositions, parseIndexList(pngPositions) == nil {
      throw ValidationError("--png-positions must list positions, got '\(pngPositions)'")
    }
  }

  func run() throws {
    if collection { try runCollection() } else { try deriveFromRun() }
  }

  func deriveFromRun() throws {
    guard let run = runFolder else { return }
    let store = RunStore(directory: run)
    let manifest = try store.readManifest()
    let records = try store.records()
    guard !records.isEmpty else { throw ValidationFailure("\(run): no finished images yet") }
    let summary = SISSummary(records: records, manifest: manifest, threshold: threshold, fraction: fraction)
    if perImage {
      for line in summary.perImageLines(records) { print(line) }
    }
    print(
      "run: \(run) (\(manifest.architecture), score \(manifest.settings.score.rawValue), \(manifest.features) features, \(records.count) images)"
    )
    print("data: \(manifest.data.description)")
    for line in summary.lines { print(line) }
    if let save {
      try summary.write(records: records, to: save)
      print("wrote \(save)")
    }
    if let png {
      let data = try manifest.loadData(embeddedSample: try? Resources.path("sample"))
      let chosen = pngPositions.flatMap(parseIndexList) ?? Array(records.prefix(show).map(\.position))
      let layout = try FeatureLayout(parsing: manifest.features, inputShape: manifest.inputShape)
      let byPosition = Dictionary(uniqueKeysWithValues: zip(records.map(\.position), summary.sis))
      try FileManager.default.createDirectory(atPath: png, withIntermediateDirectories: true)
      for pos in chosen {
        guard let entry = byPosition[pos] else { throw ValidationFailure("--png-positions: position \(pos) is not in the run") }
        try drawSIS(
          data: data, position: pos, features: entry ?? [], layout: layout, to: png + "/position-\(pos)-tau-\(threshold).png")
      }
      print("wrote \(chosen.count) PNG(s) to \(png)")
    }
  }

  func runCollection() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let classifier = try model.load(device: device)
    let data = try dataOptions.load(for: classifier.info)
    let layout: FeatureLayout
    do { layout = try FeatureLayout(parsing: features, inputShape: data.imageShape) } catch {
      throw ValidationFailure("--features: \(error)")
    }
    let (positions, description) = try selection.select(data, classifier: classifier, device: device)
    print(
      "SIS collections at threshold \(threshold), score \(score.rawValue), \(layout.description) features; \(positions.count) image(s) (\(description)); data: \(data.description)"
    )
    for pos in positions {
      let (c, confidence, found) = try sisCollection(
        classifier: classifier, data: data, position: pos, layout: layout, threshold: threshold, score: score, chunk: chunk,
        device: device)
      print(
        "position \(pos) (source index \(data.sourceIndices[pos])) label \(data.labels[pos]) predicted \(c) "
          + "f(x) \(fmt(Double(confidence), digits: 4)): \(found.count) SIS, sizes \(found.map { $0.sis.count })")
      if let png {
        try FileManager.default.createDirectory(atPath: png, withIntermediateDirectories: true)
        for (k, s) in found.enumerated() {
          try drawSIS(data: data, position: pos, features: s.sis, layout: layout, to: png + "/position-\(pos)-sis-\(k + 1).png")
        }
      }
    }
  }
}
