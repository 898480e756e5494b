import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// A model file as a run records it: the name the user gave (`default` for the embedded model)
/// and the file that holds it (hashed into the manifest).
public struct ModelFile: Equatable, Sendable {
  public var recordedPath: String
  public var file: String

  public init(recordedPath: String, file: String) {
    self.recordedPath = recordedPath
    self.file = file
  }
}

/// A backward-selection run over selected images of a dataset: builds the run's manifest from
/// typed settings, checks an existing run folder against it, and runs the pending groups of its
/// shard, writing each finished group as it lands (`BackSelectRunner`, `RunStore`).
public struct BackSelectJob {
  public let manifest: RunManifest
  public let store: RunStore
  var runner: BackSelectRunner
  let data: ImageDataset
  let device: Device

  public init(
    classifier: any Classifier, models: [ModelFile], data: ImageDataset, dataRecord: DataRecord, positions: [Int],
    selection: String, layout: FeatureLayout, maskValue: MaskValue, settings: SelectionSettings, shard: Shard = .whole,
    device: Device, out: String, version: String, screenCheck: Bool = false, foldBatchNorm: Bool = false
  ) throws {
    guard data.imageShape == classifier.info.inputShape else {
      throw AuditError("the model takes images of shape \(classifier.info.inputShape), the data has \(data.imageShape)")
    }
    guard !positions.isEmpty else { throw AuditError("no image matches the selection (\(selection))") }
    let problems = settings.problems()
    guard problems.isEmpty else { throw AuditError(problems.joined(separator: "; ")) }
    if settings.method != .exact, layout.description != "pixel" {
      throw AuditError("the \(settings.method.rawValue) method works on pixel features, not \(layout.description)")
    }
    var record = dataRecord
    record.description = data.description
    record.preprocessing = classifier.info.preprocessing.description
    record.numClasses = classifier.info.numClasses
    manifest = RunManifest(
      modelPaths: models.map(\.recordedPath), modelSHA256: try models.map { try SHA256.hex(file: $0.file) },
      architecture: classifier.info.architecture, data: record, selection: selection, positions: positions,
      sourceIndices: positions.map { data.sourceIndices[$0] }, inputShape: data.imageShape, features: layout.description,
      featureCount: layout.count, maskValue: maskValue.recorded, settings: settings, shard: shard, overinterpVersion: version,
      libtorchVersion: Runtime.libtorchVersion,
      device: device.description
        + (Selector.foldsOnRequest(settings.method, requested: foldBatchNorm) ? ", batch norm folded" : ""),
      normalization: classifier.info.normalization.description)
    store = RunStore(directory: out)
    var runner = try BackSelectRunner(
      classifier: classifier, dataset: data, manifest: manifest, store: store, layout: layout, maskValue: maskValue.values,
      device: device, fast: settings.needsBFloat16Twin ? try bfloat16Twin(classifier) : nil, foldBatchNorm: foldBatchNorm)
    runner.screenCheck = screenCheck
    self.runner = runner
    self.data = data
    self.device = device
  }

  /// Takes the finished images of other runs of the same model, data and method that this run
  /// also selects (`folders`: run folders, or audit folders, whose `run/` is read, else their
  /// shards), so that they are copied instead of selected again (`ReusedRecords`). Returns a line
  /// per folder: how many images it gives.
  public mutating func reuse(_ folders: [String]) throws -> [String] {
    var lines: [String] = []
    for folder in folders {
      let run = RunStore(directory: folder)
      let exists = { (s: RunStore) in FileManager.default.fileExists(atPath: s.manifestPath) }
      guard
        exists(run) || exists(RunStore(directory: folder + "/run")) || Audit.shardStores(folder: folder).contains(where: exists)
      else {
        throw AuditError("--reuse \(folder): no run there (expected manifest.json, or an audit folder with run/ or shards/)")
      }
      // A broken manifest or shard is reported as such (naming its file), not as a missing run.
      let stores = exists(run) ? [run] : try Audit.selectionStores(folder: folder).stores
      var n = 0
      for store in stores { n += try runner.reused.add(store, for: manifest) }
      lines.append("reusing \(n) image(s) selected in \(folder)")
    }
    return lines
  }

  /// The positions of every image (of any shard) that other runs give (`reuse`).
  public var reusedPositions: Set<Int> { Set(runner.reused.byPosition.keys) }

  /// Images of this shard's pending groups that will be copied from other runs (`reuse`).
  public var reusedPendingImages: Int {
    runner.pendingGroups.reduce(0) { n, g in
      n + manifest.positions(ofGroup: g).filter { runner.reused.byPosition[$0] != nil }.count
    }
  }

  /// Creates the run folder, or checks that it holds this run (then `resume` must be set).
  public func prepare(resume: Bool) throws { try runner.prepare(resume: resume) }

  /// Images this shard still has to do.
  public var pendingImages: Int { runner.pendingGroups.reduce(0) { $0 + manifest.positions(ofGroup: $1).count } }

  /// Groups this shard still has to do.
  public var pendingGroups: Int { runner.pendingGroups.count }

  /// Candidates (progress units) per image at the nominal exact phase
  /// (`SelectionSettings.progressUnits`); a plan with a pilot knows better.
  public var candidatesPerImage: Int {
    manifest.settings.progressUnits(pixels: manifest.featureCount)
  }

  /// For a hybrid or fast run: the exact phase's size (pixels left by the gradient phase) of up to
  /// `images` images spread evenly over the images still to do (over all of them when none is
  /// left), measured by running the gradient phase alone; nil for the other methods.
  public func pilotExactPhase(images: Int = 8) throws -> [Int]? {
    // The occlusion phase's cost follows from the pixel count; the gradient phase's end does not.
    guard manifest.settings.method == .hybrid || manifest.settings.method == .fast, images > 0,
      manifest.settings.occlusionPhasePasses(pixels: manifest.featureCount) == nil
    else { return nil }
    let pending = runner.pendingGroups.flatMap { manifest.positions(ofGroup: $0) }
    let pool = pending.isEmpty ? manifest.positions : pending
    let n = Swift.min(images, pool.count)
    return try runner.hybridExactPhaseSizes((0..<n).map { pool[$0 * pool.count / n] })
  }

  /// What the finished images of this folder cost (`timings.jsonl`).
  public var finishedCosts: [ImageCost] { Array(store.costs().values) }

  /// What `images` images (default: this shard's pending ones) will cost on `tasks` tasks: at the
  /// pace of `finished` (default: this folder's finished images), else from a pilot of the
  /// gradient phase (hybrid, and fast without its occlusion phase; skipped with `pilot: false`),
  /// else from the method's formula at the forward throughput measured here.
  public func costPlan(images: Int? = nil, tasks: Int = 1, finished: [ImageCost]? = nil, pilot: Bool = true) throws -> CostPlan {
    let finished = finished ?? finishedCosts
    let n = images ?? pendingImages - reusedPendingImages
    return CostPlan(
      settings: manifest.settings, pixels: manifest.featureCount, images: n,
      forwardPerSecond: finished.isEmpty
        ? try CostPlan.measureThroughput(runner.scoringClassifier, data: data, device: device) : 0,
      tasks: tasks, exactPhase: finished.isEmpty && pilot && n > 0 ? try pilotExactPhase() : nil, finished: finished)
  }

  /// Runs the pending groups with a progress line on stderr (`label`; in candidates, as many per
  /// image as `cost` expects, else as the method's formula says).
  public func runShowingProgress(label: String, cost: CostPlan? = nil) throws {
    let pending = pendingImages
    guard pending > 0 else { return }
    let toSelect = pending - reusedPendingImages
    let perImage = cost?.candidatesPerImage(pixels: manifest.featureCount) ?? candidatesPerImage
    let progress = Progress(total: toSelect * perImage, label: label, unit: "candidates")
    var done = 0
    try run { images, candidates in
      done += images
      progress.advance(by: candidates, extra: "\(done)/\(pending) images", fractionDone: Double(done) / Double(pending))
    }
    progress.finish()
  }

  /// Runs the pending groups; `onProgress(imagesDone, candidates)` after each step and group.
  public func run(onProgress: ((_ imagesDone: Int, _ candidates: Int) -> Void)? = nil) throws {
    try runner.run(onProgress: onProgress)
  }

  /// "12 of 20 image(s) done, 80.3 s per image".
  public func summary() throws -> String {
    let records = try store.records()
    let perImage = records.isEmpty ? "" : ", \(fmt(mean(records.map { Double($0.seconds) }), digits: 1)) s per image"
    return "\(store.directory): \(records.count) of \(manifest.positions.count) image(s) done\(perImage)"
  }
}
