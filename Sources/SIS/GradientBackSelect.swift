import Foundation
import Models
import Torch

/// Batched Gradient BackSelect (the paper's section S5), for images too large for exact
/// backward selection. With a pixel mask M (1 = masked) and the masked input
/// x ⊙ (1 − M) + m ⊙ M (m: the fully masked input, zeros after normalization by default), each
/// iteration computes the gradient of the score toward the class c with respect to M and masks,
/// as one block, the `k` unmasked pixels with the largest gradient (masking them is predicted
/// to lower the score least; ties go to the lowest index). All images of the batch advance
/// together.
///
/// The result uses the exact version's layout, so the store, FindSIS and the k% subsets work
/// unchanged: `order` lists pixels block after block, and every pixel of a block carries the
/// probability measured by a forward pass after that block was masked. FindSIS therefore cuts
/// only at block boundaries, and every SIS it returns had f(x_S) ≥ τ measured on exactly x_S.
/// `exactTies` counts iterations whose k-th chosen gradient equals the best pixel left out.
///
/// `maxIterations` stops early (for benchmarks): the results then hold only the blocks masked
/// so far. `onCost` receives what the whole batch cost, once, at the end.
public func gradientBackSelect(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], k: Int, maskValue: [Float]? = nil,
  score: SelectionScore, device: Device = .cpu, maxIterations: Int? = nil, onIteration: ((Int) -> Void)? = nil,
  onCost: ((SelectionCost) -> Void)? = nil
) throws -> [BackSelectResult] {
  let phase = try gradientPhase(
    classifier: classifier, images: images, classes: classes, inputShape: inputShape, k: k, maskValue: maskValue, score: score,
    device: device, switchBelow: nil, capAtFullImage: false, exactLast: nil, setAside: false, maxIterations: maxIterations,
    onIteration: onIteration)
  onCost?(phase.cost)
  return phase.results
}

/// What a backward selection cost, summed over the images of a batch: image evaluations with a
/// gradient (one forward and one backward pass through the model per image) and without (one
/// forward pass per image, or per candidate in exact selection).
public struct SelectionCost: Sendable, Equatable {
  public var gradientPasses: Int
  public var forwardPasses: Int

  public init(gradientPasses: Int = 0, forwardPasses: Int = 0) {
    self.gradientPasses = gradientPasses
    self.forwardPasses = forwardPasses
  }
}

/// Hybrid BackSelect: Batched Gradient BackSelect while the class probability stays far above
/// the threshold, exact BackSelect for the last part, where the SIS is decided. Gradient blocks
/// of `k` pixels are masked as long as the probability measured after a block is at least
/// `switchProbability` and more than `exactLast` pixels are left; the block that took the
/// probability below `switchProbability` is put back, and exact backward selection (one pixel
/// at a time, every candidate evaluated) orders all pixels still unmasked. Any SIS at a
/// threshold τ ≤ `switchProbability` therefore comes from the exact phase: it is the exact
/// SIS of the image restricted to the pixels the gradient phase left. Costs about p/k gradient
/// passes plus r(r+1)/2 forward passes, r being the pixels left at the switch; `onCost`
/// receives the counts of both, summed over the batch, once at the end.
///
/// With `setAside`, a block that takes the probability below `switchProbability` does not end
/// the gradient phase: it is put back, its pixels are kept for the exact phase, and the next
/// gradient pass (at the restored mask) chooses the next block among the other pixels. The
/// gradient phase then ends when at most `exactLast` pixels are left besides those set aside
/// (or the unmasked image is itself below the switch level), and the exact phase orders every
/// unmasked pixel, set-aside ones included. Every probability the gradient phase keeps is at
/// least `switchProbability`, so the guarantee above holds; the gradient path of a model is often
/// not monotone (one block dips, later ones recover), where this keeps the exact phase small.
///
/// With `capAtFullImage`, an image whose probability on the full image (as the gradient phase
/// measures it) is below `switchProbability` uses that probability as its switch level, instead of
/// going straight to the exact phase. No SIS exists at a threshold above the full image's
/// probability, so the guarantee is the same for every threshold at which a SIS exists: any SIS
/// at τ ≤ `switchProbability` comes from the exact phase.
public func hybridBackSelect(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], k: Int, switchProbability: Float,
  capAtFullImage: Bool = false, exactLast: Int, setAside: Bool = false, maskValue: [Float]? = nil, score: SelectionScore,
  chunk: Int, device: Device = .cpu,
  onProgress: ((Int) -> Void)? = nil, onCost: ((SelectionCost) -> Void)? = nil
) throws -> [BackSelectResult] {
  guard switchProbability >= 0 && switchProbability <= 1 else {
    throw SISError.badArgument("the switch probability must be in [0, 1], got \(switchProbability)")
  }
  let phase = try gradientPhase(
    classifier: classifier, images: images, classes: classes, inputShape: inputShape, k: k, maskValue: maskValue, score: score,
    device: device, switchBelow: switchProbability, capAtFullImage: capAtFullImage, exactLast: exactLast, setAside: setAside,
    maxIterations: nil
  ) { _ in onProgress?(k * images.count) }
  let layout = FeatureLayout.pixels(inputShape)
  let scorer = try ClassifierScorer(
    classifier: classifier, images: images, classes: classes, layout: layout, maskValue: maskValue, score: score, chunk: chunk,
    device: device)
  let exact = try backSelect(problems: images.count, featureCount: layout.count, initiallyMasked: phase.masked, scorer: scorer) {
    onProgress?($0)
  }
  onCost?(SelectionCost(gradientPasses: phase.cost.gradientPasses, forwardPasses: phase.cost.forwardPasses + scorer.evaluations))
  var results: [BackSelectResult] = []
  for (g, e) in zip(phase.results, exact) {
    let order: [Int] = g.order + e.order
    let values: [Float] = g.values + e.values
    let scores: [Float] = g.scores + e.scores
    results.append(
      BackSelectResult(order: order, values: values, scores: scores, exactTies: g.exactTies + e.exactTies, nearTies: g.nearTies + e.nearTies))
  }
  return results
}

/// The gradient iterations. An image leaves the gradient phase when the probability after its
/// last block is below `switchBelow` (that block is unmasked again and dropped from its result;
/// with `setAside` the image stays and the block's pixels are no longer offered) or when at most
/// `exactLast` pixels are left unmasked besides the set-aside ones. With `capAtFullImage` the
/// level of an image is at most its probability on the full image, measured by the first pass.
func gradientPhase(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], k: Int, maskValue: [Float]?,
  score: SelectionScore, device: Device, switchBelow: Float?, capAtFullImage: Bool, exactLast: Int?, setAside: Bool,
  maxIterations: Int?, onIteration: ((Int) -> Void)?
) throws -> (results: [BackSelectResult], masked: [[Bool]], cost: SelectionCost) {
  guard k >= 1 else { throw SISError.badArgument("--k must be at least 1, got \(k)") }
  let n = images.count
  let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
  let p = h * w
  let x = try Tensor(images.flatMap { $0 }, shape: [n, c, h, w]).to(device)
  let fill = try Tensor(maskValue ?? [Float](repeating: 0, count: c * p), shape: [1, c, h, w]).to(device)
  let target = try Tensor(classes.map { Int64($0) }, shape: [n, 1]).to(device)
  var masked = [[Bool]](repeating: [Bool](repeating: false, count: p), count: n)
  var results = [BackSelectResult](repeating: BackSelectResult(order: [], values: [], scores: [], exactTies: 0, nearTies: 0), count: n)
  var pendingBlock = [[Int]](repeating: [], count: n)
  var reserved = [[Bool]](repeating: [Bool](repeating: false, count: p), count: n)
  /// Pixels of image `i` a gradient block may still take: unmasked and not set aside.
  func offered(_ i: Int) -> [Int] { (0..<p).filter { !masked[i][$0] && !reserved[i][$0] } }
  let numClasses = classifier.info.numClasses
  var hot = [Bool](repeating: false, count: n * numClasses)
  for (i, c) in classes.enumerated() { hot[i * numClasses + c] = true }
  let oneHot = try Tensor(hot, shape: [n, numClasses]).to(device)

  /// Probabilities (and scores) of the current masked inputs of `rows` (in that order); with
  /// gradients wrt the mask if asked (row-major, p values per row). Images that left the
  /// gradient phase are not evaluated.
  var cost = SelectionCost()
  func evaluate(_ rows: [Int], _ withGradient: Bool) throws -> (probs: [Float], scores: [Float], gradient: [Float]?) {
    let b = rows.count
    if withGradient { cost.gradientPasses += b } else { cost.forwardPasses += b }
    let all = b == n
    let index = all ? nil : try Tensor(rows.map { Int64($0) }, shape: [b]).to(device)
    let xs = try index.map { try x.indexSelect(dim: 0, $0) } ?? x
    let targets = try index.map { try target.indexSelect(dim: 0, $0) } ?? target
    let m = try Tensor(rows.flatMap { masked[$0].map { $0 ? Float(1) : 0 } }, shape: [b, 1, h, w]).to(device)
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
        let others = try logits.maskedFill(hot, -1e30).max(dims: [1], keepDim: true)
        s = try own - others
      }
      var gradient: [Float]?
      if withGradient {
        gradient = try Autograd.gradients(of: try s.sum(), withRespectTo: [m])[0]?.floats()
      }
      return (try probs.detach().floats(), try s.detach().floats(), gradient)
    }
  }

  var iteration = 0
  var active = [Bool](repeating: true, count: n)
  var level = [Float?](repeating: switchBelow, count: n)
  while iteration < (maxIterations ?? .max) {
    // Images still in the gradient phase: features left to mask, or a block whose value is pending.
    let rows = (0..<n).filter { active[$0] && (masked[$0].contains(false) || !pendingBlock[$0].isEmpty) }
    guard rows.contains(where: { masked[$0].contains(false) }) else { break }
    let (probs, scores, gradient) = try evaluate(rows, true)
    guard let g = gradient else { throw SISError.badArgument("the score does not depend on the mask") }
    for (r, i) in rows.enumerated() {
      if iteration == 0, capAtFullImage, let l = level[i] { level[i] = min(l, probs[r]) }
      if let switchBelow = level[i], probs[r] < switchBelow {
        // The last block took the probability below the switch level: put it back. Without a
        // block (the image as it stands is below the level) the gradient phase ends.
        let block = pendingBlock[i]
        for f in block { masked[i][f] = false }
        results[i].order.removeLast(block.count)
        pendingBlock[i] = []
        if setAside && !block.isEmpty {
          // Keep its pixels for the exact phase; the next pass chooses at the restored mask.
          for f in block { reserved[i][f] = true }
          if offered(i).count <= (exactLast ?? 0) { active[i] = false }
        } else {
          active[i] = false
        }
        continue
      }
      // Values of the previous block: f after it was masked, measured now.
      for _ in pendingBlock[i] {
        results[i].values.append(probs[r])
        results[i].scores.append(scores[r])
      }
      pendingBlock[i] = []
      let free = offered(i)
      if let exactLast, free.count <= exactLast {
        active[i] = false
        continue
      }
      let (block, bestLeftOut) = topK(free, k: k) { g[r * p + $0] }
      if let last = block.last, let bestLeftOut {
        if g[r * p + last] == bestLeftOut { results[i].exactTies += 1 }
        if abs(g[r * p + last] - bestLeftOut) <= 1e-6 { results[i].nearTies += 1 }
      }
      for f in block { masked[i][f] = true }
      results[i].order += block
      pendingBlock[i] = block
    }
    iteration += 1
    onIteration?(iteration)
  }
  // The fully masked input closes the last block.
  let closing = (0..<n).filter { !pendingBlock[$0].isEmpty }
  if !closing.isEmpty {
    let (probs, scores, _) = try evaluate(closing, false)
    for (r, i) in closing.enumerated() {
      for _ in pendingBlock[i] {
        results[i].values.append(probs[r])
        results[i].scores.append(scores[r])
      }
    }
  }
  return (results, masked, cost)
}

/// The `k` features with the largest `value`, largest first, ties to the lowest index (`features`
/// ascending), and the largest value left out (nil if none is): a bounded min-heap, O(p log k)
/// instead of sorting all p features every iteration.
func topK(_ features: [Int], k: Int, value: (Int) -> Float) -> (block: [Int], bestLeftOut: Float?) {
  // Heap order: the worst kept candidate at the root. A candidate is better if its value is
  // larger, or equal with a lower index.
  func better(_ a: (Float, Int), _ b: (Float, Int)) -> Bool { a.0 > b.0 || (a.0 == b.0 && a.1 < b.1) }
  var heap: [(Float, Int)] = []
  heap.reserveCapacity(k)
  var bestLeftOut: Float?
  func siftDown(_ start: Int) {
    var i = start
    while true {
      let l = 2 * i + 1
      let r = l + 1
      var worst = i
      if l < heap.count, better(heap[worst], heap[l]) { worst = l }
      if r < heap.count, better(heap[worst], heap[r]) { worst = r }
      if worst == i { return }
      heap.swapAt(i, worst)
      i = worst
    }
  }
  for f in features {
    let candidate = (value(f), f)
    if heap.count < k {
      heap.append(candidate)
      var i = heap.count - 1
      while i > 0, better(heap[(i - 1) / 2], heap[i]) {
        heap.swapAt(i, (i - 1) / 2)
        i = (i - 1) / 2
      }
    } else if better(candidate, heap[0]) {
      bestLeftOut = max(bestLeftOut ?? -.infinity, heap[0].0)
      heap[0] = candidate
      siftDown(0)
    } else {
      bestLeftOut = max(bestLeftOut ?? -.infinity, candidate.0)
    }
  }
  return (heap.sorted(by: better).map(\.1), bestLeftOut)
}
