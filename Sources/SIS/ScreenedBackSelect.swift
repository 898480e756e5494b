import Base

/// How screened exact selection (`screenedBackSelect`) chooses the candidates it evaluates at a
/// step. Every evaluated candidate is scored exactly (the scorer's full answer for that masked
/// input); screening only decides which candidates are evaluated.
public struct ScreeningSettings: Codable, Equatable, Sendable {
  /// M: the candidates with the best stale ranking evaluated at every step.
  public var top: Int
  /// Features within this many pixels (Chebyshev distance) of the feature masked last are
  /// evaluated too: masking a pixel changes its neighbours' scores most. 0: none.
  public var radius: Int
  /// Every this many steps a step evaluates every candidate (a refresh of the stale ranking).
  /// 0: only the first step does.
  public var refresh: Int
  /// Steps with at most this many candidates left evaluate every candidate, so the last
  /// `fullBelow` features are ordered exactly as BackSelect orders them from that point.
  public var fullBelow: Int
  /// The early phase: 0 for the hybrid's gradient blocks; otherwise `occlusionPhase`, masking this
  /// share of the remaining pixels per round by their exact single-pixel drops.
  public var occlusionShare: Double
  /// Widening (lazy screening): at most this many times per screened step, while the best
  /// evaluated candidate's fresh drop is larger than the smallest stale drop of a candidate not yet
  /// evaluated, evaluate the next `top` candidates by stale drop as well (were drops only to grow
  /// as pixels are masked, the pick would then be the best of all). 0: never.
  public var widen: Int
  /// The occlusion phase's re-ranking: 0 ranks the remaining pixels again before every block;
  /// otherwise a ranking serves later blocks until the pixels masked since it was made reach this
  /// share of those it ranked (`occlusionPhase`).
  public var occlusionRerank: Double
  /// The occlusion phase's pooled rankings: 0 ranks every remaining pixel each round; otherwise a
  /// round after one whose block was halved ranks only the best `occlusionPool` times the pixels
  /// that round kept, by the previous ranking, and its first block is the better half of them
  /// (`occlusionPhase`).
  public var occlusionPool: Int
  /// The precision of the occlusion phase's rankings (the single-pixel drops that order each
  /// block): fp32, or bf16 (the BN-folded model in bfloat16; fast on CPUs with AMX or AVX-512
  /// BF16). Blocks are measured, and the exact phase scores, at the run's own precision.
  public var occlusionPrecision: Precision

  /// The defaults: M 12 with radius 0, with the fast method's switch level 0.99999 (the CLI's), the
  /// variant registered before and passed by the seed-36 verdict on 110 exact references
  /// (docs/studies/fast-selection.md, "The seed-36 verdict"), and pooled occlusion rankings of 4x
  /// the block kept, registered before and passed by the seed-37 verdict on 139 ("The seed-37
  /// verdict"). Manifests written before a field existed read it as off (`init(from:)`).
  public init(
    top: Int = 12, radius: Int = 0, refresh: Int = 32, fullBelow: Int = 32, occlusionShare: Double = 0.5, widen: Int = 0,
    occlusionRerank: Double = 0, occlusionPool: Int = 4, occlusionPrecision: Precision = .fp32
  ) {
    self.top = top
    self.radius = radius
    self.refresh = refresh
    self.fullBelow = fullBelow
    self.occlusionShare = occlusionShare
    self.widen = widen
    self.occlusionRerank = occlusionRerank
    self.occlusionPool = occlusionPool
    self.occlusionPrecision = occlusionPrecision
  }

  /// What is wrong with the settings, if anything.
  public func problems() -> [String] {
    var out: [String] = []
    if top < 1 { out.append("the screened candidates per step must be at least 1, got \(top)") }
    if radius < 0 { out.append("the screening radius must be at least 0, got \(radius)") }
    if refresh < 0 { out.append("the refresh interval must be at least 0, got \(refresh)") }
    if fullBelow < 0 { out.append("the exact tail must be at least 0 features, got \(fullBelow)") }
    if !(occlusionShare >= 0 && occlusionShare < 1) { out.append("the occlusion share must be in [0, 1), got \(occlusionShare)") }
    if widen < 0 { out.append("the widening rounds must be at least 0, got \(widen)") }
    if !(occlusionRerank >= 0 && occlusionRerank <= 1) {
      out.append("the occlusion re-ranking share must be in [0, 1], got \(occlusionRerank)")
    }
    if occlusionPool < 0 { out.append("the occlusion pool must be at least 0, got \(occlusionPool)") }
    if occlusionPool > 0 && occlusionRerank > 0 {
      out.append(
        "the occlusion pool and re-ranking share cannot both be set (pool \(occlusionPool), share \(occlusionRerank)); a re-ranking share needs pool 0"
      )
    }
    if occlusionPrecision == .bf16Verify {
      out.append("the occlusion rankings take precision fp32 or bf16, not bf16-verify")
    }
    return out
  }

  /// Whether the occlusion phase ranks in bfloat16 (the run's own precision aside).
  public var ranksInBFloat16: Bool { occlusionShare > 0 && occlusionPrecision == .bf16 }

  /// Candidates evaluated (forward passes) by a screened exact phase over `r` features: the first
  /// step's r (and the input itself), a screened subset of at most `top` plus the neighbours per
  /// step, every candidate at refresh steps and while at most `fullBelow` are left. An upper
  /// bound: neighbours already masked are not evaluated.
  public func evaluations(features r: Int) -> Int {
    guard r > 0 else { return 0 }
    let side = 2 * radius + 1
    let screened = top + side * side - 1
    var total = 1 + r
    var since = 1
    for c in stride(from: r - 1, through: 1, by: -1) {
      if c <= fullBelow || c <= screened || (refresh > 0 && since >= refresh) {
        total += c
        since = 1
      } else {
        total += screened
        since += 1
      }
    }
    return total
  }

  /// "top 16 radius 1 refresh 32 full below 32".
  public var label: String {
    "top \(top) radius \(radius) refresh \(refresh) full below \(fullBelow)"
      + (widen > 0 ? ", widening \(widen)" : "")
      + (occlusionShare > 0 ? ", occlusion blocks of \(fmt(occlusionShare * 100, digits: 0))%" : "")
      + (occlusionShare > 0 && occlusionRerank > 0
        ? " ranked again after \(fmt(occlusionRerank * 100, digits: 0))% masked" : "")
      + (occlusionShare > 0 && occlusionPool > 0 ? ", pooled rankings of \(occlusionPool)x the block kept" : "")
      + (ranksInBFloat16 ? ", rankings in bf16" : "")
  }
}

extension ScreeningSettings {
  enum CodingKeys: String, CodingKey {
    case top, radius, refresh, fullBelow, occlusionShare, widen, occlusionRerank, occlusionPool, occlusionPrecision
  }

  /// Settings recorded before a field existed read it at its default of that time (off).
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      top: try c.decode(Int.self, forKey: .top), radius: try c.decode(Int.self, forKey: .radius),
      refresh: try c.decode(Int.self, forKey: .refresh), fullBelow: try c.decode(Int.self, forKey: .fullBelow),
      occlusionShare: try c.decodeIfPresent(Double.self, forKey: .occlusionShare) ?? 0,
      widen: try c.decodeIfPresent(Int.self, forKey: .widen) ?? 0,
      occlusionRerank: try c.decodeIfPresent(Double.self, forKey: .occlusionRerank) ?? 0,
      occlusionPool: try c.decodeIfPresent(Int.self, forKey: .occlusionPool) ?? 0,
      occlusionPrecision: try c.decodeIfPresent(Precision.self, forKey: .occlusionPrecision) ?? .fp32)
  }
}

/// What screening did over a run (summed over its images).
public struct ScreeningStats: Sendable, Equatable {
  /// Steps that evaluated every candidate, and steps that evaluated a screened subset.
  public var fullSteps = 0
  public var screenedSteps = 0
  /// Screened steps that widening widened, and the candidates it added.
  public var widenedSteps = 0
  public var widenedCandidates = 0
  /// Candidates evaluated (forward passes of the scorer, the phase-start evaluation included).
  public var evaluations = 0
  /// With `check`: screened steps whose pick was also the best of every candidate, and steps whose
  /// pick was within the full step's best `n` (n = 1, 2, 4, 8, 16, 32, 64) by score.
  public var checkedSteps = 0
  public var agreeingSteps = 0
  public var pickRankAtMost: [Int: Int] = [:]

  public init() {}
}

/// The neighbours of every pixel of an `height` x `width` grid within Chebyshev distance `radius`
/// (the pixel itself excluded), in increasing feature order.
public func pixelNeighbours(height: Int, width: Int, radius: Int) -> [[Int]] {
  (0..<(height * width)).map { f in
    let (y, x) = (f / width, f % width)
    var out: [Int] = []
    for dy in -radius...radius where (0..<height).contains(y + dy) {
      for dx in -radius...radius where (0..<width).contains(x + dx) && (dy != 0 || dx != 0) {
        out.append((y + dy) * width + x + dx)
      }
    }
    return out
  }
}

/// Screened exact BackSelect: backward selection that, at most steps, evaluates only a screened
/// subset of the candidates exactly and masks the best of those.
///
/// Every candidate keeps the drop it caused when it was last evaluated: the score of the input
/// as it stood then minus the score with the candidate masked too. Masking one pixel changes most
/// other pixels' drops very little, so the stale drops rank the candidates well: a screened step
/// evaluates the `top` candidates with the smallest stale drop and every candidate within
/// `radius` of the feature masked last (whose drops masking it changed most), at the current
/// mask, and masks the one with the highest score among them (ties: lowest index). Steps that
/// evaluate every candidate: the first, every `refresh`-th, and all steps with at most
/// `fullBelow` candidates left, or no more than the screened subset would hold. With `top` at
/// least the number of candidates every step evaluates every candidate, and the result is
/// `backSelect`'s, step for step.
///
/// The values stored are exact: the probability of the masked input after each pick, measured by
/// the evaluation that chose it. So FindSIS's SIS are verified sufficient as in exact selection.
///
/// `check` (for studies; costs a full step every step): evaluates every candidate at every
/// screened step as well, still masks the screened pick, and counts how often the pick was the
/// best of all (`ScreeningStats`).
public func screenedBackSelect(
  problems: Int, featureCount: Int, initiallyMasked: [[Bool]]? = nil, scorer: some CandidateScorer,
  screening: ScreeningSettings, neighbours: [[Int]], check: Bool = false, onStep: ((Int) -> Void)? = nil
) throws -> (results: [BackSelectResult], stats: ScreeningStats) {
  let issues = screening.problems()
  guard issues.isEmpty else { throw SISError.badArgument(issues.joined(separator: "; ")) }
  guard neighbours.count == featureCount else {
    throw SISError.badArgument("screening needs the neighbours of all \(featureCount) features, got \(neighbours.count)")
  }
  var masked = initiallyMasked ?? [[Bool]](repeating: [Bool](repeating: false, count: featureCount), count: problems)
  var remaining = masked.map { m in (0..<featureCount).filter { !m[$0] } }
  var results = [BackSelectResult](
    repeating: BackSelectResult(order: [], values: [], scores: [], exactTies: 0, nearTies: 0), count: problems)
  var stats = ScreeningStats()
  // Per problem: the score of the input as it stands (nil before the first step), the stale drop
  // of every feature, steps since the last full step, the feature masked last.
  var base = [Double?](repeating: nil, count: problems)
  var drop = [[Double]](repeating: [Double](repeating: 0, count: featureCount), count: problems)
  var sinceFull = [Int](repeating: 0, count: problems)
  var last = [Int?](repeating: nil, count: problems)
  let ranks = [1, 2, 4, 8, 16, 32, 64]
  // The evaluations of the step being decided, by feature.
  var fresh = [[Evaluation]](
    repeating: [Evaluation](repeating: Evaluation(score: 0, probability: 0), count: featureCount), count: problems)

  while true {
    let active = (0..<problems).filter { !remaining[$0].isEmpty }
    if active.isEmpty { break }
    // The candidates each problem evaluates (ascending, so the first maximum is the lowest index).
    var subsets: [[Int]] = []
    var full: [Bool] = []
    for p in active {
      let all = remaining[p]
      var isFull =
        base[p] == nil || all.count <= screening.fullBelow || (screening.refresh > 0 && sinceFull[p] >= screening.refresh)
      var subset: [Int] = []
      if !isFull {
        var chosen = Set<Int>()
        if let l = last[p] { for f in neighbours[l] where !masked[p][f] { chosen.insert(f) } }
        let others = all.filter { !chosen.contains($0) }
        let (best, _) = topK(others, k: screening.top) { Float(-drop[p][$0]) }
        chosen.formUnion(best)
        subset = chosen.sorted()
        if subset.count >= all.count { isFull = true }
      }
      full.append(isFull)
      subsets.append(isFull ? all : subset)
    }
    let sizes = subsets.map(\.count)
    // A problem's first step also evaluates the input as it stands (the base of its drops).
    let requests = active.enumerated().map { k, p in
      CandidateRequest(
        problem: p, masked: masked[p],
        candidates: (base[p] == nil ? [CandidateRequest.none] : []) + (check && !full[k] ? remaining[p] : subsets[k]))
    }
    var evaluations = try scorer.evaluate(requests)
    for (k, p) in active.enumerated() {
      stats.evaluations += evaluations[k].count
      if base[p] == nil { base[p] = evaluations[k].removeFirst().score }
      // The evaluations of the subset (in check mode, picked out of the full step's).
      let evaluated = check && !full[k] ? remaining[p] : subsets[k]
      for (f, e) in zip(evaluated, evaluations[k]) { fresh[p][f] = e }
    }
    if screening.widen > 0 {
      // Widen screened subsets while a candidate not evaluated has a smaller stale drop than the
      // best fresh one: the rest in stale order, `top` at a time, at most `widen` times.
      var queue = [[Int]](repeating: [], count: active.count)
      var next = [Int](repeating: 0, count: active.count)
      for (k, p) in active.enumerated() where !full[k] {
        let inSubset = Set(subsets[k])
        queue[k] = remaining[p].filter { !inSubset.contains($0) }.sorted { (drop[p][$0], $0) < (drop[p][$1], $1) }
      }
      for _ in 0..<screening.widen {
        var widened: [Int] = []
        var added: [[Int]] = []
        for (k, p) in active.enumerated() where next[k] < queue[k].count {
          var bestScore = -Double.infinity
          for f in subsets[k] { bestScore = Swift.max(bestScore, fresh[p][f].score) }
          guard drop[p][queue[k][next[k]]] < (base[p] ?? 0) - bestScore else {
            next[k] = queue[k].count
            continue
          }
          let end = Swift.min(next[k] + screening.top, queue[k].count)
          widened.append(k)
          added.append(Array(queue[k][next[k]..<end]))
          next[k] = end
        }
        if widened.isEmpty { break }
        if !check {
          let more = try scorer.evaluate(
            zip(widened, added).map { k, c in CandidateRequest(problem: active[k], masked: masked[active[k]], candidates: c) })
          for i in widened.indices {
            for (f, e) in zip(added[i], more[i]) { fresh[active[widened[i]]][f] = e }
            stats.evaluations += more[i].count
          }
        }
        for (k, c) in zip(widened, added) {
          if subsets[k].count == sizes[k] { stats.widenedSteps += 1 }
          subsets[k] = (subsets[k] + c).sorted()
          stats.widenedCandidates += c.count
          if subsets[k].count == remaining[active[k]].count { full[k] = true }
        }
      }
    }
    var decided = 0
    for (k, p) in active.enumerated() {
      let all = remaining[p]
      decided += all.count
      let evals = evaluations[k]
      let subset = subsets[k]
      var best = 0
      for i in 1..<subset.count where fresh[p][subset[i]].score > fresh[p][subset[best]].score { best = i }
      let pick = subset[best]
      let pickEval = fresh[p][pick]
      var runnerUp = -Double.infinity
      for (i, f) in subset.enumerated() where i != best { runnerUp = Swift.max(runnerUp, fresh[p][f].score) }
      if runnerUp == pickEval.score { results[p].exactTies += 1 }
      if subset.count > 1 && pickEval.score - runnerUp <= 1e-6 { results[p].nearTies += 1 }
      if check && !full[k] {
        // Rank of the pick among every candidate (1: the full step's pick; ties rank by index).
        let better = all.indices.filter { i in
          let s = evals[i].score
          return s > pickEval.score || (s == pickEval.score && all[i] < pick)
        }.count
        stats.checkedSteps += 1
        if better == 0 { stats.agreeingSteps += 1 }
        for n in ranks where better < n { stats.pickRankAtMost[n, default: 0] += 1 }
      }
      if full[k] { stats.fullSteps += 1 } else { stats.screenedSteps += 1 }
      sinceFull[p] = full[k] ? 1 : sinceFull[p] + 1
      // Only the subset's drops are refreshed, so check mode follows the same path as without it.
      let current = base[p] ?? 0
      for f in subset { drop[p][f] = current - fresh[p][f].score }
      results[p].order.append(pick)
      results[p].values.append(Float(pickEval.probability))
      results[p].scores.append(Float(pickEval.score))
      masked[p][pick] = true
      if let i = all.firstIndex(of: pick) { remaining[p].remove(at: i) }
      base[p] = pickEval.score
      last[p] = pick
    }
    onStep?(decided)
  }
  return (results, stats)
}

/// The occlusion phase: an early phase for the fast method that masks pixels by their exact
/// single-pixel drops instead of the mask gradient. A ranking round evaluates every remaining
/// pixel at the current mask (one forward pass each, as a full exact step does) and ranks them by
/// the score with that pixel masked (highest first; ties: lowest index). A block is the `share` of
/// the remaining pixels that rank best, never leaving fewer than `exactLast`. One more pass
/// measures the probability with the block masked, and every pixel of the block records it (as a
/// gradient block does). A block that takes the probability below the image's switch level is
/// halved (its best half kept) and measured again. The switch level is `switchBelow`, or with
/// `capAtFullImage` at most the image's probability on the full input; an image below
/// `switchBelow` without the cap skips the phase. So, as in the hybrid, every value the phase
/// records is at least the switch level, and any SIS at a threshold up to it comes from the exact
/// phase that follows.
///
/// `rerank` decides when a ranking is made again: with 0, before every block (each round ranks,
/// then masks one block). Otherwise a ranking serves the following blocks (the next-best pixels
/// still unmasked) until the pixels masked since it was made reach `rerank` times the pixels it
/// ranked; halved blocks mask few pixels, and ranking again after each costs a pass per remaining
/// pixel. Either way the phase ends for an image when a single pixel from a ranking made at the
/// current mask would take it below its level (one from an older ranking asks for a new one).
///
/// `pool` (with `rerank` 0): after a round whose first block was halved to b kept pixels (the
/// image is near its level, and ranking every remaining pixel again to keep a few dozen is most
/// of the phase's cost), the next round evaluates only the best `pool` x b pixels by the latest
/// ranking, ranks them by their fresh scores ahead of the others (in their old order), and tries
/// the better half of them as its first block; the round after a pooled one pools `pool` times
/// what it kept (so the pool grows back to all pixels while blocks are kept whole). A full
/// ranking whose first block is kept whole is followed by another. The phase ends when a single
/// pixel dips, pooled or not.
///
/// `rankingScorer`, if given, makes the rankings (e.g. the model in bfloat16,
/// `ScreeningSettings.occlusionPrecision`); `scorer` measures every block all the same, so the
/// values recorded are `scorer`'s. The first ranking's evaluation of the input itself (which caps
/// the switch level with `capAtFullImage`) is the ranking scorer's, as registered for the seed-38
/// verdict (docs/studies/fast-selection.md).
///
/// Returns the masks it leaves, the partial results (order, values, scores) and the forward passes
/// it ran.
public func occlusionPhase(
  problems n: Int, featureCount p: Int, scorer: some CandidateScorer, exactLast: Int, share: Double, rerank: Double = 0,
  pool: Int = 0, switchBelow: Float, capAtFullImage: Bool, rankingScorer: (any CandidateScorer)? = nil,
  onProgress: ((Int) -> Void)? = nil
) throws -> (masked: [[Bool]], results: [BackSelectResult], evaluations: Int) {
  guard share > 0 && share < 1 else { throw SISError.badArgument("the occlusion share must be in (0, 1), got \(share)") }
  guard rerank >= 0 && rerank <= 1 else {
    throw SISError.badArgument("the occlusion re-ranking share must be in [0, 1], got \(rerank)")
  }
  guard pool >= 0 && !(pool > 0 && rerank > 0) else {
    throw SISError.badArgument("the occlusion pool must be at least 0 and needs re-ranking share 0, got \(pool), \(rerank)")
  }
  var masked = [[Bool]](repeating: [Bool](repeating: false, count: p), count: n)
  var results = [BackSelectResult](
    repeating: BackSelectResult(order: [], values: [], scores: [], exactTies: 0, nearTies: 0), count: n)
  var active = [Bool](repeating: true, count: n)
  var level = [Float](repeating: switchBelow, count: n)
  // Per image: its ranking (best first; nil: none yet, or a new one is needed), the pixels it
  // ranked, and those masked since it was made.
  var ranking = [[Int]?](repeating: nil, count: n)
  var ranked = [Int](repeating: 0, count: n)
  var maskedSince = [Int](repeating: 0, count: n)
  // With `pool`: the pixels the next ranking evaluates (nil: all), and the size of the pool the
  // current ranking evaluated (0: all).
  var poolNext = [Int?](repeating: nil, count: n)
  var pooled = [Int](repeating: 0, count: n)
  var evaluations = 0
  var first = true
  while true {
    let rows = (0..<n).filter { p0 in active[p0] && masked[p0].count { !$0 } > exactLast }
    if rows.isEmpty { break }
    // Rank again where there is no ranking or where it has gone stale.
    let stale = rows.filter { r in
      ranking[r] == nil || Double(maskedSince[r]) >= rerank * Double(ranked[r])
    }
    if !stale.isEmpty {
      // The pixels each ranking evaluates: all remaining, or a pool of the best by the last ranking.
      let remaining = stale.map { r -> [Int] in
        let left = (0..<p).filter { !masked[r][$0] }
        guard let m = poolNext[r], m < left.count, let previous = ranking[r] else { return left }
        return Array(previous.lazy.filter { !masked[r][$0] }.prefix(m)).sorted()
      }
      let ranker: any CandidateScorer = rankingScorer ?? scorer
      let evals = try ranker.evaluate(
        zip(stale, remaining).map { CandidateRequest(problem: $0, masked: masked[$0], candidates: [CandidateRequest.none] + $1) })
      evaluations += evals.reduce(0) { $0 + $1.count }
      for (k, r) in stale.enumerated() {
        let here = Float(evals[k][0].probability)
        if first {
          if capAtFullImage { level[r] = Swift.min(level[r], here) } else if here < switchBelow { active[r] = false }
        }
        let scores = Array(evals[k].dropFirst())
        let fresh = remaining[k].indices.sorted { a, b in
          scores[a].score != scores[b].score ? scores[a].score > scores[b].score : remaining[k][a] < remaining[k][b]
        }.map { remaining[k][$0] }
        let left = masked[r].count { !$0 }
        if fresh.count < left, let previous = ranking[r] {
          // A pool: its fresh order first, the other pixels after it in their old order.
          let inPool = Set(fresh)
          ranking[r] = fresh + previous.filter { !masked[r][$0] && !inPool.contains($0) }
          pooled[r] = fresh.count
        } else {
          ranking[r] = fresh
          pooled[r] = 0
        }
        ranked[r] = remaining[k].count
        maskedSince[r] = 0
      }
      first = false
      onProgress?(remaining.reduce(0) { $0 + $1.count })
    }
    // Each image's block: the best share of its remaining pixels by its ranking, best first.
    var pending: [(Int, [Int])] = []
    var tried = [Int](repeating: 0, count: n)
    var kept = [Int](repeating: 0, count: n)
    for r in rows where active[r] {
      let left = masked[r].count { !$0 }
      var b = Swift.max(1, Swift.min(Int(share * Double(left)), left - exactLast))
      if pooled[r] > 0 { b = Swift.min(b, Swift.max(1, pooled[r] / 2)) }
      tried[r] = b
      pending.append((r, Array((ranking[r] ?? []).lazy.filter { !masked[r][$0] }.prefix(b))))
    }
    // Measure each block; halve those that dip below the level until they do not.
    while !pending.isEmpty {
      let e = try scorer.evaluateMasked(
        pending.map { r, block in
          var m = masked[r]
          for f in block { m[f] = true }
          return (r, m)
        })
      evaluations += pending.count
      var retry: [(Int, [Int])] = []
      for ((r, block), value) in zip(pending, e) {
        if Float(value.probability) >= level[r] {
          for f in block { masked[r][f] = true }
          maskedSince[r] += block.count
          kept[r] = block.count
          results[r].order += block
          results[r].values += [Float](repeating: Float(value.probability), count: block.count)
          results[r].scores += [Float](repeating: Float(value.score), count: block.count)
        } else if block.count > 1 {
          retry.append((r, Array(block.prefix(block.count / 2))))
        } else if maskedSince[r] > 0 {
          // The pixel was ranked before the last blocks were masked: rank again.
          ranking[r] = nil
        } else {
          active[r] = false
        }
      }
      pending = retry
    }
    if pool > 0 {
      // After a halved block or a pooled ranking, the next ranking evaluates a pool of `pool`
      // times the pixels kept (all pixels once that is as many as are left); after a full
      // ranking whose block was kept whole, all pixels.
      for r in rows where kept[r] > 0 { poolNext[r] = kept[r] < tried[r] || pooled[r] > 0 ? pool * kept[r] : nil }
    }
  }
  return (masked, results, evaluations)
}
