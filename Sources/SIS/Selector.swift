import Models
import Torch

/// Runs one backward-selection method, as `SelectionSettings` describe it, on a group of images in
/// lockstep: the dispatch that `BackSelectRunner` and the benchmarks share.
public struct Selector {
  public let settings: SelectionSettings
  public let classifier: any Classifier
  /// The bfloat16 twin of `classifier`, for the bf16 precisions.
  public let fast: (any Classifier)?
  /// What scores the fast method's exact phase, and with `foldBatchNorm` the exact method's and
  /// the hybrid's: `classifier` with batch norm folded into the convolutions and channels-last
  /// weights (`optimizedForInference`), the same function in a faster form (float32 rounding
  /// differs); `classifier` otherwise.
  let scoring: any Classifier
  public let layout: FeatureLayout
  public let maskValue: [Float]?
  public let device: Device
  /// The fast method: also evaluate every candidate at screened steps (`screenedBackSelect`'s
  /// `check`).
  public var check = false

  public init(
    settings: SelectionSettings, classifier: any Classifier, fast: (any Classifier)? = nil, layout: FeatureLayout,
    maskValue: [Float]? = nil, device: Device = .cpu, foldBatchNorm: Bool = false
  ) throws {
    let problems = settings.problems()
    guard problems.isEmpty else { throw SISError.badArgument(problems.joined(separator: "; ")) }
    if settings.method != .exact, layout.description != "pixel" {
      throw SISError.badArgument("the \(settings.method.rawValue) method works on pixel features, not \(layout.description)")
    }
    self.settings = settings
    self.classifier = classifier
    guard fast != nil || !settings.needsBFloat16Twin else {
      throw SISError.badArgument("\(settings.label): bfloat16 scoring needs the model's bfloat16 twin (bfloat16Twin)")
    }
    self.fast = fast
    let folds = settings.method == .fast || Self.foldsOnRequest(settings.method, requested: foldBatchNorm)
    scoring = folds ? try optimizedForInference(classifier) : classifier
    self.layout = layout
    self.maskValue = maskValue
    self.device = device
  }

  /// Whether a request to fold batch norm (`foldBatchNorm`) applies to `method`: every method but
  /// the gradient method, which runs the model as loaded (the fast method folds even unasked).
  public static func foldsOnRequest(_ method: SelectionMethod, requested: Bool) -> Bool {
    requested && method != .gradient
  }

  /// Backward selection of `images` (normalized, C x H x W float32 each) toward `classes`;
  /// `onProgress` receives candidates (or pixels, for gradient blocks) as they are decided.
  public func select(images: [[Float]], classes: [Int], onProgress: ((Int) -> Void)? = nil) throws -> (
    results: [BackSelectResult], cost: SelectionCost
  ) {
    var cost = SelectionCost()
    let results: [BackSelectResult]
    switch settings.method {
    case .hybrid, .fast:
      guard let k = settings.k, let hybrid = settings.hybrid else {
        throw SISError.badArgument("the \(settings.method.rawValue) method needs a block size k and a switch probability")
      }
      results = try hybridBackSelect(
        classifier: classifier, images: images, classes: classes, inputShape: layout.inputShape, k: k,
        switchProbability: Float(hybrid.switchAt), capAtFullImage: hybrid.switchCap == .confidence, exactLast: hybrid.exactLast,
        setAside: hybrid.onDip == .setAside, maskValue: maskValue, score: settings.score, chunk: settings.chunk, device: device,
        precision: settings.precision, fast: fast, verifyTop: settings.verifyTop,
        screening: settings.method == .fast ? settings.screening : nil, check: check, scoring: scoring,
        onProgress: onProgress, onCost: { cost = $0 })
    case .gradient:
      guard let k = settings.k else { throw SISError.badArgument("the gradient method needs a block size k") }
      results = try gradientBackSelect(
        classifier: classifier, images: images, classes: classes, inputShape: layout.inputShape, k: k, maskValue: maskValue,
        score: settings.score, device: device, onIteration: { _ in onProgress?(k * images.count) }, onCost: { cost = $0 })
    case .exact:
      let scorer = try ExactSelectionScorer(
        classifier: scoring, fast: fast, precision: settings.precision, verifyTop: settings.verifyTop, images: images,
        classes: classes, layout: layout, maskValue: maskValue, score: settings.score, chunk: settings.chunk, device: device)
      results = try backSelect(problems: images.count, featureCount: layout.count, scorer: scorer) { onProgress?($0) }
      cost = scorer.cost
    }
    return (results, cost)
  }
}
