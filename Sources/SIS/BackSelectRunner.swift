import Base
import Datasets
import Foundation
import Models
import Torch

/// Runs exact backward selection over the images of a manifest, one lockstep group at a time,
/// writing each finished group as a shard. Groups already on disk are skipped, so an interrupted
/// run resumes where it stopped and loses at most the groups in progress.
public struct BackSelectRunner {
  public let classifier: any Classifier
  public let dataset: ImageDataset
  public let manifest: RunManifest
  public let store: RunStore
  public let layout: FeatureLayout
  public let maskValue: [Float]?
  public let device: Device
  /// The bfloat16 twin of `classifier`, for the bf16 precisions.
  public let fast: (any Classifier)?
  /// Runs the method of the manifest on a group of images.
  var selector: Selector
  /// The fast method: also evaluate every candidate at screened steps and count how often the
  /// screened pick was the best (a study; the results are the same, the cost a full step's).
  public var screenCheck: Bool {
    get { selector.check }
    set { selector.check = newValue }
  }

  /// The model that scores candidates: the BN-folded one for the fast method and with
  /// `foldBatchNorm`, else `classifier` (what a cost plan measures the throughput of).
  public var scoringClassifier: any Classifier { selector.scoring }

  public init(
    classifier: any Classifier, dataset: ImageDataset, manifest: RunManifest, store: RunStore, layout: FeatureLayout,
    maskValue: [Float]?, device: Device, fast: (any Classifier)? = nil, foldBatchNorm: Bool = false
  ) throws {
    self.fast = fast
    self.classifier = classifier
    selector = try Selector(
      settings: manifest.settings, classifier: classifier, fast: fast, layout: layout, maskValue: maskValue, device: device,
      foldBatchNorm: foldBatchNorm)
    self.dataset = dataset
    self.manifest = manifest
    self.store = store
    self.layout = layout
    self.maskValue = maskValue
    self.device = device
  }

  /// Creates the run folder, or checks that an existing one holds the same run.
  public func prepare(resume: Bool) throws {
    if FileManager.default.fileExists(atPath: store.manifestPath) {
      let existing = try store.readManifest()
      let d = existing.differences(from: manifest)
      guard d.isEmpty, existing.shard == manifest.shard else {
        throw SISError.otherRun(directory: store.directory, differences: d)
      }
      guard resume else {
        throw SISError.runExists(directory: store.directory)
      }
    } else {
      try store.writeManifest(manifest)
    }
  }

  /// Groups of this shard still to run.
  public var pendingGroups: [Int] {
    let done = store.finishedGroups()
    return (0..<manifest.groupCount).filter { manifest.shard.contains(group: $0) && !done.contains($0) }
  }

  /// Normalized images (C*H*W floats each) and the predicted class and its probability.
  func prepareImages(_ positions: [Int]) throws -> (images: [[Float]], predicted: [Int], confidence: [Float]) {
    let sub = dataset.subset(positions)
    let x = try sub.normalized(0..<sub.count, classifier.info.normalization)
    let flat = try x.floats()
    let size = sub.imageSize
    let images = (0..<sub.count).map { Array(flat[($0 * size)..<(($0 + 1) * size)]) }
    let probs = try withInferenceMode { try classifier.probabilities(try x.to(device)).floats() }
    let k = classifier.info.numClasses
    var predicted: [Int] = []
    var confidence: [Float] = []
    for i in 0..<sub.count {
      let row = probs[(i * k)..<((i + 1) * k)]
      let best = argmax(row) ?? row.startIndex
      predicted.append(best - i * k)
      confidence.append(row[best])
    }
    return (images, predicted, confidence)
  }

  /// For a hybrid run: the pixels each image at `positions` would leave to the exact phase
  /// (`hybridExactPhaseSizes`), measured by running the gradient phase alone.
  public func hybridExactPhaseSizes(_ positions: [Int]) throws -> [Int] {
    let settings = manifest.settings
    guard settings.method == .hybrid || settings.method == .fast, layout.description == "pixel", let k = settings.k,
      let hybrid = settings.hybrid
    else {
      throw SISError.badArgument("only a hybrid run on pixel features has an exact phase to measure")
    }
    let (images, predicted, _) = try prepareImages(positions)
    return try SIS.hybridExactPhaseSizes(
      classifier: classifier, images: images, classes: predicted, inputShape: layout.inputShape, k: k,
      switchProbability: Float(hybrid.switchAt), capAtFullImage: hybrid.switchCap == .confidence, exactLast: hybrid.exactLast,
      setAside: hybrid.onDip == .setAside, maskValue: maskValue, score: settings.score, device: device)
  }

  /// Images another run of the same model, data and method already selected (`ReusedRecords`), by
  /// position: a group copies their records instead of selecting them again.
  public var reused = ReusedRecords()

  /// Runs every pending group; `onImages(done, candidates)` reports progress.
  public func run(onProgress: ((_ imagesDone: Int, _ candidates: Int) -> Void)? = nil) throws {
    for g in pendingGroups {
      let positions = Array(manifest.positions(ofGroup: g))
      let start = Progress.now()
      let (images, predicted, confidence) = try prepareImages(positions)
      var copied: [Int: ImageRecord] = [:]
      for (k, pos) in positions.enumerated() {
        if let r = try reused.record(position: pos, predicted: predicted[k], confidence: confidence[k]) { copied[k] = r }
      }
      let fresh = positions.indices.filter { copied[$0] == nil }
      var results: [Int: BackSelectResult] = [:]
      var cost: SelectionCost? = nil
      if !fresh.isEmpty {
        let (r, c) = try selector.select(images: fresh.map { images[$0] }, classes: fresh.map { predicted[$0] }) {
          onProgress?(0, $0)
        }
        for (j, k) in fresh.enumerated() { results[k] = r[j] }
        cost = c
      }
      // What the group's selection cost in all: here for the fresh images, in the other run for
      // the copied ones.
      let total = Progress.now() - start + copied.values.reduce(0) { $0 + Double($1.seconds) }
      let seconds = Float(total / Double(positions.count))
      let records = try positions.enumerated().map { (k, pos) -> ImageRecord in
        if var r = copied[k] {
          r.seconds = seconds
          return r
        }
        guard let result = results[k] else { throw SISError.store("image \(pos) of group \(g) was neither copied nor selected") }
        return ImageRecord(
          position: pos, sourceIndex: dataset.sourceIndices[pos], label: dataset.labels[pos], predicted: predicted[k],
          confidence: confidence[k], order: result.order, values: result.values, scores: result.scores,
          exactTies: result.exactTies, nearTies: result.nearTies, seconds: seconds)
      }
      try store.writeShard(group: g, records: records, cost: cost, reused: copied.count)
      onProgress?(positions.count, 0)
    }
  }
}

/// The records of images that other runs already selected with the same model, data and method
/// (`backselect --reuse`, `audit --reuse`): a run copies them instead of selecting those images
/// again. Batch shapes (`chunk`, `group`) may differ: they change rounding, not the method. Each
/// copied image is checked on the way in: this run's model must predict the same class for it
/// with the same confidence (within 1e-4) as the record says.
public struct ReusedRecords {
  public private(set) var byPosition: [Int: (record: ImageRecord, source: String)] = [:]

  public init() {}

  /// Adds the finished images of the run in `store` that `manifest` (this run's) also selects;
  /// throws when that run differs from this one in anything but its images, shard and batch
  /// shape, naming the fields. Returns how many images it adds.
  @discardableResult
  public mutating func add(_ store: RunStore, for manifest: RunManifest) throws -> Int {
    var other = try store.readManifest()
    other.positions = manifest.positions
    other.sourceIndices = manifest.sourceIndices
    other.settings.chunk = manifest.settings.chunk
    other.settings.group = manifest.settings.group
    let d = other.differences(from: manifest)
    guard d.isEmpty else {
      throw SISError.store(
        "{reuse} \(store.directory): that run differs from this one in \(d.joined(separator: ", ")) (its value vs this one's); "
          + "only images selected with the same model, data, features, mask and method can be reused")
    }
    let wanted = Dictionary(zip(manifest.positions, manifest.sourceIndices), uniquingKeysWith: { a, _ in a })
    var added = 0
    for r in try store.records() {
      guard let source = wanted[r.position], byPosition[r.position] == nil else { continue }
      guard source == r.sourceIndex else {
        throw SISError.store(
          "{reuse} \(store.directory): its image at position \(r.position) has source index \(r.sourceIndex), this run's \(source)"
        )
      }
      byPosition[r.position] = (r, store.directory)
      added += 1
    }
    return added
  }

  /// The record to copy for the image at `position`, if one was added, after checking it against
  /// this run's prediction for the image.
  func record(position: Int, predicted: Int, confidence: Float) throws -> ImageRecord? {
    guard let (r, source) = byPosition[position] else { return nil }
    guard r.predicted == predicted, abs(r.confidence - confidence) <= 1e-4 else {
      throw SISError.store(
        "{reuse} \(source): the image at position \(position) (source index \(r.sourceIndex)) was predicted class "
          + "\(r.predicted) with confidence \(r.confidence) there and class \(predicted) with confidence \(confidence) here: "
          + "not the same image or model")
    }
    return r
  }
}
