import Models
import Testing
import Torch

@testable import SIS

/// `Selector(foldBatchNorm:)`: exact selection scored by the BN-folded, channels-last model (the
/// fast method's scorer) is exact selection of the model as loaded, up to float32 rounding.
@Suite struct FoldedSelectionTests {
  @Test(arguments: [SelectionScore.prob, .logprob])
  func foldedExactPicksAreExactPicksOfTheLoadedModel(score: SelectionScore) throws {
    let shape = [3, 6, 6]
    let net = try Generator.seeded(5) { try ResNetCIFAR(depth: .resnet20, inputSize: 6) }
    let images = try Generator.seeded(6) { try (0..<2).map { _ in try Tensor.randn(shape).floats() } }
    let classes = [2, 7]
    let settings = SelectionSettings(score: score, method: .exact, chunk: 16, group: 2)
    let folded = try Selector(settings: settings, classifier: net, layout: .pixels(shape), foldBatchNorm: true)
    let plain = try Selector(settings: settings, classifier: net, layout: .pixels(shape))
    #expect(!(folded.scoring is ResNetCIFAR) && plain.scoring is ResNetCIFAR)
    let (results, _) = try folded.select(images: images, classes: classes)

    // Every pick of the folded run is a best candidate of the loaded model at that step, within
    // float32 rounding, and its stored value is the loaded model's.
    let loaded = try ClassifierScorer(
      classifier: net, images: images, classes: classes, layout: .pixels(shape), score: score, chunk: 16)
    for (problem, result) in results.enumerated() {
      #expect(result.order.count == 36 && Set(result.order).count == 36)
      var masked = [Bool](repeating: false, count: 36)
      for (step, pick) in result.order.enumerated() {
        let candidates = (0..<36).filter { !masked[$0] }
        let evals = try loaded.evaluate([CandidateRequest(problem: problem, masked: masked, candidates: candidates)])[0]
        let best = evals.map(\.score).max()!
        let chosen = evals[candidates.firstIndex(of: pick)!]
        #expect(chosen.score >= best - 1e-4 * Swift.max(1, Swift.abs(best)), "step \(step)")
        #expect(Swift.abs(Double(result.values[step]) - chosen.probability) <= 1e-5, "step \(step)")
        masked[pick] = true
      }
    }
  }

  @Test func theGradientMethodIgnoresFolding() throws {
    let net = try Generator.seeded(5) { try ResNetCIFAR(depth: .resnet20, inputSize: 6) }
    let selector = try Selector(
      settings: SelectionSettings(method: .gradient, k: 4), classifier: net, layout: .pixels([3, 6, 6]),
      foldBatchNorm: true)
    #expect(selector.scoring is ResNetCIFAR)
  }
}
