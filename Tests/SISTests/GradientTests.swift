import Base
import Foundation
import Models
import Testing
import Torch

@testable import SIS

/// Logit of class 0 = sum of w_j * x_j over the 16 one-channel pixels, 9 other logits 0: a linear
/// model where masking pixel j (value 0) lowers the class-0 logit by exactly w_j x_j.
final class LinearClassifier: Classifier {
  let weights: [Float]
  let info = ModelInfo(
    architecture: "linear", classNames: (0..<10).map { "c\($0)" }, inputShape: [1, 4, 4], normalization: .unit)

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

/// A LinearClassifier plus an interaction that the gradient at the full image cannot see: the
/// class-0 logit loses `penalty` * (1 - x_0)(1 - x_1), so masking pixels 0 and 1 together costs
/// far more than the linear prediction, while masking either costs nothing extra at first order.
final class InteractionClassifier: Classifier {
  let base: LinearClassifier
  let penalty: Float
  var images = 0
  var info: ModelInfo { base.info }
  init(weights: [Float], penalty: Float) {
    base = LinearClassifier(weights: weights)
    self.penalty = penalty
  }
  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    let n = x.shape[0]
    images += n
    let flat = try x.reshape([n, 16])
    let one = try Tensor.ones([n, 1])
    let x0 = try flat.indexSelect(dim: 1, try Tensor([Int64(0)], shape: [1]))
    let x1 = try flat.indexSelect(dim: 1, try Tensor([Int64(1)], shape: [1]))
    let interaction = try (one - x0) * (one - x1) * (try Tensor([penalty], shape: [1, 1]))
    let linear = try base.logits(x, training: training)
    return try linear - Tensor.cat([interaction, try Tensor.zeros([n, 9])], dim: 1)
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
    let results = try gradientBackSelect(
      classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 3, score: .logprob)
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
    let gradient = try gradientBackSelect(
      classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 4, score: .logprob)
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
      let scorer = try ClassifierScorer(
        classifier: net, images: [images[i]], classes: [0], layout: .pixels([1, 4, 4]), score: .logprob)
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
      classifier: net, images: [image], classes: [0], inputShape: [1, 4, 4], k: 4, switchProbability: 1, exactLast: 0,
      score: .logprob, chunk: 16)[0]
    let scorer = try ClassifierScorer(
      classifier: net, images: [image], classes: [0], layout: .pixels([1, 4, 4]), score: .logprob)
    #expect(allExact.order == (try backSelect(problems: 1, featureCount: 16, scorer: scorer)[0]).order)
    let never = try hybridBackSelect(
      classifier: net, images: [image], classes: [0], inputShape: [1, 4, 4], k: 4, switchProbability: 0, exactLast: 0,
      score: .logprob, chunk: 16)[0]
    #expect(never.order == gradient[0].order)
    // exactLast: the exact phase orders the last 6 pixels whatever the probability.
    let last = try hybridBackSelect(
      classifier: net, images: [image], classes: [0], inputShape: [1, 4, 4], k: 4, switchProbability: 0, exactLast: 6,
      score: .logprob, chunk: 16)[0]
    #expect(Array(last.order[..<12]) == Array(gradient[0].order[..<12]))
  }

  /// Pixels 0 and 1 have the largest gradient (weight -0.5: masking them raises the linear
  /// logit) but masking both together drops the probability from 0.9998 to about 0.4. The first
  /// gradient block (k = 2) is {0, 1} and dips below the switch level 0.9. `switch` then runs exact
  /// BackSelect over all 16 pixels; `set-aside` keeps 0 and 1 for the exact phase, masks the blocks
  /// {2, 3} ... {10, 11} (the logit falls by w_j each; the probability stays >= 0.9, at 0.9009
  /// after the last), and with 4 <= exactLast pixels left besides the set-aside ones, orders the
  /// 6 remaining pixels exactly.
  @Test func setAsideSurvivesADipThatSwitchingStopsAt() throws {
    let w: [Float] = [-0.5, -0.5] + (2..<16).map { Float($0) * 0.1 }
    let ones = [Float](repeating: 1, count: 16)
    let switchNet = InteractionClassifier(weights: w, penalty: 10)
    let switched = try hybridBackSelect(
      classifier: switchNet, images: [ones], classes: [0], inputShape: [1, 4, 4], k: 2, switchProbability: 0.9, exactLast: 4,
      score: .logprob, chunk: 16)[0]
    let exactScorer = try ClassifierScorer(
      classifier: InteractionClassifier(weights: w, penalty: 10), images: [ones], classes: [0], layout: .pixels([1, 4, 4]),
      score: .logprob)
    #expect(switched.order == (try backSelect(problems: 1, featureCount: 16, scorer: exactScorer)[0]).order)

    let setAsideNet = InteractionClassifier(weights: w, penalty: 10)
    var cost = SelectionCost()
    let kept = try hybridBackSelect(
      classifier: setAsideNet, images: [ones], classes: [0], inputShape: [1, 4, 4], k: 2, switchProbability: 0.9, exactLast: 4,
      setAside: true, score: .logprob, chunk: 16, onCost: { cost = $0 })[0]
    #expect(Array(kept.order[..<10]) == Array(2...11), "\(kept.order)")
    #expect(kept.values[..<10].allSatisfy { $0 >= 0.9 }, "\(kept.values)")
    // The rest is exact BackSelect over the six pixels still unmasked.
    var masked = [Bool](repeating: false, count: 16)
    for f in 2...11 { masked[f] = true }
    let restScorer = try ClassifierScorer(
      classifier: InteractionClassifier(weights: w, penalty: 10), images: [ones], classes: [0], layout: .pixels([1, 4, 4]),
      score: .logprob)
    let rest = try backSelect(problems: 1, featureCount: 16, initiallyMasked: [masked], scorer: restScorer)[0]
    #expect(Array(kept.order[10...]) == rest.order)
    #expect(Set(kept.order[10...]) == [0, 1, 12, 13, 14, 15])
    // Passes: the gradient phase evaluates the full image, {0,1} masked (dip), the full image
    // again, then after each of the 5 blocks {2,3} ... {10,11}: 8 gradient passes; the exact phase
    // 6 * 7 / 2 = 21 forward passes (against 136 for switching at once).
    #expect(cost == SelectionCost(gradientPasses: 8, forwardPasses: 21), "\(cost)")
    #expect(setAsideNet.images == 8 + 21, "\(setAsideNet.images)")
    // Every SIS up to the switch level comes from the exact part and is sufficient.
    if case .sis(let sis) = findSIS(order: kept.order, values: kept.values, fullInput: 0.9998, threshold: 0.9) {
      #expect(Set(sis).isSubset(of: [0, 1, 12, 13, 14, 15]))
      var x = [Float](repeating: 0, count: 16)
      for f in sis { x[f] = 1 }
      let p = try NN.softmax(try setAsideNet.logits(try Tensor(x, shape: [1, 1, 4, 4])), dim: 1).floats()[0]
      #expect(p >= 0.9, "SIS \(sis): \(p)")
    } else {
      Issue.record("no SIS at 0.9")
    }
  }

  /// An image less confident than the switch level: f(x) = 0.9978 on this linear model (logit
  /// 8.3), switch level 0.999. Uncapped, the hybrid goes straight to exact selection over all 16
  /// pixels (1 gradient pass, 136 forward). Capped at the image's confidence, it masks the blocks
  /// {3, 0} and {1, 2} (negative weights: the probability rises), the third block {4, 5} dips
  /// below f(x) and is put back, and the exact phase orders the other 12 pixels (4 gradient
  /// passes, 78 forward). Both find a sufficient SIS at τ = 0.99 inside their exact part.
  @Test func switchCapLetsALessConfidentImageUseTheGradientPhase() throws {
    let w: [Float] = [-0.3, -0.2, -0.1, -0.4] + (4..<16).map { 0.3 + 0.05 * Float($0) }
    let ones = [Float](repeating: 1, count: 16)
    let full = try NN.softmax(try LinearClassifier(weights: w).logits(try Tensor(ones, shape: [1, 1, 4, 4])), dim: 1).floats()[0]
    #expect(full > 0.997 && full < 0.999)
    func run(cap: Bool) throws -> (BackSelectResult, SelectionCost) {
      var cost = SelectionCost()
      let r = try hybridBackSelect(
        classifier: LinearClassifier(weights: w), images: [ones], classes: [0], inputShape: [1, 4, 4], k: 2,
        switchProbability: 0.999,
        capAtFullImage: cap, exactLast: 0, score: .logprob, chunk: 16, onCost: { cost = $0 })[0]
      return (r, cost)
    }
    let (plain, plainCost) = try run(cap: false)
    #expect(plainCost == SelectionCost(gradientPasses: 1, forwardPasses: 136), "\(plainCost)")
    let (capped, cappedCost) = try run(cap: true)
    #expect(cappedCost == SelectionCost(gradientPasses: 4, forwardPasses: 78), "\(cappedCost)")
    #expect(Array(capped.order[..<4]) == [3, 0, 1, 2], "\(capped.order)")
    #expect(capped.values[..<4].allSatisfy { $0 >= full * (1 - 1e-6) }, "\(capped.values)")
    #expect(Array(capped.order[4...]) == Array(4..<16))
    for (r, exactPart) in [(plain, Set(0..<16)), (capped, Set(4..<16))] {
      guard case .sis(let sis) = findSIS(order: r.order, values: r.values, fullInput: full, threshold: 0.99) else {
        Issue.record("no SIS at 0.99")
        continue
      }
      #expect(Set(sis).isSubset(of: exactPart))
      var x = [Float](repeating: 0, count: 16)
      for f in sis { x[f] = 1 }
      #expect(
        try NN.softmax(try LinearClassifier(weights: w).logits(try Tensor(x, shape: [1, 1, 4, 4])), dim: 1).floats()[0] >= 0.99)
    }
  }

  /// The plan's pilot (`hybridExactPhaseSizes`, the gradient phase alone) finds the exact phase
  /// the hybrid then runs: r pixels cost r(r+1)/2 forward passes there. Cases from the tests above:
  /// a dip set aside (6 pixels), an image below the switch level capped (12) or not (16), and a
  /// group of images with an exactLast floor, where each image is checked by running it alone.
  @Test func pilotFindsTheExactPhaseTheHybridRuns() throws {
    let ones = [Float](repeating: 1, count: 16)
    let dip: [Float] = [-0.5, -0.5] + (2..<16).map { Float($0) * 0.1 }
    #expect(
      try hybridExactPhaseSizes(
        classifier: InteractionClassifier(weights: dip, penalty: 10), images: [ones], classes: [0], inputShape: [1, 4, 4],
        k: 2, switchProbability: 0.9, exactLast: 4, setAside: true, score: .logprob) == [6])
    let low: [Float] = [-0.3, -0.2, -0.1, -0.4] + (4..<16).map { 0.3 + 0.05 * Float($0) }
    for (cap, r) in [(false, 16), (true, 12)] {
      #expect(
        try hybridExactPhaseSizes(
          classifier: LinearClassifier(weights: low), images: [ones], classes: [0], inputShape: [1, 4, 4], k: 2,
          switchProbability: 0.999, capAtFullImage: cap, exactLast: 0, score: .logprob) == [r])
    }
    let images = [image, image.map { $0 * 0.6 }, image.enumerated().map { $0.offset < 8 ? 2.5 : 1.5 }]
    for exactLast in [0, 5] {
      let sizes = try hybridExactPhaseSizes(
        classifier: LinearClassifier(weights: weights), images: images, classes: [0, 0, 0], inputShape: [1, 4, 4], k: 2,
        switchProbability: 0.9, exactLast: exactLast, score: .logprob)
      // The gradient phase stops with at most exactLast pixels left: one block (k = 2) below it at worst.
      #expect(sizes.count == 3 && sizes.allSatisfy { $0 > exactLast - 2 && $0 <= 16 }, "\(sizes)")
      for (i, img) in images.enumerated() {
        var cost = SelectionCost()
        _ = try hybridBackSelect(
          classifier: LinearClassifier(weights: weights), images: [img], classes: [0], inputShape: [1, 4, 4], k: 2,
          switchProbability: 0.9, exactLast: exactLast, score: .logprob, chunk: 7, onCost: { cost = $0 })
        // At most one more forward pass: the gradient phase's measurement of its last block.
        let exact = sizes[i] * (sizes[i] + 1) / 2
        #expect(cost.forwardPasses == exact || cost.forwardPasses == exact + 1, "image \(i): r \(sizes[i]), \(cost)")
      }
    }
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
    let net = try Generator.seeded(5) { try Architecture.resnet20.build(inputSize: 8) }
    let images = (0..<3).map { i in (0..<192).map { Float(sin(Double($0 * (i + 1)) * 0.1)) } }
    let x = try Tensor(images.flatMap { $0 }, shape: [3, 3, 8, 8])
    let classes = try withNoGrad { try net.logits(x).argmax(dim: 1).ints() }
    let results = try gradientBackSelect(
      classifier: net, images: images, classes: classes, inputShape: [3, 8, 8], k: 10, score: .logprob)
    #expect(results.allSatisfy { Set($0.order) == Set(0..<64) })
  }
}
