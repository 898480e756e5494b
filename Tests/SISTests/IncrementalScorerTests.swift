import Datasets
import Foundation
import Models
import Testing
import Torch

@testable import SIS

/// `ClassifierScorer` with a model that evaluates one-pixel changes incrementally: the same
/// evaluations as with the whole model, across requests of several images, partly masked inputs,
/// a mask value other than zero and chunks that split requests.
@Suite struct IncrementalScorerTests {
  @Test(arguments: [SelectionScore.prob, .logprob])
  func sameEvaluationsAsTheWholeModel(score: SelectionScore) throws {
    let shape = [3, 10, 10]
    let fused = try Generator.seeded(11) {
      try ResNetCIFAR(depth: .resnet20, inputSize: 10).optimizedForInference(channelsLast: true)
    }
    let images = try (0..<3).map { _ in try Tensor.randn(shape).floats() }
    let mask = (0..<300).map { Float($0 % 7) * 0.1 - 0.3 }
    func scorer(_ incremental: Bool) throws -> ClassifierScorer {
      try ClassifierScorer(
        classifier: fused, images: images, classes: [1, 4, 7], layout: .pixels(shape), maskValue: mask, score: score,
        chunk: 13, incremental: incremental)
    }
    let fast = try scorer(true)
    let whole = try scorer(false)
    #expect(fast.incremental != nil && whole.incremental == nil)
    var masked = [Bool](repeating: false, count: 100)
    for f in stride(from: 0, to: 100, by: 3) { masked[f] = true }
    let requests = [
      CandidateRequest(problem: 2, masked: masked, candidates: [CandidateRequest.none] + (0..<100).filter { !masked[$0] }),
      CandidateRequest(problem: 0, masked: [Bool](repeating: false, count: 100), candidates: [99, 0, 9, 90, 45]),
      CandidateRequest(problem: 2, masked: [Bool](repeating: false, count: 100), candidates: [CandidateRequest.none, 55]),
    ]
    let a = try fast.evaluate(requests)
    let b = try whole.evaluate(requests)
    #expect(a.map(\.count) == b.map(\.count))
    for (x, y) in zip(a.joined(), b.joined()) {
      #expect(Swift.abs(x.probability - y.probability) <= 1e-5)
      #expect(Swift.abs(x.score - y.score) <= 1e-4 * Swift.max(1, Swift.abs(y.score)))
    }
    #expect(fast.evaluations == whole.evaluations)
  }

  @Test func patchFeaturesRunTheWholeModel() throws {
    let fused = try ResNetCIFAR(depth: .resnet20, inputSize: 8).optimizedForInference(channelsLast: true)
    let scorer = try ClassifierScorer(
      classifier: fused, images: [try Tensor.randn([3, 8, 8]).floats()], classes: [0],
      layout: try FeatureLayout(inputShape: [3, 8, 8], patch: 2), score: .prob)
    #expect(scorer.incremental == nil)
    let single = try ClassifierScorer(
      classifier: try ResNetCIFAR(depth: .resnet20, inputSize: 8), images: [try Tensor.randn([3, 8, 8]).floats()],
      classes: [0], layout: .pixels([3, 8, 8]), score: .prob)
    #expect(single.incremental == nil)
    // An ensemble uses it when all its members can.
    let member = try ResNetCIFAR(depth: .resnet20, inputSize: 8)
    for (members, expected) in [([try member.optimizedForInference(channelsLast: true)], true), ([member], false)] {
      let e = try ClassifierScorer(
        classifier: try Ensemble(members + [try member.optimizedForInference(channelsLast: true)]),
        images: [try Tensor.randn([3, 8, 8]).floats()], classes: [0], layout: .pixels([3, 8, 8]), score: .prob)
      #expect((e.incremental != nil) == expected)
    }
  }
}
