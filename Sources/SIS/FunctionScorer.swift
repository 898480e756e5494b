import Foundation

/// A scorer over a plain Swift function of the masked input, for tests and for callers with
/// analytic models. Three forms:
///
/// - `FunctionScorer { problem, masked in value }`: any function; its value is both the score
///   and the probability FindSIS tests. No score ceiling is assumed, so BackSelect evaluates
///   every candidate of every step (correct for unbounded functions).
/// - `FunctionScorer(score:probability:)`: a function returning class probabilities in [0, 1]
///   (anything else is refused when evaluated), ranked like `ClassifierScorer` ranks a
///   classifier's: `.prob` by the probability (ceiling 1), `.logprob` by its logarithm
///   (ceiling 0), `.margin` by the two-class logit margin log(p / (1 − p)) (no ceiling).
/// - `FunctionScorer(ceiling:) { problem, masked in Evaluation(...) }`: score and probability
///   given separately, with the score's largest possible value if known.
public struct FunctionScorer: CandidateScorer {
  let f: (_ problem: Int, _ masked: [Bool]) throws -> Evaluation
  public let scoreCeiling: Double?

  /// `ceiling`: the largest score `f` can return, if known (lets BackSelect end saturated steps early).
  public init(ceiling: Double? = nil, _ f: @escaping (_ problem: Int, _ masked: [Bool]) -> Evaluation) {
    self.f = f
    scoreCeiling = ceiling
  }

  /// Any function of the masked input, ranked by its value (no ceiling).
  public init(_ f: @escaping (_ problem: Int, _ masked: [Bool]) -> Double) {
    self.f = { problem, masked in
      let v = f(problem, masked)
      return Evaluation(score: v, probability: v)
    }
    scoreCeiling = nil
  }

  /// Probability-valued functions, ranked by `score`.
  public init(score: SelectionScore, probability: @escaping (_ problem: Int, _ masked: [Bool]) -> Double) {
    switch score {
    case .prob: scoreCeiling = 1
    case .logprob: scoreCeiling = 0
    case .margin: scoreCeiling = nil
    }
    f = { problem, masked in
      let p = probability(problem, masked)
      guard p >= 0 && p <= 1 else {
        throw SISError.badArgument(
          "FunctionScorer(score:probability:) got \(p) for problem \(problem), not a probability in [0, 1]; use FunctionScorer { ... } for other functions"
        )
      }
      switch score {
      case .prob: return Evaluation(score: p, probability: p)
      case .logprob: return Evaluation(score: Foundation.log(p), probability: p)
      case .margin: return Evaluation(score: Foundation.log(p) - Foundation.log1p(-p), probability: p)
      }
    }
  }

  public func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] {
    try requests.map { r in
      try r.candidates.map { c in
        var m = r.masked
        if c != CandidateRequest.none { m[c] = true }
        return try f(r.problem, m)
      }
    }
  }
}
