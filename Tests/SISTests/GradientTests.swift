import Foundation
import Models
import Testing
import Torch

@testable import SIS

/// Logit of class 0 = sum of w_j * x_j over the 16 one-channel pixels, 9 other logits 0: a linear
/// model where masking pixel j (value 0) lowers the class-0 logit by exactly w_j x_j.
final class LinearClassifier: Classifier {
  let weights: [Float]
  let info = ModelInfo(architecture: "linear", classNames: (0..<10).map { "c\($0)" }, inputShape: [1, 4, 4], normalization: .unit)

  init(weights: [Float]) { self.weights = weights }

  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    let n = x.shape[0]
    let w = try Tensor(weights, shape: [16, 1])
    let z0 = try x.reshape([n, 16]).matmul(w)
    return try Tensor.cat([z0, try Tensor.zeros([n, 9])], dim: 1)
  }
}

/// A LinearClassifier that counts the images it is asked to evaluate.
final class CountingLinear: Classifier {
  let base: LinearClassifier
  var images = 0
  var info: ModelInfo { base.info }
  init(weights: [Float]) { base = LinearClassifier(weights: weights) }
  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    images += x.shape[0]
    return try base.logits(x, training: training)
  }
}

@Suite struct GradientTests {
  let weights: [Float] = [0.5, 0.1, 0.7, 0.3, 0.9, 0.2, 0.8, 0.4, 0.6, 0.25, 0.75, 0.35, 0.15, 0.45, 0.55, 0.65]
  var image: [Float] { [Float](repeating: 1, count: 16) }

  @Test(arguments: [SelectionScore.prob, .logprob, .margin])
  func kOneOnALinearModelGivesTheExactOrder(score: SelectionScore) throws {
    let net = LinearClassifier(weights: weights)
    let g = try gradientBackSelect(classifier: net, images: [image], classes: [0], inputShape: [1, 4, 4], k: 1, score: score)[0]
    let scorer = try ClassifierScorer(classifier: net, images: [image], classes: [0], layout: .pixels([1, 4, 4]), score: score)
    let exact = try backSelect(problems: 1, featureCount: 16, scorer: scorer)[0]
    #expect(g.order == exact.order)
    #expect(zip(g.values, exact.values).allSatisfy { abs($0 - $1) < 1e-5 })
  }

  @Test func blocksOfKAndEverySISIsSufficient() throws {
    let net = LinearClassifier(weights: weights)
    let images = [image, image.enumerated().map { Float($0.offset % 3) * 0.5 }]
    let results = try gradientBackSelect(classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 3, score: .logprob)
    for (i, r) in results.enumerated() {
      #expect(r.order.count == 16 && Set(r.order).count == 16)
      // Values are constant within each block of 3 (the last block has 1 pixel).
      for b in stride(from: 0, to: 15, by: 3) { #expect(Set(r.values[b..<min(b + 3, 16)]).count == 1) }
      let full = try NN.softmax(try net.logits(try Tensor(images[i], shape: [1, 1, 4, 4])), dim: 1).floats()[0]
      for tau: Float in [0.2, 0.3, 0.5] {
        guard case .sis(let s) = findSIS(order: r.order, values: r.values, fullInput: full, threshold: tau) else { continue }
        var x = [Float](repeating: 0, count: 16)
        for f in s { x[f] = images[i][f] }
        let p = try NN.softmax(try net.logits(try Tensor(x, shape: [1, 1, 4, 4])), dim: 1).floats()[0]
        #expect(p >= tau, "image \(i) tau \(tau): f(SIS) = \(p)")
        // Blocks are 3,3,3,3,3,1 pixels: a SIS is a run of whole blocks from the end.
        #expect(s.isEmpty || (s.count - 1) % 3 == 0, "SIS of \(s.count) pixels is not a union of final blocks")
      }
    }
  }

  @Test func topKMatchesSortingWithTiesToTheLowestIndex() {
    var state: UInt64 = 11
    for trial in 0..<200 {
      let n = 1 + trial % 37
      let features = (0..<(n * 2)).filter { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 62 != 0
      }
      let values = (0..<(n * 2)).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 61)  // 8 distinct values: many ties
      }
      let k = 1 + trial % 9
      let (block, leftOut) = topK(features, k: k) { values[$0] }
      let ranked = features.sorted { (values[$0], -$0) > (values[$1], -$1) }
      #expect(block == Array(ranked.prefix(k)))
      #expect(leftOut == (ranked.count > k ? values[ranked[k]] : nil))
    }
  }

  @Test func hybridIsGradientWhileFarAboveTheSwitchThenExact() throws {
    let net = LinearClassifier(weights: weights)
    let images = [image, image.enumerated().map { Float($0.offset % 3) * 0.5 + 0.5 }]
    let switchAt: Float = 0.9
    let hybrid = try hybridBackSelect(
      classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 4, switchProbability: switchAt, exactLast: 0,
      score: .logprob, chunk: 7)
    let gradient = try gradientBackSelect(classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 4, score: .logprob)
    for (i, r) in hybrid.enumerated() {
      #expect(r.order.count == 16 && Set(r.order).count == 16 && r.values.count == 16)
      // The gradient phase: whole blocks of the gradient run, each leaving f >= the switch level.
      let cut = r.values.firstIndex { $0 < switchAt } ?? 16
      let gradientPart = cut - cut % 4
      #expect(gradientPart >= 4, "image \(i): no gradient block was kept (values \(r.values))")
      #expect(Array(r.order[..<gradientPart]) == Array(gradient[i].order[..<gradientPart]))
      #expect(r.values[..<gradientPart].allSatisfy { $0 >= switchAt })
      // The rest: exact BackSelect over the pixels the gradient phase left.
      var masked = [Bool](repeating: false, count: 16)
      for f in r.order[..<gradientPart] { masked[f] = true }
      let scorer = try ClassifierScorer(classifier: net, images: [images[i]], classes: [0], layout: .pixels([1, 4, 4]), score: .logprob)
      let exact = try backSelect(problems: 1, featureCount: 16, initiallyMasked: [masked], scorer: scorer)[0]
      #expect(Array(r.order[gradientPart...]) == exact.order)
      // Any SIS at a threshold up to the switch level is sufficient and lies in the exact part.
      let full = try NN.softmax(try net.logits(try Tensor(images[i], shape: [1, 1, 4, 4])), dim: 1).floats()[0]
      if case .sis(let sis) = findSIS(order: r.order, values: r.values, fullInput: full, threshold: 0.5) {
        #expect(Set(sis).isSubset(of: Set(r.order[gradientPart...])))
        var x = [Float](repeating: 0, count: 16)
        for f in sis { x[f] = images[i][f] }
        #expect(try NN.softmax(try net.logits(try Tensor(x, shape: [1, 1, 4, 4])), dim: 1).floats()[0] >= 0.5)
      }
    }
    // Switching at once (level above f(x)) is exact BackSelect; never switching is the gradient method.
    let allExact = try hybridBackSelect(
      classifier: net, images: [image], classes: [0], inputShape: [1, 4, 4], k: 4, switchProbability: 1, exactLast: 0, score: .logprob, chunk: 16)[0]
    let scorer = try ClassifierScorer(classifier: net, images: [image], classes: [0], layout: .pixels([1, 4, 4]), score: .logprob)
    #expect(allExact.order == (try backSelect(problems: 1, featureCount: 16, scorer: scorer)[0]).order)
    let never = try hybridBackSelect(
      classifier: net, images: [image], classes: [0], inputShape: [1, 4, 4], k: 4, switchProbability: 0, exactLast: 0, score: .logprob, chunk: 16)[0]
    #expect(never.order == gradient[0].order)
    // exactLast: the exact phase orders the last 6 pixels whatever the probability.
    let last = try hybridBackSelect(
      classifier: net, images: [image], classes: [0], inputShape: [1, 4, 4], k: 4, switchProbability: 0, exactLast: 6, score: .logprob, chunk: 16)[0]
    #expect(Array(last.order[..<12]) == Array(gradient[0].order[..<12]))
  }

  /// Images of a group that left the gradient phase (or finished) are not evaluated any more:
  /// together they cost exactly the evaluations they cost one at a time, with the same results.
  @Test func groupsCostWhatTheirImagesCostAlone() throws {
    let images = [
      image, image.map { $0 * 0.6 }, image.enumerated().map { $0.offset < 8 ? 2.5 : 1.5 },
    ]
    for exactLast in [0, 5] {
      let together = CountingLinear(weights: weights)
      let grouped = try hybridBackSelect(
        classifier: together, images: images, classes: [0, 0, 0], inputShape: [1, 4, 4], k: 2, switchProbability: 0.9,
        exactLast: exactLast, score: .logprob, chunk: 7)
      var alone = 0
      for (i, img) in images.enumerated() {
        let net = CountingLinear(weights: weights)
        let r = try hybridBackSelect(
          classifier: net, images: [img], classes: [0], inputShape: [1, 4, 4], k: 2, switchProbability: 0.9, exactLast: exactLast,
          score: .logprob, chunk: 7)[0]
        alone += net.images
        #expect(grouped[i].order == r.order, "image \(i), exactLast \(exactLast)")
        #expect(zip(grouped[i].values, r.values).allSatisfy { abs($0 - $1) < 1e-6 })
      }
      #expect(together.images == alone, "exactLast \(exactLast): \(together.images) images evaluated together, \(alone) alone")
    }
  }

  @Test func realNetworkBatchRuns() throws {
    try Runtime.manualSeed(5)
    let net = try Architecture.resnet20.build(inputSize: 8)
    let images = (0..<3).map { i in (0..<192).map { Float(sin(Double($0 * (i + 1)) * 0.1)) } }
    let x = try Tensor(images.flatMap { $0 }, shape: [3, 3, 8, 8])
    let classes = try withNoGrad { try net.logits(x).argmax(dim: 1).ints() }
    let results = try gradientBackSelect(classifier: net, images: images, classes: classes, inputShape: [3, 8, 8], k: 10, score: .logprob)
    #expect(results.allSatisfy { Set($0.order) == Set(0..<64) })
  }
}
