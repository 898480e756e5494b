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

  /// Runs every pending group; `onImages(done, candidates)` reports progress.
  public func run(onProgress: ((_ imagesDone: Int, _ candidates: Int) -> Void)? = nil) throws {
    for g in pendingGroups {
      let positions = Array(manifest.positions(ofGroup: g))
      let start = Progress.now()
      let (images, predicted, confidence) = try prepareImages(positions)
      let (results, cost) = try selector.select(images: images, classes: predicted) { onProgress?(0, $0) }
      let seconds = Float((Progress.now() - start) / Double(positions.count))
      let records = positions.enumerated().map { (k, pos) in
        ImageRecord(
          position: pos, sourceIndex: dataset.sourceIndices[pos], label: dataset.labels[pos], predicted: predicted[k],
          confidence: confidence[k], order: results[k].order, values: results[k].values, scores: results[k].scores,
          exactTies: results[k].exactTies, nearTies: results[k].nearTies, seconds: seconds)
      }
      try store.writeShard(group: g, records: records, cost: cost)
      onProgress?(positions.count, 0)
    }
  }
}
