import Analysis
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// The audit pipeline (the paper's sections 4.1, 4.4 and 4.6 in one command), in stages that each
/// write into one folder and are skipped when their output exists, so re-running the same
/// command continues where it stopped:
///
/// 1. `selection.json`: predict every image, keep those predicted with confidence at least
///    `minConfidence` (and correctly, if asked), then a seeded random sample;
/// 2. `run/`: backward selection of the selected images (`BackSelectJob`, resumable and shardable);
/// 3. `results/`: SIS size against threshold with 95% intervals, correctly against incorrectly
///    classified images, accuracy and confidence on full images and on k% backward-selection and
///    random subsets with the confidence drop, pixel-frequency heatmaps, an SIS gallery;
/// 4. `report.html`: one self-contained page with every figure and table.
///
/// Stages 3 and 4 read the stored run: rendering a finished audit runs the model only for the
/// subset evaluation (three forward passes per image).
public struct Audit {
  public let folder: String
  public let settings: AuditSettings
  public let selectionSettings: SelectionSettings

  public init(folder: String, settings: AuditSettings, selection: SelectionSettings) throws {
    guard !settings.thresholds.isEmpty, settings.thresholds.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
      throw SettingProblem("thresholds", "must be probabilities in [0, 1], got \(settings.thresholds)")
    }
    guard settings.fraction > 0, settings.fraction <= 1 else {
      throw SettingProblem("fraction", "must be in (0, 1], got \(settings.fraction)")
    }
    self.folder = folder
    self.settings = settings
    selectionSettings = selection
  }

  public var settingsPath: String { folder + "/audit.json" }
  public var selectionPath: String { folder + "/selection.json" }
  public var runFolder: String { folder + "/run" }
  public var resultsFolder: String { folder + (interim ? "/interim/results" : "/results") }
  public var reportPath: String { folder + (interim ? "/interim/report.html" : "/report.html") }

  /// Whether this writes an interim snapshot (`audit --interim`) instead of the final stages.
  public private(set) var interim = false

  /// The same audit writing an interim snapshot: the analyses and the report of the images
  /// finished so far, into `interim/` (`interim/results/`, `interim/report.html`), rewritten at
  /// each call. The audit's own stages are not touched, so a running backward selection (one
  /// process or the shards of a Slurm array) goes on, and the final `results/` and `report.html`
  /// are written as before once it is complete.
  public func interimSnapshot() -> Audit {
    var a = self
    a.interim = true
    return a
  }

  /// Where the backward selection is stored: `run/`, or where the shards of a sharded audit are
  /// not merged yet, every shard that has begun; and the manifest (any store's: they differ only
  /// in the shard). Reads no image record.
  public func selectionStores() throws -> (stores: [RunStore], manifest: RunManifest) {
    try Self.selectionStores(folder: folder)
  }

  /// `selectionStores()` of the audit in `folder`, without its settings (to read another audit's
  /// finished images: `compare-audits`, `--reuse`).
  public static func selectionStores(folder: String) throws -> (stores: [RunStore], manifest: RunManifest) {
    let run = RunStore(directory: folder + "/run")
    let hasManifest = { (s: RunStore) in FileManager.default.fileExists(atPath: s.directory + "/manifest.json") }
    let shards = shardStores(folder: folder).filter(hasManifest)
    let stores = hasManifest(run) || shards.isEmpty ? [run] : shards
    return (stores, try stores[0].readManifest())
  }

  /// The positions of the images whose backward selection has finished, over every shard (their
  /// count is the number of images done: shards hold disjoint groups).
  public func finishedPositions() throws -> Set<Int> {
    let (stores, manifest) = try selectionStores()
    return Set(stores.flatMap { s in s.finishedGroups().flatMap { manifest.positions(ofGroup: $0) } })
  }

  /// What the finished images cost (wall time and passes per image, from each store's
  /// `timings.jsonl`).
  public func finishedCosts() throws -> [ImageCost] {
    try selectionStores().stores.flatMap { Array($0.costs().values) }
  }

  /// The backward selection's manifest and finished images, in position order.
  public func finishedImages() throws -> (manifest: RunManifest, records: [ImageRecord]) {
    let (stores, manifest) = try selectionStores()
    let records = try stores.flatMap { try $0.records() }
    return (manifest, records.sorted { $0.position < $1.position })
  }

  /// Creates the folder and `audit.json`, or checks that the folder holds this audit.
  public func prepare() throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    if FileManager.default.fileExists(atPath: settingsPath) {
      let existing: AuditSettings
      do { existing = try JSONDecoder().decode(AuditSettings.self, from: Data(try readFile(settingsPath))) } catch {
        throw AuditError("\(settingsPath): unreadable audit settings (\(error))")
      }
      let differing = existing.record.differences(from: settings.record(comparedWith: existing))
      guard differing.isEmpty else {
        throw AuditError(
          "\(folder) holds an audit with other settings (\(differing.joined(separator: ", ")): the folder's value vs this one's)",
          kind: .otherAudit)
      }
      return
    }
    try writeFileAtomically(Array(try e.encode(settings)) + [0x0a], to: settingsPath)
  }

  /// Where shard `s` of a sharded audit writes its backward selection (`shards/shard-i-of-n`);
  /// the shards are merged into `run/` once all are complete.
  public func shardFolder(_ s: Shard) -> String { folder + "/shards/shard-\(s.index)-of-\(s.count)" }

  /// Where backward selection of `shard` writes: `run/` for a whole run, else its shard folder.
  public func selectionFolder(for shard: Shard) -> String { shard.count > 1 ? shardFolder(shard) : runFolder }

  /// Stage 2 in this process: the pending images of `job` (made for `selectionFolder(for:)` of
  /// `shard`), then, once every shard is complete, the merge into `run/`. A whole-run call on an
  /// audit that was started sharded runs nothing and only merges; a shard call on an audit whose
  /// `run/` already holds every selected image runs nothing (the shard folders may be gone: they
  /// duplicate `run/` once merged). Returns whether all `selected` images are done.
  public func backSelect(_ job: BackSelectJob, shard: Shard, cost: CostPlan, selected: Int) throws -> Bool {
    if shard.count > 1, runHolds(selected: selected) { return true }
    if shard.count > 1 || !FileManager.default.fileExists(atPath: folder + "/shards") {
      try job.prepare(resume: true)
      try job.runShowingProgress(label: "backselect", cost: cost)
    }
    return try mergeShardsIfComplete(selected: selected)
  }

  /// Keeps `sample` (e.g. the paper's CIFAR-10-C sample, drawn from a folder of corruption files)
  /// in the audit folder as `name.npy` and `name-labels.npy`, so that the run can load its images
  /// again; returns the record of those files. Written once (atomically); later calls reuse them.
  public func keep(sample: ImageDataset, as name: String) throws -> DataRecord {
    let images = folder + "/\(name).npy"
    let labels = folder + "/\(name)-labels.npy"
    if !FileManager.default.fileExists(atPath: labels) {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      let (c, h, w) = (sample.imageShape[0], sample.imageShape[1], sample.imageShape[2])
      let hwc = (0..<sample.count).flatMap { ImageIO.hwc(fromCHW: sample.image($0), channels: c, height: h, width: w) }
      try NpyArray(hwc, shape: [sample.count, h, w, c]).write(to: images)
      try NpyArray(sample.labels.map { Int64($0) }, shape: [sample.count]).write(to: labels)
    }
    return DataRecord(path: absolutePath(images), labels: absolutePath(labels), description: sample.description)
  }

  /// The shard folders of a sharded audit (`shards/shard-i-of-n`), in name order.
  func shardStores() -> [RunStore] { Self.shardStores(folder: folder) }

  static func shardStores(folder: String) -> [RunStore] {
    let shardsFolder = folder + "/shards"
    return ((try? FileManager.default.contentsOfDirectory(atPath: shardsFolder)) ?? []).filter { $0.hasPrefix("shard-") }
      .sorted().map { RunStore(directory: shardsFolder + "/" + $0) }
  }

  /// For a sharded audit (a `shards/` folder): merges the shards into `run/` when every shard
  /// folder of the same count holds all its groups, and returns whether `run/` is complete.
  /// Without `shards/`, whether `run/` holds every selected image.
  public func mergeShardsIfComplete(selected: Int) throws -> Bool {
    let stores = shardStores()
    if !stores.isEmpty {
      let manifests = stores.compactMap { try? $0.readManifest() }
      guard let count = manifests.first?.shard.count, manifests.count == stores.count,
        manifests.allSatisfy({ $0.shard.count == count }),
        Set(manifests.map(\.shard.index)).count == count
      else { return false }
      let done = stores.reduce(0) { $0 + $1.finishedGroups().count }
      guard done == manifests[0].groupCount else { return false }
      _ = try RunStore.merge(stores, into: RunStore(directory: runFolder))
    }
    return runHolds(selected: selected)
  }

  /// Whether `run/` holds a record for every one of the `selected` images.
  func runHolds(selected: Int) -> Bool {
    ((try? RunStore(directory: runFolder).records().count) ?? 0) == selected
  }

  /// Stage 1's result.
  public struct Selection: Codable, Sendable {
    public var positions: [Int]
    public var description: String
    /// Images predicted before selection, and how many passed the confidence rule.
    public var predicted: Int
    public var confident: Int
  }

  /// Stage 1: the audited images (read back when `selection.json` exists).
  public func select(classifier: any Classifier, data: ImageDataset, device: Device) throws -> Selection {
    if FileManager.default.fileExists(atPath: selectionPath) {
      return try JSONDecoder().decode(Selection.self, from: Data(try readFile(selectionPath)))
    }
    let rule = ImageSelection(.confident(threshold: settings.minConfidence, correctOnly: settings.correctOnly))
    let (confident, description) = try rule.select(data, classifier: classifier, device: device)
    var positions = confident
    var text = description
    if let n = settings.sample, n < positions.count {
      var rng = SplitMix64(seed: settings.seed)
      positions.shuffle(using: &rng)
      positions = Array(positions.prefix(n)).sorted()
      text += ", a random sample of \(n) (seed \(settings.seed))"
    }
    let selection = Selection(positions: positions, description: text, predicted: data.count, confident: confident.count)
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    try writeFileAtomically(Array(try e.encode(selection)) + [0x0a], to: selectionPath)
    return selection
  }
}

/// Stage 3's numbers, as written to `results/`.
public struct AuditResults: Codable, Sendable {
  /// The statistics' version: 2 since Fieller's interval, the Mann-Whitney test, empty-SIS counts
  /// and clipped intervals (nil: 1, which divided Welch's interval by the misclassified mean).
  public var statistics: Int? = AuditResults.statisticsVersion
  public static let statisticsVersion = 2

  /// Whether these results were computed with the current statistics.
  public var current: Bool { (statistics ?? 1) >= Self.statisticsVersion }

  /// Results of older statistics without the intervals they got wrong (shown beside current ones).
  public var withoutOutdatedIntervals: AuditResults {
    guard !current else { return self }
    var r = self
    for i in r.correctIncorrect.indices { r.correctIncorrect[i].percentIncreaseInterval = nil }
    return r
  }

  public var images: Int
  public var featureCount: Int
  public var accuracyOnAudited: Double
  public var sisSize: [SISSizePoint]
  public var correctIncorrect: [CorrectIncorrectPoint]
  /// The same without the images whose SIS is empty (nil in results written before).
  public var correctIncorrectNonEmpty: [CorrectIncorrectPoint]? = nil
  public var subsets: SubsetEvaluation
  public var heatmapSubsets: PositionText
  public var heatmapSIS: PositionText

  public struct PositionText: Codable, Sendable {
    public var what: String
    public var subsets: Int
    public var text: String
  }
}

extension Audit {
  /// Stage 3: the analyses of the stored run, written to `results/` (JSON, CSV, PNG, SVG).
  @discardableResult
  ///
  /// `members`: for an ensemble, its networks; each runs backward selection on the gallery images
  /// (`members/member-i/`, resumable), and `results/ensemble-*.png` shows the ensemble's SIS
  /// beside each member's (the paper's Figure S2).
  public func analyse(
    classifier: any Classifier, data: ImageDataset, device: Device, members: [(file: ModelFile, network: any Classifier)] = []
  ) throws -> AuditResults {
    let (manifest, records) = try finishedImages()
    guard !records.isEmpty else { throw AuditError("\(folder): no image has finished backward selection yet") }
    // A snapshot replaces the previous one whole (its gallery showed other images).
    if interim, FileManager.default.fileExists(atPath: resultsFolder) {
      try FileManager.default.removeItem(atPath: resultsFolder)
    }
    try FileManager.default.createDirectory(atPath: resultsFolder, withIntermediateDirectories: true)
    let curve = sisSizeCurve(records, thresholds: settings.thresholds)
    let groups = correctIncorrect(records, thresholds: settings.thresholds)
    let nonEmptyGroups = correctIncorrect(records, thresholds: settings.thresholds, withoutEmpty: true)
    let subsets = try SubsetEvaluation(
      classifier: classifier, data: data, records: records, fraction: settings.fraction, randomSeed: settings.seed, device: device
    )
    var texts: [AuditResults.PositionText] = []
    let highest = settings.thresholds.max() ?? 0.99
    if manifest.features == "pixel" {
      for (name, threshold) in [("heatmap-subsets", nil), ("heatmap-sis", Optional(highest))] {
        let heatmap = try SubsetHeatmap(manifest: manifest, records: records, fraction: settings.fraction, threshold: threshold)
        let lines = try heatmap.write(png: resultsFolder + "/\(name).png")
        let what = threshold.map { "SIS at τ = \($0)" } ?? "\(fmt(settings.fraction * 100))% backward-selection subsets"
        texts.append(.init(what: what, subsets: heatmap.subsets.count, text: lines.last ?? ""))
      }
      let gallery = try writeGallery(records: records, data: data, manifest: manifest, threshold: highest)
      if members.count > 1 {
        try writeMemberComparison(
          gallery: gallery, members: members, data: data, manifest: manifest, threshold: highest, device: device)
      }
    }
    let results = AuditResults(
      images: records.count, featureCount: manifest.featureCount,
      accuracyOnAudited: mean(records.map { $0.predicted == $0.label ? 1 : 0 }), sisSize: curve, correctIncorrect: groups,
      correctIncorrectNonEmpty: nonEmptyGroups, subsets: subsets,
      heatmapSubsets: texts.first ?? .init(what: "-", subsets: 0, text: ""),
      heatmapSIS: texts.dropFirst().first ?? .init(what: "-", subsets: 0, text: ""))
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeFileAtomically(Array(Self.curveCSV(curve).utf8), to: resultsFolder + "/sis-size-vs-threshold.csv")
    try writeFileAtomically(Array(Self.groupCSV(groups).utf8), to: resultsFolder + "/correct-vs-incorrect.csv")
    try writeFileAtomically(
      Array(Self.groupCSV(nonEmptyGroups).utf8), to: resultsFolder + "/correct-vs-incorrect-without-empty-sis.csv")
    try writeFileAtomically(Array(subsets.csv.utf8), to: resultsFolder + "/subset-accuracy.csv")
    let svg = charts(results)
    try writeFileAtomically(Array(svg.sisSize.utf8), to: resultsFolder + "/sis-size-vs-threshold.svg")
    try writeFileAtomically(Array(svg.correctIncorrect.utf8), to: resultsFolder + "/correct-vs-incorrect.svg")
    try writeFileAtomically(Array(svg.confidence.utf8), to: resultsFolder + "/confidence-correct-vs-incorrect.svg")
    // Last: its presence marks the stage as done.
    try writeFileAtomically(Array(try e.encode(results)) + [0x0a], to: resultsPath)
    return results
  }

  public var resultsPath: String { resultsFolder + "/results.json" }

  /// Stage 3's results if the stage is done with the current statistics (read from
  /// `results/results.json`, no model pass).
  public func finishedResults() throws -> AuditResults? {
    guard FileManager.default.fileExists(atPath: resultsPath) else { return nil }
    let results = try JSONDecoder().decode(AuditResults.self, from: Data(try readFile(resultsPath)))
    // Results of older statistics are analysed again (three forward passes per image).
    return results.current ? results : nil
  }
}
