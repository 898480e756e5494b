import Base
import Datasets
import Foundation
import Models
import Testing
import Torch

@testable import SIS

/// Screened exact selection (`screenedBackSelect`) and the fast method built on it.
@Suite struct ScreeningTests {
  /// f(masked) = 100 − Σ masked weights − 50 when features 0 and 1 are both masked: after feature
  /// 0 goes, feature 1's stale drop (2) says it is the cheapest to mask next, but masking it now
  /// costs 52.
  static let weights: [Double] = [1, 2, 3, 10, 20, 30]
  static func interacting(_ masked: [Bool]) -> Double {
    var v = 100.0
    for (i, m) in masked.enumerated() where m { v -= weights[i] }
    if masked[0] && masked[1] { v -= 50 }
    return v
  }

  static let noNeighbours = [[Int]](repeating: [], count: 6)

  @Test func theExactEvaluationOfTheTopMCorrectsAWrongStaleRanking() throws {
    let scorer = FunctionScorer { _, masked in Self.interacting(masked) }
    let exact = try backSelect(problems: 1, featureCount: 6, scorer: scorer)[0]
    #expect(exact.order == [0, 2, 3, 4, 5, 1])
    // M = 1 trusts the stale ranking at step 2 and masks feature 1 (f falls to 47).
    let one = try screenedBackSelect(
      problems: 1, featureCount: 6, scorer: scorer, screening: ScreeningSettings(top: 1, radius: 0, refresh: 0, fullBelow: 0),
      neighbours: Self.noNeighbours)
    #expect(one.results[0].order[1] == 1)
    #expect(one.results[0].values[1] == 47)
    // M = 2 also evaluates feature 2, whose exact score is higher, and follows exact selection.
    let two = try screenedBackSelect(
      problems: 1, featureCount: 6, scorer: scorer, screening: ScreeningSettings(top: 2, radius: 0, refresh: 0, fullBelow: 0),
      neighbours: Self.noNeighbours)
    #expect(two.results[0].order == exact.order)
    #expect(two.results[0].values == exact.values)
    // Steps 2 to 4 were screened (2 candidates each); the first and the last two were full.
    #expect(two.stats.screenedSteps == 3)
    #expect(two.stats.fullSteps == 3)
    #expect(two.stats.evaluations == 1 + 6 + 3 * 2 + 2 + 1)
  }

  /// Widening: with M = 1, step 2 evaluates feature 1 (stale drop 2), whose fresh drop (52) is
  /// larger than feature 2's stale drop (3), so one widening round evaluates feature 2 too and
  /// the run follows exact selection; widening stops once the next stale drop (10) is not smaller
  /// than the best fresh one (3).
  @Test func wideningEvaluatesMoreWhileAStaleDropUndercutsTheBestFreshOne() throws {
    let scorer = FunctionScorer { _, masked in Self.interacting(masked) }
    let exact = try backSelect(problems: 1, featureCount: 6, scorer: scorer)[0]
    let widened = try screenedBackSelect(
      problems: 1, featureCount: 6, scorer: scorer,
      screening: ScreeningSettings(top: 1, radius: 0, refresh: 0, fullBelow: 0, widen: 1), neighbours: Self.noNeighbours)
    #expect(widened.results[0].order == exact.order)
    #expect(widened.results[0].values == exact.values)
    #expect(widened.stats.widenedSteps == 1 && widened.stats.widenedCandidates == 1)
    // Step 1 (input and 6 candidates), step 2 (1 + 1 widened), steps 3 to 6 (1 each: the last
    // step has one candidate left).
    #expect(widened.stats.evaluations == 1 + 6 + 2 + 1 + 1 + 1 + 1)
  }

  /// f = 100 − Σ masked weights − 50 for each of features 1 and 2 masked with feature 0: after
  /// feature 0 both stale-cheapest features cost 52 or 53, and only the third by stale drop
  /// (feature 3, 10) is the exact pick. One widening round (M = 1) reaches feature 2 only; two
  /// reach feature 3.
  @Test func wideningStopsAfterItsRounds() throws {
    let scorer = FunctionScorer { _, masked in
      var v = Self.interacting(masked)
      if masked[0] && masked[2] { v -= 50 }
      return v
    }
    let exact = try backSelect(problems: 1, featureCount: 6, scorer: scorer)[0]
    #expect(exact.order[1] == 3)
    func second(_ widen: Int) throws -> (pick: Int, stats: ScreeningStats) {
      let r = try screenedBackSelect(
        problems: 1, featureCount: 6, scorer: scorer,
        screening: ScreeningSettings(top: 1, radius: 0, refresh: 0, fullBelow: 0, widen: widen), neighbours: Self.noNeighbours)
      return (r.results[0].order[1], r.stats)
    }
    #expect(try second(0).pick == 1)
    #expect(try second(1).pick == 1)
    #expect(try second(2).pick == 3)
    #expect(try second(2).stats.widenedCandidates >= 2)
    #expect(ScreeningSettings(widen: -1).problems() == ["the widening rounds must be at least 0, got -1"])
  }

  /// A function with pairwise interactions, so that stale scores rank badly, and exact ties.
  static func tangled(problem: Int, _ masked: [Bool]) -> Double {
    let p = masked.count
    var v = 0.0
    for i in 0..<p where !masked[i] {
      v += Double((i * 7 + problem * 3) % 5)
      for j in (i + 1)..<p where !masked[j] && (i * j + problem) % 4 == 0 { v += Double((i + j) % 3) - 0.5 }
    }
    return v
  }

  @Test(arguments: [0, 1, 2])
  func withMAtLeastTheCandidateCountItIsExactBackSelectStepForStep(radius: Int) throws {
    let p = 16
    let scorer = FunctionScorer { problem, masked in Self.tangled(problem: problem, masked) }
    var initial = [[Bool]](repeating: [Bool](repeating: false, count: p), count: 3)
    initial[1][5] = true
    initial[2][0] = true
    initial[2][15] = true
    let exact = try backSelect(problems: 3, featureCount: p, initiallyMasked: initial, scorer: scorer)
    let screened = try screenedBackSelect(
      problems: 3, featureCount: p, initiallyMasked: initial, scorer: scorer,
      screening: ScreeningSettings(top: p, radius: radius, refresh: 5, fullBelow: 0),
      neighbours: pixelNeighbours(height: 4, width: 4, radius: radius))
    #expect(screened.results == exact)
    #expect(screened.stats.screenedSteps == 0)
    #expect(exact.contains { $0.exactTies > 0 })
  }

  @Test func screenedStepsEvaluateTheTopMAndTheNeighboursOfTheLastPick() throws {
    let p = 64
    var evaluated: [Int] = []
    let scorer = FunctionScorer { problem, masked in Self.tangled(problem: problem, masked) }
    let counting = CountingScorer(base: scorer) { evaluated.append($0) }
    let settings = ScreeningSettings(top: 4, radius: 1, refresh: 0, fullBelow: 0)
    let r = try screenedBackSelect(
      problems: 1, featureCount: p, scorer: counting, screening: settings,
      neighbours: pixelNeighbours(height: 8, width: 8, radius: 1))
    #expect(Set(r.results[0].order) == Set(0..<p))
    // The first step: the input and every candidate; then at most 4 + 8 per step until the
    // candidates left fit the screened subset.
    #expect(evaluated[0] == p + 1)
    for n in evaluated.dropFirst() { #expect(n <= 12) }
    #expect(r.stats.evaluations == evaluated.reduce(0, +))
    #expect(r.stats.evaluations <= settings.evaluations(features: p))
    // The values stored are the function's at the masks the order gives.
    var masked = [Bool](repeating: false, count: p)
    for (f, v) in zip(r.results[0].order, r.results[0].values) {
      masked[f] = true
      #expect(v == Float(Self.tangled(problem: 0, masked)))
    }
  }

  @Test func refreshAndTheFullTailEvaluateEveryCandidate() throws {
    let p = 40
    var evaluated: [Int] = []
    let scorer = CountingScorer(base: FunctionScorer { problem, masked in Self.tangled(problem: problem, masked) }) {
      evaluated.append($0)
    }
    let settings = ScreeningSettings(top: 3, radius: 0, refresh: 10, fullBelow: 6)
    _ = try screenedBackSelect(
      problems: 1, featureCount: p, scorer: scorer, screening: settings,
      neighbours: pixelNeighbours(height: 5, width: 8, radius: 0))
    // Step s (0-based) has p − s candidates: full at s = 0, 10, 20, 30 and from 6 left on.
    let expected = (0..<p).map { s -> Int in
      let left = p - s
      if s == 0 { return left + 1 }
      return s % 10 == 0 || left <= 6 ? left : 3
    }
    #expect(evaluated == expected)
    #expect(evaluated.reduce(0, +) == settings.evaluations(features: p))
  }

  @Test func checkModeChangesNothingAndCountsAgreement() throws {
    let p = 36
    let scorer = FunctionScorer { problem, masked in Self.tangled(problem: problem, masked) }
    let settings = ScreeningSettings(top: 2, radius: 1, refresh: 0, fullBelow: 4)
    let neighbours = pixelNeighbours(height: 6, width: 6, radius: 1)
    let plain = try screenedBackSelect(problems: 2, featureCount: p, scorer: scorer, screening: settings, neighbours: neighbours)
    let checked = try screenedBackSelect(
      problems: 2, featureCount: p, scorer: scorer, screening: settings, neighbours: neighbours, check: true)
    #expect(checked.results == plain.results)
    #expect(checked.stats.checkedSteps == plain.stats.screenedSteps)
    #expect(checked.stats.agreeingSteps == checked.stats.pickRankAtMost[1])
    #expect(checked.stats.agreeingSteps < checked.stats.checkedSteps)
    // Ranks are cumulative: within the best 64 of at most 36 candidates is every step.
    #expect(checked.stats.pickRankAtMost[64] == checked.stats.checkedSteps)
    #expect(checked.stats.evaluations > plain.stats.evaluations)
  }

  @Test func neighboursOfAPixelGrid() {
    let n = pixelNeighbours(height: 3, width: 4, radius: 1)
    #expect(n[0] == [1, 4, 5])
    #expect(n[5] == [0, 1, 2, 4, 6, 8, 9, 10])
    #expect(n[11] == [6, 7, 10])
    #expect(pixelNeighbours(height: 3, width: 4, radius: 0).allSatisfy { $0.isEmpty })
    #expect(pixelNeighbours(height: 5, width: 5, radius: 2)[12].count == 24)
  }

  @Test func badSettingsAreRefusedWithTheirValues() {
    let scorer = FunctionScorer { _, masked in Self.interacting(masked) }
    #expect(throws: SISError.self) {
      try screenedBackSelect(
        problems: 1, featureCount: 6, scorer: scorer, screening: ScreeningSettings(top: 0), neighbours: Self.noNeighbours)
    }
    #expect(throws: SISError.self) {
      try screenedBackSelect(problems: 1, featureCount: 6, scorer: scorer, screening: ScreeningSettings(), neighbours: [])
    }
    #expect(ScreeningSettings(top: 0, radius: -1, refresh: -2, fullBelow: -3).problems().count == 4)
  }

  /// The fast method on a linear model with one interaction the gradient cannot see: the
  /// screened exact phase with M at least the pixels left is the hybrid, and with small M every
  /// SIS is still sufficient.
  @Test(arguments: [SelectionScore.logprob, .prob])
  func theFastMethodIsTheHybridWhenScreeningCoversEveryCandidate(score: SelectionScore) throws {
    let weights: [Float] = [0.5, 0.1, 0.7, 0.3, 0.9, 0.2, 0.8, 0.4, 0.6, 0.25, 0.75, 0.35, 0.15, 0.45, 0.55, 0.65]
    let net = InteractionClassifier(weights: weights.map { $0 * 1.5 }, penalty: 4)
    let images = [[Float](repeating: 1, count: 16), (0..<16).map { Float($0 % 4) * 0.4 + 0.3 }]
    let hybrid = try hybridBackSelect(
      classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 2, switchProbability: 0.99,
      capAtFullImage: true, exactLast: 8, setAside: true, score: score, chunk: 7)
    let wide = try hybridBackSelect(
      classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 2, switchProbability: 0.99,
      capAtFullImage: true, exactLast: 8, setAside: true, score: score, chunk: 7,
      screening: ScreeningSettings(top: 16, radius: 1, refresh: 0, fullBelow: 0, occlusionShare: 0))
    #expect(wide == hybrid)
    var stats: ScreeningStats?
    let narrow = try hybridBackSelect(
      classifier: net, images: images, classes: [0, 0], inputShape: [1, 4, 4], k: 2, switchProbability: 0.99,
      capAtFullImage: true, exactLast: 8, setAside: true, score: score, chunk: 7,
      screening: ScreeningSettings(top: 1, radius: 0, refresh: 0, fullBelow: 0, occlusionShare: 0),
      onCost: { stats = $0.screening })
    #expect((stats?.screenedSteps ?? 0) > 0)
    let scorer = try ClassifierScorer(
      classifier: net, images: images, classes: [0, 0], layout: .pixels([1, 4, 4]), score: score)
    for (i, r) in narrow.enumerated() {
      #expect(Set(r.order) == Set(0..<16))
      let full = try scorer.evaluateMasked([(i, [Bool](repeating: false, count: 16))])[0].probability
      for t in [0.5, 0.9, 0.99] {
        guard case .sis(let sis) = findSIS(order: r.order, values: r.values, fullInput: Float(full), threshold: Float(t)) else {
          continue
        }
        var masked = [Bool](repeating: true, count: 16)
        for f in sis { masked[f] = false }
        #expect(Float(try scorer.evaluateMasked([(i, masked)])[0].probability) >= Float(t))
      }
    }
  }
}

extension ScreeningTests {
  /// p = sigmoid(Σ unmasked weights − 5) over 16 features: masking a feature lowers the logit by
  /// its weight, so single-pixel drops rank the features by weight.
  static let additive: [Double] = [0.1, 2.0, 0.3, 1.5, 0.05, 0.8, 0.2, 1.1, 0.4, 0.15, 0.9, 0.25, 0.6, 0.35, 1.3, 0.45]
  static func sigmoid(_ masked: [Bool]) -> Double {
    var z = -5.0
    for (i, w) in additive.enumerated() where !masked[i] { z += w }
    return 1 / (1 + Foundation.exp(-z))
  }

  /// The blocks of an occlusion phase's result (runs of one recorded value): the mask after each
  /// and the value it recorded.
  static func blocks(of r: BackSelectResult, features: Int) -> [(masked: [Bool], value: Float)] {
    var out: [(masked: [Bool], value: Float)] = []
    var masked = [Bool](repeating: false, count: features)
    var i = 0
    while i < r.order.count {
      let v = r.values[i]
      while i < r.order.count && r.values[i] == v {
        masked[r.order[i]] = true
        i += 1
      }
      out.append((masked, v))
    }
    return out
  }

  @Test func theOcclusionPhaseMasksTheSmallestDropsInBlocksAndKeepsTheLevel() throws {
    let scorer = FunctionScorer(score: .logprob) { _, masked in Self.sigmoid(masked) }
    let full = Self.sigmoid([Bool](repeating: false, count: 16))
    // Level 0.5: the logit (5.45 on the full input) may fall to 0, so the first block, the 8
    // lightest features (1.8), is kept whole, and so is the next of 4 (2.75); 4 are left.
    let phase = try occlusionPhase(
      problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, switchBelow: 0.5, capAtFullImage: true)
    let order = phase.results[0].order
    let byWeight = (0..<16).sorted { Self.additive[$0] < Self.additive[$1] }
    #expect(Array(order.prefix(8)) == Array(byWeight.prefix(8)))
    #expect(phase.results[0].values.allSatisfy { Double($0) >= 0.5 })
    #expect(phase.masked[0].count { !$0 } >= 4)
    // Every value is the probability with the pixels up to its block masked.
    for block in Self.blocks(of: phase.results[0], features: 16) {
      #expect(abs(Double(block.value) - Self.sigmoid(block.masked)) < 1e-6)
    }
    // The first round evaluated the input and all 16 pixels, then measured its block.
    #expect(phase.evaluations >= 16 + 1 + 1)
    // A level above the full image's probability: without the cap the phase does nothing.
    let none = try occlusionPhase(
      problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, switchBelow: Float(full) + 0.001,
      capAtFullImage: false)
    #expect(none.results[0].order.isEmpty)
  }

  @Test func aBlockThatDipsBelowTheLevelIsHalved() throws {
    // Level 0.99 (logit 4.595): from 5.45 only 0.855 of weight may go. The block of the 8
    // lightest (1.8) dips and is halved to 4 (0.5); of the next round's 6 only the first (0.25)
    // stays above the level; then even one more pixel (0.3) would dip.
    let scorer = FunctionScorer(score: .logprob) { _, masked in Self.sigmoid(masked) }
    let phase = try occlusionPhase(
      problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, switchBelow: 0.99, capAtFullImage: true)
    let byWeight = (0..<16).sorted { Self.additive[$0] < Self.additive[$1] }
    #expect(phase.results[0].order == Array(byWeight.prefix(phase.results[0].order.count)))
    #expect(phase.results[0].values.allSatisfy { $0 >= 0.99 })
    var masked = [Bool](repeating: false, count: 16)
    for f in phase.results[0].order { masked[f] = true }
    // No single further pixel keeps the level: the phase ended because even one would dip.
    let next = byWeight[phase.results[0].order.count]
    masked[next] = true
    #expect(Self.sigmoid(masked) < 0.99)
  }
}

extension ScreeningTests {
  /// With `rerank`, a ranking serves the blocks after a halved one; where single-pixel drops do not
  /// change as pixels go (the additive model), the order and values are those of ranking before
  /// every block, for fewer passes; a pixel from an old ranking that dips asks for a new ranking
  /// before the phase ends.
  @Test func aStaleRankingServesLaterBlocksForFewerPasses() throws {
    let scorer = FunctionScorer(score: .logprob) { _, masked in Self.sigmoid(masked) }
    func run(_ rerank: Double) throws -> (masked: [[Bool]], results: [BackSelectResult], evaluations: Int) {
      try occlusionPhase(
        problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, rerank: rerank, switchBelow: 0.99,
        capAtFullImage: true)
    }
    let every = try run(0)
    // Ranking 16 (17 passes), block 8 dips, 4 kept (2 measurements); ranking 12 (13), 6 and 3
    // dip, 1 kept (3); ranking 11 (12), 5, 2 and 1 dip (3): the phase ends.
    #expect(every.evaluations == 50)
    #expect(every.results[0].order.count == 5)
    for rerank in [0.5, 1.0] {
      let stale = try run(rerank)
      #expect(stale.results[0].order == every.results[0].order, "rerank \(rerank)")
      #expect(stale.results[0].values == every.results[0].values, "rerank \(rerank)")
      #expect(stale.masked == every.masked, "rerank \(rerank)")
      // The second block came from the first ranking (no 13 passes); the pixel that dipped after
      // it was from that ranking, so the phase ranked again (12 passes) before ending.
      #expect(stale.evaluations == 40, "rerank \(rerank)")
    }
    // A quarter: the 4 masked after the first ranking (of 16) call for a second (13), whose
    // block keeps 1 pixel (3); the next block from it dips down to one pixel (3), which asks for a
    // third ranking (12) and its last 3 probes: 3 passes more than ranking before every block.
    let quarter = try run(0.25)
    #expect(quarter.results[0].order == every.results[0].order)
    #expect(quarter.evaluations == 53)
    // Pooled rankings: after the first block was halved to 4, the next ranking evaluates the
    // best 2 x 4 by the first (9 passes) and tries 4 of them (4, 2 dip, 1 kept: 3); the next
    // pools 2 x 1 (3 passes), whose best pixel dips (1): the phase ends, 15 passes fewer.
    let pooled = try occlusionPhase(
      problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, pool: 2, switchBelow: 0.99,
      capAtFullImage: true)
    #expect(pooled.results[0].order == every.results[0].order)
    #expect(pooled.results[0].values == every.results[0].values)
    #expect(pooled.evaluations == 35)
    #expect(throws: SISError.self) {
      try occlusionPhase(
        problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, rerank: 0.5, pool: 2, switchBelow: 0.99,
        capAtFullImage: true)
    }
    #expect(ScreeningSettings(occlusionRerank: 0.5, occlusionPool: 4).problems().count == 1)
    #expect(ScreeningSettings(occlusionPool: 4).label.hasSuffix("pooled rankings of 4x the block kept"))
    #expect(throws: SISError.self) { try run(1.5) }
    #expect(throws: SISError.self) { try run(-0.1) }
    #expect(ScreeningSettings(occlusionRerank: 2, occlusionPool: 0).problems().count == 1)
    #expect(ScreeningSettings(occlusionRerank: 0.5, occlusionPool: 0).label.hasSuffix("ranked again after 50% masked"))
    #expect(!ScreeningSettings().label.contains("ranked again"))
  }
}

extension ScreeningTests {
  /// A cheaper, less precise scorer selects (as bfloat16 does); the precise one measures what is
  /// stored, so every SIS FindSIS returns is sufficient under the precise function.
  @Test func remeasuredValuesAreThePreciseFunctionsAtEveryStoredMask() throws {
    let precise = FunctionScorer(score: .logprob) { _, masked in Self.sigmoid(masked) }
    // Rounded to 2 decimals: ties and small errors, as a low precision makes.
    let coarse = FunctionScorer(score: .logprob) { _, masked in (Self.sigmoid(masked) * 100).rounded() / 100 }
    let evaluator = FunctionMaskEvaluator(problems: 1, pixels: 16) { _, mask in
      let masked = mask.map { $0 > 0.5 }
      let p = Float(Self.sigmoid(masked))
      return (p, Foundation.log(p), (0..<16).map { Float(-Self.additive[$0]) })
    }
    let r = try hybridBackSelect(
      evaluator: evaluator, scorer: coarse, k: 2, switchProbability: 0.9, capAtFullImage: true, exactLast: 6, setAside: true,
      screening: ScreeningSettings(top: 2, radius: 0, refresh: 0, fullBelow: 0, occlusionShare: 0.5),
      neighbours: [[Int]](repeating: [], count: 16), remeasure: precise)[0]
    #expect(Set(r.order) == Set(0..<16))
    // Each value: the precise probability after its pixel (or, in the early phase, its block).
    var masked = [Bool](repeating: false, count: 16)
    var i = 0
    while i < r.order.count {
      var j = i
      while j + 1 < r.order.count && r.values[j + 1] == r.values[i] && j + 1 < 10 { j += 1 }
      for f in r.order[i...j] { masked[f] = true }
      #expect(abs(Double(r.values[j]) - Self.sigmoid(masked)) < 1e-6, "step \(j)")
      i = j + 1
    }
    let full = Float(Self.sigmoid([Bool](repeating: false, count: 16)))
    for t in [Float(0.5), 0.9] {
      guard case .sis(let sis) = findSIS(order: r.order, values: r.values, fullInput: full, threshold: t) else { continue }
      var kept = [Bool](repeating: true, count: 16)
      for f in sis { kept[f] = false }
      #expect(Float(Self.sigmoid(kept)) >= t)
    }
  }
}

extension ScreeningTests {
  /// A ranking scorer (as the bfloat16 model is for `occlusionPrecision`) orders the occlusion
  /// blocks; the first scorer measures every block, so the values recorded are its own.
  @Test func anotherScorerRanksTheOcclusionBlocksWhileTheFirstMeasuresThem() throws {
    // The ranking's weights: the model's, reversed (the same total, so the same full input).
    let reversed = Array(Self.additive.reversed())
    func sigmoid(_ weights: [Double], _ masked: [Bool]) -> Double {
      var z = -5.0
      for (i, w) in weights.enumerated() where !masked[i] { z += w }
      return 1 / (1 + Foundation.exp(-z))
    }
    var measured = 0
    var ranked = 0
    let scorer = CountingScorer(base: FunctionScorer(score: .logprob) { _, m in sigmoid(Self.additive, m) }) { measured += $0 }
    let ranker = CountingScorer(base: FunctionScorer(score: .logprob) { _, m in sigmoid(reversed, m) }) { ranked += $0 }
    let phase = try occlusionPhase(
      problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, switchBelow: 0.5, capAtFullImage: true,
      rankingScorer: ranker)
    let (rankings, blocks) = (ranked, measured)
    let own = try occlusionPhase(
      problems: 1, featureCount: 16, scorer: scorer, exactLast: 4, share: 0.5, switchBelow: 0.5, capAtFullImage: true)
    let order = phase.results[0].order
    #expect(!order.isEmpty)
    // The first block: the pixels the ranking finds lightest, not those the model does.
    let byRanking = (0..<16).sorted { reversed[$0] < reversed[$1] }
    let firstBlock = order.prefix { phase.results[0].values[order.firstIndex(of: $0)!] == phase.results[0].values[0] }
    #expect(Set(firstBlock) == Set(byRanking.prefix(firstBlock.count)))
    #expect(order != own.results[0].order)
    // Every value is the model's probability with the pixels up to its block masked.
    for block in Self.blocks(of: phase.results[0], features: 16) {
      #expect(abs(Double(block.value) - sigmoid(Self.additive, block.masked)) < 1e-6)
      #expect(block.value >= 0.5)
    }
    // The ranking scorer evaluated the rankings (the input and each remaining pixel), the first
    // scorer only the blocks (one candidate each); together, the phase's evaluations.
    #expect(rankings >= 17)
    #expect(blocks >= 1 && blocks < rankings)
    #expect(rankings + blocks == phase.evaluations)
    #expect(ranked == rankings, "the run without a ranking scorer ranks with the first")
  }

  /// On a real network: the fast method with its occlusion rankings in bfloat16 (the twin) counts
  /// those passes as bfloat16, stores float32 values (so every SIS is float32-sufficient), and
  /// the selector asks for the twin it needs.
  @Test func occlusionRankingsInBFloat16StoreFloat32Values() throws {
    let net = try Generator.seeded(4) { try Architecture.resnet20.build(inputSize: 8) }
    let shape = [3, 8, 8]
    var rng = SplitMix64(seed: 3)
    let images = (0..<2).map { _ in (0..<(3 * 64)).map { _ in Float(rng.below(2001)) / 1000 - 1 } }
    let x = try Tensor(images.flatMap { $0 }, shape: [2] + shape)
    let classes = try withInferenceMode { try net.logits(x).argmax(dim: 1).ints() }
    var settings = SelectionSettings(
      method: .fast, k: 4, hybrid: HybridSettings(switchAt: 0, exactLast: 16, onDip: .switch, switchCap: .confidence),
      screening: ScreeningSettings(occlusionPrecision: .bf16), chunk: 64, group: 2)
    #expect(throws: SISError.self) { try Selector(settings: settings, classifier: net, layout: .pixels(shape)) }
    let twin = try bfloat16Twin(net)
    let (results, cost) = try Selector(settings: settings, classifier: net, fast: twin, layout: .pixels(shape))
      .select(images: images, classes: classes)
    settings.screening?.occlusionPrecision = .fp32
    let (_, plain) = try Selector(settings: settings, classifier: net, layout: .pixels(shape))
      .select(images: images, classes: classes)
    #expect(plain.bf16Passes == 0)
    // Each image's first ranking alone evaluates the input and its 64 pixels in bfloat16.
    #expect(cost.bf16Passes >= 2 * 65)
    #expect(cost.forwardPasses < plain.forwardPasses)
    let reference = try ClassifierScorer(
      classifier: net, images: images, classes: classes, layout: .pixels(shape), score: .logprob, chunk: 64)
    for (i, r) in results.enumerated() {
      #expect(r.order.sorted() == Array(0..<64))
      for j in [0, 20, 40, 50, 63] {
        var masked = [Bool](repeating: false, count: 64)
        for f in r.order[0...j] { masked[f] = true }
        // A block records its value at every pixel: compare only where the next value differs.
        guard j == 63 || r.values[j + 1] != r.values[j] else { continue }
        let v = try reference.evaluateMasked([(i, masked)])[0]
        #expect(Swift.abs(Float(v.probability) - r.values[j]) <= 1e-5, "image \(i), step \(j)")
      }
    }
  }
}

/// Passes requests to `base` and reports the candidates of each call.
struct CountingScorer<Base: CandidateScorer>: CandidateScorer {
  let base: Base
  let record: (Int) -> Void
  func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] {
    record(requests.reduce(0) { $0 + $1.candidates.count })
    return try base.evaluate(requests)
  }
  var scoreCeiling: Double? { base.scoreCeiling }
}

/// The method label names the switch level with the decimals it needs.
@Suite struct SelectionLabelTests {
  @Test func switchLevelsKeepTheirDecimals() {
    func label(_ switchAt: Double) -> String {
      SelectionSettings(
        method: .fast, k: 8, hybrid: HybridSettings(switchAt: switchAt), screening: ScreeningSettings()
      ).label
    }
    #expect(label(0.999).contains("switch 0.9990 "))
    #expect(label(0.99999).contains("switch 0.99999 "))
    #expect(label(0.5).contains("switch 0.5000 "))
  }
}
