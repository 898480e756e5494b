import Foundation
import Models
import Torch

/// The score of masked inputs, and optionally its gradient with respect to the pixel mask: what
/// the gradient and hybrid methods need from a model. The masked input of problem i is
/// x_i ⊙ (1 − M) + m ⊙ M for a pixel mask M (1 = masked, shared by a pixel's channels) and the
/// fully masked input m. Like `CandidateScorer` for exact selection, this keeps the algorithm
/// apart from the model: it runs on classifiers (`ClassifierMaskEvaluator`) and on analytic
/// functions (`FunctionMaskEvaluator`) in tests.
public protocol MaskGradientEvaluator {
  /// Problems (images) the evaluator knows, ids 0..<problemCount.
  var problemCount: Int { get }
  /// Pixels per image: the length of every mask and gradient row.
  var pixelCount: Int { get }
  /// For each of `problems` with its mask (`pixelCount` values, true = masked): the class
  /// probability, the selection score, and with `withGradient` ∂score/∂M per pixel.
  func evaluate(_ problems: [Int], masks: [[Bool]], withGradient: Bool) throws -> MaskEvaluation
}

/// What a `MaskGradientEvaluator` returns, one entry per problem asked for, in that order.
public struct MaskEvaluation: Sendable {
  public var probabilities: [Float]
  public var scores: [Float]
  /// Rows of `pixelCount` values; nil when no gradient was asked for.
  public var gradients: [[Float]]?

  public init(probabilities: [Float], scores: [Float], gradients: [[Float]]?) {
    self.probabilities = probabilities
    self.scores = scores
    self.gradients = gradients
  }
}

/// A classifier on masked images: one batched forward pass (and one backward pass for the
/// gradient) per call, over the problems asked for.
public final class ClassifierMaskEvaluator: MaskGradientEvaluator {
  public let classifier: any Classifier
  public let score: SelectionScore
  public let device: Device
  let x: Tensor
  let fill: Tensor
  let target: Tensor
  let oneHot: Tensor
  let shape: (c: Int, h: Int, w: Int)

  /// `images`: normalized C x H x W float32 each; `classes`: the class each is scored toward;
  /// `maskValue`: the fully masked input (nil: zeros, the dataset mean after normalization).
  public init(
    classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], maskValue: [Float]? = nil,
    score: SelectionScore, device: Device = .cpu
  ) throws {
    guard inputShape.count == 3 else { throw SISError.badArgument("the input shape must be (C, H, W), got \(inputShape)") }
    let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
    guard images.allSatisfy({ $0.count == c * h * w }), images.count == classes.count, !images.isEmpty else {
      throw SISError.badArgument("one class per image and \(c * h * w) values per image (shape \(inputShape))")
    }
    if let maskValue, maskValue.count != c * h * w {
      throw SISError.badArgument("the mask value must have \(c * h * w) values (shape \(inputShape)), got \(maskValue.count)")
    }
    self.classifier = classifier
    self.score = score
    self.device = device
    shape = (c, h, w)
    let n = images.count
    x = try Tensor(images.flatMap { $0 }, shape: [n, c, h, w]).to(device)
    fill = try Tensor(maskValue ?? [Float](repeating: 0, count: c * h * w), shape: [1, c, h, w]).to(device)
    target = try Tensor(classes.map { Int64($0) }, shape: [n, 1]).to(device)
    let numClasses = classifier.info.numClasses
    var hot = [Bool](repeating: false, count: n * numClasses)
    for (i, k) in classes.enumerated() { hot[i * numClasses + k] = true }
    oneHot = try Tensor(hot, shape: [n, numClasses]).to(device)
  }

  public var problemCount: Int { x.shape[0] }
  public var pixelCount: Int { shape.h * shape.w }

  public func evaluate(_ problems: [Int], masks: [[Bool]], withGradient: Bool) throws -> MaskEvaluation {
    let b = problems.count
    let (h, w) = (shape.h, shape.w)
    let all = problems == Array(0..<problemCount)
    let index = all ? nil : try Tensor(problems.map { Int64($0) }, shape: [b]).to(device)
    let xs = try index.map { try x.indexSelect(dim: 0, $0) } ?? x
    let targets = try index.map { try target.indexSelect(dim: 0, $0) } ?? target
    let m = try Tensor(masks.flatMap { $0.map { $0 ? Float(1) : 0 } }, shape: [b, 1, h, w]).to(device)
    if withGradient { try m.setRequiresGrad(true) }
    return try (withGradient ? withGrad : withNoGrad) {
      let input = try xs * (try Tensor.ones([b, 1, h, w], device: device) - m) + fill * m
      let logits = try classifier.logits(input)
      let logp = try NN.logSoftmax(logits, dim: 1).gather(dim: 1, targets)
      let probs = try logp.exp()
      let s: Tensor
      switch score {
      case .prob: s = probs
      case .logprob: s = logp
      case .margin:
        let own = try logits.gather(dim: 1, targets)
        let hot = try index.map { try oneHot.indexSelect(dim: 0, $0) } ?? oneHot
        s = try own - (try logits.maskedFill(hot, -1e30).max(dims: [1], keepDim: true))
      }
      var gradients: [[Float]]?
      if withGradient {
        guard let g = try Autograd.gradients(of: try s.sum(), withRespectTo: [m])[0]?.floats() else {
          throw SISError.badArgument("the score does not depend on the mask")
        }
        let p = h * w
        gradients = (0..<b).map { Array(g[($0 * p)..<(($0 + 1) * p)]) }
      }
      return MaskEvaluation(probabilities: try probs.detach().floats(), scores: try s.detach().floats(), gradients: gradients)
    }
  }
}

/// An analytic function of the mask, for tests and for callers with their own models:
/// `f(problem, mask)` returns the probability, the score and ∂score/∂M at that mask (M as 0/1
/// values, one per pixel).
public struct FunctionMaskEvaluator: MaskGradientEvaluator {
  public let problemCount: Int
  public let pixelCount: Int
  let f: (_ problem: Int, _ mask: [Float]) -> (probability: Float, score: Float, gradient: [Float])

  public init(
    problems: Int, pixels: Int,
    _ f: @escaping (_ problem: Int, _ mask: [Float]) -> (probability: Float, score: Float, gradient: [Float])
  ) {
    problemCount = problems
    pixelCount = pixels
    self.f = f
  }

  public func evaluate(_ problems: [Int], masks: [[Bool]], withGradient: Bool) throws -> MaskEvaluation {
    let out = zip(problems, masks).map { f($0, $1.map { $0 ? Float(1) : 0 }) }
    return MaskEvaluation(
      probabilities: out.map(\.probability), scores: out.map(\.score), gradients: withGradient ? out.map(\.gradient) : nil)
  }
}
