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
  evaluator: some MaskGradientEvaluator, k: Int, maxIterations: Int? = nil, onIteration: ((Int) -> Void)? = nil,
  onCost: ((SelectionCost) -> Void)? = nil
) throws -> [BackSelectResult] {
  var phase = try GradientPhase(
    evaluator: evaluator, k: k, switchBelow: nil, capAtFullImage: false, exactLast: nil, setAside: false)
  try phase.run(maxIterations: maxIterations, onIteration: onIteration)
  onCost?(phase.cost)
  return phase.results
}

/// `gradientBackSelect` on a classifier: `images` normalized (C x H x W float32 each), scored
/// toward `classes`.
public func gradientBackSelect(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], k: Int, maskValue: [Float]? = nil,
  score: SelectionScore, device: Device = .cpu, maxIterations: Int? = nil, onIteration: ((Int) -> Void)? = nil,
  onCost: ((SelectionCost) -> Void)? = nil
) throws -> [BackSelectResult] {
  let evaluator = try ClassifierMaskEvaluator(
    classifier: classifier, images: images, classes: classes, inputShape: inputShape, maskValue: maskValue, score: score,
    device: device)
  return try gradientBackSelect(
    evaluator: evaluator, k: k, maxIterations: maxIterations, onIteration: onIteration, onCost: onCost)
}

/// What a backward selection cost, summed over the images of a batch: image evaluations with a
/// gradient (one forward and one backward pass through the model per image) and without (one
/// forward pass per image, or per candidate in exact selection).
public struct SelectionCost: Sendable, Equatable {
  public var gradientPasses: Int
  /// float32 forward passes.
  public var forwardPasses: Int
  /// bfloat16 forward passes (`Precision.bf16`, `.bf16Verify`).
  public var bf16Passes: Int
  /// bf16-verify: steps decided, and those where the bfloat16 best was the pick.
  public var verifiedSteps: Int
  public var agreeingSteps: Int
  /// The fast method: what screening did in the exact phase.
  public var screening: ScreeningStats?

  public init(
    gradientPasses: Int = 0, forwardPasses: Int = 0, bf16Passes: Int = 0, verifiedSteps: Int = 0, agreeingSteps: Int = 0,
    screening: ScreeningStats? = nil
  ) {
    self.screening = screening
    self.gradientPasses = gradientPasses
    self.forwardPasses = forwardPasses
    self.bf16Passes = bf16Passes
    self.verifiedSteps = verifiedSteps
    self.agreeingSteps = agreeingSteps
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
  evaluator: some MaskGradientEvaluator, scorer: some CandidateScorer, k: Int, switchProbability: Float,
  capAtFullImage: Bool = false,
  exactLast: Int, setAside: Bool = false, screening: ScreeningSettings? = nil, check: Bool = false,
  neighbours: [[Int]] = [], remeasure: (any CandidateScorer)? = nil, rankingScorer: (any CandidateScorer)? = nil,
  onProgress: ((Int) -> Void)? = nil, onCost: ((SelectionCost) -> Void)? = nil, exactEvaluations: () -> Int = { 0 }
) throws -> [BackSelectResult] {
  guard switchProbability >= 0 && switchProbability <= 1 else {
    throw SISError.badArgument("the switch probability must be in [0, 1], got \(switchProbability)")
  }
  let n = evaluator.problemCount
  var phase = try GradientPhase(
    evaluator: evaluator, k: k, switchBelow: switchProbability, capAtFullImage: capAtFullImage, exactLast: exactLast,
    setAside: setAside)
  if let share = screening?.occlusionShare, share > 0 {
    let early = try occlusionPhase(
      problems: n, featureCount: evaluator.pixelCount, scorer: scorer, exactLast: exactLast, share: share,
      rerank: screening?.occlusionRerank ?? 0, pool: screening?.occlusionPool ?? 0,
      switchBelow: switchProbability, capAtFullImage: capAtFullImage, rankingScorer: rankingScorer, onProgress: onProgress)
    phase.masked = early.masked
    phase.results = early.results
  } else {
    try phase.run(maxIterations: nil) { _ in onProgress?(k * n) }
  }
  var exact: [BackSelectResult]
  var stats: ScreeningStats?
  if let screening {
    let (results, screened) = try screenedBackSelect(
      problems: n, featureCount: evaluator.pixelCount, initiallyMasked: phase.masked, scorer: scorer, screening: screening,
      neighbours: neighbours, check: check
    ) { onProgress?($0) }
    exact = results
    stats = screened
  } else {
    exact = try backSelect(problems: n, featureCount: evaluator.pixelCount, initiallyMasked: phase.masked, scorer: scorer) {
      onProgress?($0)
    }
  }
  // Values measured again by another scorer (float32 after a bfloat16 selection): every value of
  // the exact phase, so that FindSIS tests the float32 probability and each SIS is sufficient in
  // float32. The order stays the selection's.
  // The early phase's blocks (runs of one recorded value) are measured again at their ends.
  var remeasured = 0
  if let remeasure {
    var requests: [(problem: Int, masked: [Bool])] = []
    var blockEnds: [[Int]] = []
    for i in 0..<n {
      let early = phase.results[i]
      let ends = early.order.indices.filter { $0 == early.order.count - 1 || early.values[$0 + 1] != early.values[$0] }
      blockEnds.append(ends)
      var masked = [Bool](repeating: false, count: evaluator.pixelCount)
      var start = 0
      for end in ends {
        for f in early.order[start...end] { masked[f] = true }
        requests.append((i, masked))
        start = end + 1
      }
      masked = phase.masked[i]
      for f in exact[i].order {
        masked[f] = true
        requests.append((i, masked))
      }
    }
    let values = try remeasure.evaluateMasked(requests)
    remeasured = values.count
    var next = 0
    for i in 0..<n {
      var start = 0
      for end in blockEnds[i] {
        for j in start...end {
          phase.results[i].values[j] = Float(values[next].probability)
          phase.results[i].scores[j] = Float(values[next].score)
        }
        next += 1
        start = end + 1
      }
      for j in exact[i].order.indices {
        exact[i].values[j] = Float(values[next].probability)
        exact[i].scores[j] = Float(values[next].score)
        next += 1
      }
    }
  }
  onCost?(
    SelectionCost(
      gradientPasses: phase.cost.gradientPasses, forwardPasses: phase.cost.forwardPasses + exactEvaluations() + remeasured,
      screening: stats))
  return zip(phase.results, exact).map { g, e in
    BackSelectResult(
      order: g.order + e.order, values: g.values + e.values, scores: g.scores + e.scores, exactTies: g.exactTies + e.exactTies,
      nearTies: g.nearTies + e.nearTies)
  }
}

/// `hybridBackSelect` on a classifier (pixel features; `chunk` candidates per forward pass in
/// the exact phase). `scoring`, if given, scores the exact phase's candidates instead of
/// `classifier` (the same function in a faster form: `optimizedForInference`); the gradient phase
/// always runs `classifier`.
public func hybridBackSelect(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], k: Int, switchProbability: Float,
  capAtFullImage: Bool = false, exactLast: Int, setAside: Bool = false, maskValue: [Float]? = nil, score: SelectionScore,
  chunk: Int, device: Device = .cpu, precision: Precision = .fp32, fast: (any Classifier)? = nil, verifyTop: Int? = nil,
  screening: ScreeningSettings? = nil, check: Bool = false, scoring: (any Classifier)? = nil,
  onProgress: ((Int) -> Void)? = nil, onCost: ((SelectionCost) -> Void)? = nil
) throws -> [BackSelectResult] {
  let evaluator = try ClassifierMaskEvaluator(
    classifier: classifier, images: images, classes: classes, inputShape: inputShape, maskValue: maskValue, score: score,
    device: device)
  let scorer = try ExactSelectionScorer(
    classifier: scoring ?? classifier, fast: fast, precision: precision, verifyTop: verifyTop, images: images,
    classes: classes, layout: .pixels(inputShape), maskValue: maskValue, score: score, chunk: chunk, device: device)
  // The occlusion rankings in bfloat16 (`ScreeningSettings.occlusionPrecision`) while the rest
  // scores at `precision`; with precision bf16 the scorer ranks in bfloat16 already.
  let ranking =
    precision == .fp32 && screening?.ranksInBFloat16 == true
    ? try ExactSelectionScorer(
      classifier: scoring ?? classifier, fast: fast, precision: .bf16, verifyTop: nil, images: images, classes: classes,
      layout: .pixels(inputShape), maskValue: maskValue, score: score, chunk: chunk, device: device) : nil
  // The fast method in bfloat16: the float32 model measures the values it stores.
  let remeasure =
    precision == .bf16 && screening != nil
    ? try ClassifierScorer(
      classifier: scoring ?? classifier, images: images, classes: classes, layout: .pixels(inputShape), maskValue: maskValue,
      score: score, chunk: chunk, device: device) : nil
  return try hybridBackSelect(
    evaluator: evaluator, scorer: scorer, k: k, switchProbability: switchProbability, capAtFullImage: capAtFullImage,
    exactLast: exactLast, setAside: setAside, screening: screening, check: check,
    neighbours: screening.map { pixelNeighbours(height: inputShape[1], width: inputShape[2], radius: $0.radius) } ?? [],
    remeasure: remeasure, rankingScorer: ranking,
    onProgress: onProgress,
    onCost: { phase in
      var cost = scorer.cost
      cost.gradientPasses = phase.gradientPasses
      cost.forwardPasses = phase.forwardPasses
      cost.bf16Passes += ranking?.cost.bf16Passes ?? 0
      cost.screening = phase.screening
      onCost?(cost)
    }, exactEvaluations: { scorer.cost.forwardPasses })
}

/// The pixels the hybrid's gradient phase leaves to its exact phase, per image (set-aside pixels
/// included): an image with r of them costs r(r+1)/2 forward passes in the exact phase. Runs the
/// gradient phase alone (about p/k gradient passes per image), so that a plan can measure what
/// the hybrid will cost instead of assuming that the exact phase starts at `exactLast`: a dip
/// below `switchProbability` starts it earlier, and set-aside blocks add to it.
public func hybridExactPhaseSizes(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], k: Int, switchProbability: Float,
  capAtFullImage: Bool = false, exactLast: Int, setAside: Bool = false, maskValue: [Float]? = nil, score: SelectionScore,
  device: Device = .cpu
) throws -> [Int] {
  guard switchProbability >= 0 && switchProbability <= 1 else {
    throw SISError.badArgument("the switch probability must be in [0, 1], got \(switchProbability)")
  }
  let evaluator = try ClassifierMaskEvaluator(
    classifier: classifier, images: images, classes: classes, inputShape: inputShape, maskValue: maskValue, score: score,
    device: device)
  var phase = try GradientPhase(
    evaluator: evaluator, k: k, switchBelow: switchProbability, capAtFullImage: capAtFullImage, exactLast: exactLast,
    setAside: setAside)
  try phase.run(maxIterations: nil, onIteration: nil)
  return phase.masked.map { m in m.count { !$0 } }
}

/// The gradient iterations of `gradientBackSelect` and `hybridBackSelect`, one step at a time.
/// Each iteration evaluates the images still in the phase with their gradients (`iterate`):
/// for each image it first settles the block masked in the previous iteration (`settle`: keep
/// it and record its value, or put it back when the probability fell below the image's switch
/// level), then chooses the next block (`chooseBlock`). An image leaves the phase when a dip
/// ends it (without `setAside`), or when at most `exactLast` pixels are left unmasked besides
/// the set-aside ones. A last forward pass records the value of each image's final block
/// (`closeLastBlocks`). With `capAtFullImage` the switch level of an image is at most its
/// probability on the full image, measured by the first pass.
struct GradientPhase<Evaluator: MaskGradientEvaluator> {
  let evaluator: Evaluator
  let k: Int
  let switchBelow: Float?
  let capAtFullImage: Bool
  let exactLast: Int?
  let setAside: Bool
  let p: Int
  /// Per image: masked pixels, pixels set aside for the exact phase, the block masked last
  /// (value not yet measured), still in the phase, its switch level.
  var masked: [[Bool]]
  var reserved: [[Bool]]
  var pendingBlock: [[Int]]
  var active: [Bool]
  var level: [Float?]
  var results: [BackSelectResult]
  var cost = SelectionCost()
  var iteration = 0

  init(evaluator: Evaluator, k: Int, switchBelow: Float?, capAtFullImage: Bool, exactLast: Int?, setAside: Bool) throws {
    guard k >= 1 else { throw SISError.badArgument("the gradient block size k must be at least 1, got \(k)") }
    let n = evaluator.problemCount
    self.evaluator = evaluator
    self.k = k
    self.switchBelow = switchBelow
    self.capAtFullImage = capAtFullImage
    self.exactLast = exactLast
    self.setAside = setAside
    p = evaluator.pixelCount
    masked = [[Bool]](repeating: [Bool](repeating: false, count: p), count: n)
    reserved = masked
    pendingBlock = [[Int]](repeating: [], count: n)
    active = [Bool](repeating: true, count: n)
    level = [Float?](repeating: switchBelow, count: n)
    results = [BackSelectResult](
      repeating: BackSelectResult(order: [], values: [], scores: [], exactTies: 0, nearTies: 0), count: n)
  }

  /// Pixels of image `i` a gradient block may still take: unmasked and not set aside.
  func offered(_ i: Int) -> [Int] { (0..<p).filter { !masked[i][$0] && !reserved[i][$0] } }

  mutating func run(maxIterations: Int?, onIteration: ((Int) -> Void)?) throws {
    while iteration < (maxIterations ?? .max), try iterate() {
      iteration += 1
      onIteration?(iteration)
    }
    try closeLastBlocks()
  }

  /// One gradient pass over the images still in the phase; false when none has pixels left.
  mutating func iterate() throws -> Bool {
    // Images still in the phase: pixels left to mask, or a block whose value is pending.
    let rows = masked.indices.filter { active[$0] && (masked[$0].contains(false) || !pendingBlock[$0].isEmpty) }
    guard rows.contains(where: { masked[$0].contains(false) }) else { return false }
    let e = try evaluator.evaluate(rows, masks: rows.map { masked[$0] }, withGradient: true)
    cost.gradientPasses += rows.count
    guard let gradients = e.gradients else { throw SISError.badArgument("the evaluator returned no gradient") }
    for (r, i) in rows.enumerated() {
      if iteration == 0, capAtFullImage, let l = level[i] { level[i] = min(l, e.probabilities[r]) }
      guard settle(i, probability: e.probabilities[r], score: e.scores[r]) else { continue }
      chooseBlock(i, gradient: gradients[r])
    }
    return true
  }

  /// Settles image `i`'s pending block at the probability measured with it masked. Below the
  /// image's switch level the block is put back (set aside, or the image leaves the phase);
  /// otherwise its pixels get that value. Returns whether the image chooses another block.
  mutating func settle(_ i: Int, probability: Float, score: Float) -> Bool {
    if let l = level[i], probability < l {
      // Without a block (the image as it stands is below the level) the phase ends for it.
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
      return false
    }
    recordPending(i, probability: probability, score: score)
    if let exactLast, offered(i).count <= exactLast {
      active[i] = false
      return false
    }
    return true
  }

  /// The values of image `i`'s pending block: f after it was masked, measured now.
  mutating func recordPending(_ i: Int, probability: Float, score: Float) {
    results[i].values += [Float](repeating: probability, count: pendingBlock[i].count)
    results[i].scores += [Float](repeating: score, count: pendingBlock[i].count)
    pendingBlock[i] = []
  }

  /// Masks the `k` offered pixels of image `i` with the largest gradient (ties: lowest index)
  /// and counts a tie when the k-th equals the best pixel left out.
  mutating func chooseBlock(_ i: Int, gradient g: [Float]) {
    let (block, bestLeftOut) = topK(offered(i), k: k) { g[$0] }
    if let last = block.last, let bestLeftOut {
      if g[last] == bestLeftOut { results[i].exactTies += 1 }
      if abs(g[last] - bestLeftOut) <= 1e-6 { results[i].nearTies += 1 }
    }
    for f in block { masked[i][f] = true }
    results[i].order += block
    pendingBlock[i] = block
  }

  /// One forward pass records the value of each image's last block.
  mutating func closeLastBlocks() throws {
    let closing = pendingBlock.indices.filter { !pendingBlock[$0].isEmpty }
    guard !closing.isEmpty else { return }
    let e = try evaluator.evaluate(closing, masks: closing.map { masked[$0] }, withGradient: false)
    cost.forwardPasses += closing.count
    for (r, i) in closing.enumerated() { recordPending(i, probability: e.probabilities[r], score: e.scores[r]) }
  }
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
