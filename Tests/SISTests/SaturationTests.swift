import Foundation
import Models
import Testing
import Torch

@testable import SIS

/// A linear "classifier" over 16 one-channel pixels whose class-0 logit is 40 minus the weights of
/// the masked pixels (other 9 logits 0), so the float32 softmax of class 0 is exactly 1.0 until
/// most of the evidence is gone: the saturation issue 8 describes. Runs through libtorch's softmax.
final class SaturatingClassifier: Classifier {
  let weights: [Float]
  let info = ModelInfo(
    architecture: "saturating", classNames: (0..<10).map { "c\($0)" }, inputShape: [1, 4, 4], normalization: .unit)

  init(weights: [Float]) { self.weights = weights }

  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    // Unmasked pixels hold 1, masked ones 0: logit0 = 40 - sum(w * (1 - x)).
    let n = x.shape[0]
    let w = try Tensor(weights, shape: [1, 16])
    let missing = try (try Tensor.ones([n, 16]) - x.reshape([n, 16])) * w
    let z0 = try (try missing.sum(dims: [1], keepDim: true) * -1) + 40
    return try Tensor.cat([z0, try Tensor.zeros([n, 9])], dim: 1)
  }
}

@Suite struct SaturationTests {
  let weights: [Float] = [5, 1, 7, 3, 9, 2, 8, 4, 6, 2.5, 7.5, 3.5, 1.5, 4.5, 5.5, 6.5]

  func run(_ score: SelectionScore) throws -> BackSelectResult {
    let net = SaturatingClassifier(weights: weights)
    let scorer = try ClassifierScorer(
      classifier: net, images: [[Float](repeating: 1, count: 16)], classes: [0], layout: .pixels([1, 4, 4]), score: score,
      chunk: 7)
    return try backSelect(problems: 1, featureCount: 16, scorer: scorer)[0]
  }

  @Test func probDegeneratesToRasterOrderWhileSaturated() throws {
    let r = try run(.prob)
    // While the probability is exactly 1.0, the candidates that keep it there tie and the lowest
    // index wins: raster order, although pixel 1 carries the least evidence.
    let saturatedSteps = r.values.prefix { $0 == 1 }.count
    #expect(saturatedSteps >= 4)
    #expect(Array(r.order.prefix(4)) == [0, 1, 2, 3])
    #expect(r.exactTies >= 4)
  }

  @Test func logprobFollowsTheTrueOrder() throws {
    let r = try run(.logprob)
    // The least important pixel (smallest weight) goes first, all the way through.
    let trueOrder = weights.indices.sorted { (weights[$0], $0) < (weights[$1], $1) }
    #expect(r.order == trueOrder)
    #expect(r.exactTies == 0)
  }

  @Test func bothSISSatisfyTheThreshold() throws {
    let net = SaturatingClassifier(weights: weights)
    for score in [SelectionScore.prob, .logprob, .margin] {
      let r = try run(score)
      guard case .sis(let s) = findSIS(order: r.order, values: r.values, fullInput: 1, threshold: 0.99) else {
        Issue.record("no SIS under \(score)")
        continue
      }
      // Evaluate f on the SIS alone.
      var x = [Float](repeating: 0, count: 16)
      for f in s { x[f] = 1 }
      let p = try NN.softmax(try net.logits(try Tensor(x, shape: [1, 1, 4, 4])), dim: 1).floats()[0]
      #expect(p >= 0.99, "\(score): f(SIS) = \(p)")
    }
  }

  @Test func marginOrdersLikeLogprobHere() throws {
    #expect(try run(.margin).order == (try run(.logprob)).order)
  }

  /// Saturated steps that end early (two candidates at probability 1.0 among the first `probe`)
  /// decide exactly as evaluating every candidate does, ties counted, with fewer evaluations.
  @Test(arguments: [2, 3, 5])
  func earlyEndedStepsDecideAsFullSteps(probe: Int) throws {
    let net = SaturatingClassifier(weights: weights)
    func scorer(_ score: SelectionScore) throws -> ClassifierScorer {
      try ClassifierScorer(
        classifier: net, images: [[Float](repeating: 1, count: 16)], classes: [0], layout: .pixels([1, 4, 4]), score: score,
        chunk: 7)
    }
    for score in [SelectionScore.prob, .logprob] {
      let early = try scorer(score)
      let full = try scorer(score)
      let a = try backSelect(problems: 1, featureCount: 16, scorer: early, probe: probe)[0]
      let b = try backSelect(problems: 1, featureCount: 16, scorer: WithoutCeiling(base: full))[0]
      #expect(a == b, "\(score), probe \(probe)")
      if score == .prob {
        #expect(early.evaluations < full.evaluations, "probe \(probe): \(early.evaluations) vs \(full.evaluations)")
      }
    }
  }
}

/// A scorer with its score ceiling hidden: BackSelect evaluates every candidate of every step.
struct WithoutCeiling<S: CandidateScorer>: CandidateScorer {
  let base: S
  func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] { try base.evaluate(requests) }
}
