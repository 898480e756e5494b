/// What BackSelect maximises when it picks the next feature to mask.
public enum SelectionScore: String, CaseIterable, Codable, Sendable {
  /// Softmax probability of the class (the reference behaviour; saturates at 1.0 in float32).
  case prob
  /// Log-softmax of the class, computed stably: the same order as `prob` wherever float32 can
  /// tell the probabilities apart, and still ordered where the probability has saturated.
  case logprob
  /// Logit of the class minus the largest other logit.
  case margin
}

/// How a run orders features.
public enum SelectionMethod: String, CaseIterable, Codable, Sendable {
  /// BackSelect over every candidate (`backSelect`).
  case exact
  /// Batched Gradient BackSelect, k pixels per block (`gradientBackSelect`, the paper's S5).
  case gradient
  /// Gradient blocks, then exact selection for the last part (`hybridBackSelect`).
  case hybrid
  /// The hybrid's gradient blocks, then screened exact selection for the last part
  /// (`hybridBackSelect` with `ScreeningSettings`): exact-like SIS at a small multiple of the
  /// gradient method's cost.
  case fast
}

/// Hybrid only: what a gradient block that takes the probability below the switch level does.
public enum DipPolicy: String, CaseIterable, Codable, Sendable {
  /// The block is put back and the exact phase starts.
  case `switch`
  /// The block is put back, its pixels are kept for the exact phase, and gradient blocks go on.
  case setAside = "set-aside"
}

/// Hybrid only: the switch level of an image whose own confidence is below `--switch-at`.
public enum SwitchCap: String, CaseIterable, Codable, Sendable {
  /// No cap: such an image goes straight to the exact phase (every pixel ordered exactly).
  case none
  /// The image's probability on the full image is its switch level.
  case confidence
}

/// One evaluation request: the image `problem` with the features in `masked` masked, and the
/// candidate features to mask additionally, one at a time. The candidate `CandidateRequest.none`
/// masks nothing more (it evaluates the input as `masked` leaves it).
public struct CandidateRequest: Sendable {
  public var problem: Int
  public var masked: [Bool]
  public var candidates: [Int]

  public static let none = -1

  public init(problem: Int, masked: [Bool], candidates: [Int]) {
    self.problem = problem
    self.masked = masked
    self.candidates = candidates
  }
}

/// The value of the selection score and the class probability for one masked input.
public struct Evaluation: Sendable, Equatable {
  public var score: Double
  public var probability: Double

  public init(score: Double, probability: Double) {
    self.score = score
    self.probability = probability
  }
}

/// Evaluates f on batches of masked inputs. BackSelect only sees this protocol, so it runs on
/// analytic functions in tests and on classifiers (`ClassifierScorer`) in production.
public protocol CandidateScorer {
  /// For each request, one evaluation per candidate (in the request's candidate order).
  func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]]
  /// The largest value the selection score can take, where there is one: 1 for the softmax
  /// probability, 0 for the log-probability. BackSelect uses it to end a step early once two
  /// candidates reach it (nothing later can beat the first, and the tie is known). nil: none.
  var scoreCeiling: Double? { get }
}

extension CandidateScorer {
  public var scoreCeiling: Double? { nil }

  /// f on several inputs, each with its own set of masked features.
  public func evaluateMasked(_ inputs: [(problem: Int, masked: [Bool])]) throws -> [Evaluation] {
    try evaluate(inputs.map { CandidateRequest(problem: $0.problem, masked: $0.masked, candidates: [CandidateRequest.none]) })
      .map { $0[0] }
  }
}

/// The outcome of backward selection on one input.
public struct BackSelectResult: Sendable, Equatable {
  /// Features in the order they were masked (r1 … rp; features masked beforehand excluded).
  public var order: [Int]
  /// Class probability after masking order[0...i] (v1 … vp).
  public var values: [Float]
  /// The selection score after masking order[0...i] (equal to `values` for `.prob`).
  public var scores: [Float]
  /// Steps whose best candidate tied exactly with the runner-up on the selection score.
  public var exactTies: Int
  /// Steps whose best candidate was within 1e-6 (absolute) of the runner-up.
  public var nearTies: Int
}

/// Backward selection (BackSelect, Carter et al. 2019): from the input with `initiallyMasked`
/// features masked, repeatedly mask the unmasked feature whose masking leaves the highest score,
/// until every feature is masked. Ties go to the lowest feature index. Runs several inputs in
/// lockstep, so the evaluator can fill its batches with candidates of different images.
///
/// Saturated steps end early: when the scorer has a score ceiling (`prob`: a float32 softmax
/// probability cannot exceed 1) and an input's previous step reached it, the step first
/// evaluates only its `probe` lowest-index candidates; if two of them reach the ceiling, the
/// first wins (no later candidate can score higher, and ties go to the lowest index) and the
/// step counts as an exact tie, exactly as evaluating every candidate would decide. Otherwise
/// the rest is evaluated. While the softmax is saturated this replaces a pass over every
/// remaining pixel by one small batch.
///
/// - Parameters:
///   - problems: number of inputs (problem ids 0..<problems are passed to the scorer).
///   - featureCount: p, the number of features.
///   - initiallyMasked: per problem, features already masked (nil: none).
///   - probe: candidates evaluated first in a step that may end early.
///   - onStep: called after each lockstep step with the number of candidates the step decided
///     between (evaluated or not).
public func backSelect(
  problems: Int, featureCount: Int, initiallyMasked: [[Bool]]? = nil, scorer: some CandidateScorer, probe: Int = 32,
  onStep: ((Int) -> Void)? = nil
) throws -> [BackSelectResult] {
  var masked = initiallyMasked ?? [[Bool]](repeating: [Bool](repeating: false, count: featureCount), count: problems)
  var remaining = masked.map { m in (0..<featureCount).filter { !m[$0] } }
  var results = [BackSelectResult](
    repeating: BackSelectResult(order: [], values: [], scores: [], exactTies: 0, nearTies: 0), count: problems)
  let ceiling = scorer.scoreCeiling
  var atCeiling = [Bool](repeating: false, count: problems)
  let probe = Swift.max(probe, 2)
  while true {
    let active = (0..<problems).filter { !remaining[$0].isEmpty }
    if active.isEmpty { break }
    // Evaluations of a prefix of each problem's candidates (all of them unless the step ends early).
    let probing = active.map { ceiling != nil && atCeiling[$0] && remaining[$0].count > probe }
    var evaluations = try scorer.evaluate(
      active.enumerated().map { k, problem in
        CandidateRequest(
          problem: problem, masked: masked[problem],
          candidates: probing[k] ? Array(remaining[problem].prefix(probe)) : remaining[problem])
      })
    if let ceiling {
      let rest = active.indices.filter { probing[$0] && evaluations[$0].lazy.filter { $0.score >= ceiling }.count < 2 }
      if !rest.isEmpty {
        let more = try scorer.evaluate(
          rest.map {
            CandidateRequest(
              problem: active[$0], masked: masked[active[$0]], candidates: Array(remaining[active[$0]].dropFirst(probe)))
          })
        for (k, e) in zip(rest, more) { evaluations[k] += e }
      }
    }
    var decided = 0
    for (k, problem) in active.enumerated() {
      let evals = evaluations[k]
      let candidates = remaining[problem]
      decided += candidates.count
      // Candidates are in increasing feature order, so the first maximum is the lowest index.
      var best = 0
      for i in 1..<evals.count where evals[i].score > evals[best].score { best = i }
      var runnerUp = -Double.infinity
      for i in 0..<evals.count where i != best { runnerUp = Swift.max(runnerUp, evals[i].score) }
      if runnerUp == evals[best].score { results[problem].exactTies += 1 }
      if candidates.count > 1 && evals[best].score - runnerUp <= 1e-6 { results[problem].nearTies += 1 }
      if let ceiling { atCeiling[problem] = evals[best].score >= ceiling }
      let feature = candidates[best]
      results[problem].order.append(feature)
      results[problem].values.append(Float(evals[best].probability))
      results[problem].scores.append(Float(evals[best].score))
      masked[problem][feature] = true
      remaining[problem].remove(at: best)
    }
    onStep?(decided)
  }
  return results
}

/// The result of FindSIS for one input.
public enum SISOutcome: Sendable, Equatable {
  /// f(x) < τ: the input has no SIS at this threshold (not an error).
  case noSIS
  /// The SIS, listed from the last-masked feature backwards (the reference order).
  case sis([Int])

  public var features: [Int]? {
    if case .sis(let f) = self { return f }
    return nil
  }
}

/// FindSIS from a finished backward selection: walk back from the last-masked feature, adding
/// features while the recorded probability is below τ, and stop at the first value ≥ τ. The SIS
/// is the shortest suffix of the removal order whose masked input still has f ≥ τ: empty if even
/// the fully masked input reaches τ, every feature if no recorded value does.
///
/// - Parameters:
///   - fullInput: f on the input before backward selection (decides whether a SIS exists).
public func findSIS(order: [Int], values: [Float], fullInput: Float, threshold: Float) -> SISOutcome {
  guard fullInput >= threshold, !order.isEmpty else { return .noSIS }
  var sis: [Int] = []
  var i = order.count - 1
  while i >= 0 {
    if values[i] >= threshold { break }
    sis.append(order[i])
    i -= 1
  }
  return .sis(sis)
}

/// The features kept by a "last k% of the backward-selection order" subset: the last
/// ceil(fraction * p) features of the order (5% of 1,024 pixels = 52).
public func backSelectSubset(order: [Int], fraction: Double) -> [Int] {
  let k = Swift.min(order.count, Int((fraction * Double(order.count)).rounded(.up)))
  return Array(order.suffix(k))
}

/// The SIS collection of one input: find a SIS, mask it permanently, and search again among
/// the remaining features, until the remaining input has f < τ (or no features remain). The SIS
/// found are disjoint.
public func sisCollection(
  problem: Int, featureCount: Int, threshold: Float, scorer: some CandidateScorer, maxCount: Int = .max
) throws -> [(sis: [Int], backSelect: BackSelectResult)] {
  var masked = [Bool](repeating: false, count: featureCount)
  var out: [(sis: [Int], backSelect: BackSelectResult)] = []
  while out.count < maxCount, masked.contains(false) {
    let start = try scorer.evaluateMasked([(problem, masked)])[0]
    // Compared in float32, as FindSIS compares the recorded values: a probability equal to τ
    // reaches it in both.
    guard Float(start.probability) >= threshold else { break }
    let bs = try backSelect(
      problems: 1, featureCount: featureCount, initiallyMasked: [masked], scorer: SingleProblem(scorer, problem))[0]
    guard
      case .sis(let sis) = findSIS(order: bs.order, values: bs.values, fullInput: Float(start.probability), threshold: threshold)
    else { break }
    out.append((sis, bs))
    if sis.isEmpty { break }  // the fully masked remainder already reaches τ: nothing more to find
    for f in sis { masked[f] = true }
  }
  return out
}

/// Routes problem 0 of a one-problem run to problem `id` of a shared scorer.
struct SingleProblem<S: CandidateScorer>: CandidateScorer {
  let base: S
  let id: Int
  init(_ base: S, _ id: Int) {
    self.base = base
    self.id = id
  }
  func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] {
    try base.evaluate(
      requests.map {
        var r = $0; r.problem = id; return r
      })
  }
  var scoreCeiling: Double? { base.scoreCeiling }
}
