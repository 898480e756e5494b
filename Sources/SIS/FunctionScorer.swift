/// A scorer over a plain Swift function of the masked input: `f(problem, masked)` returns the
/// class probability and the selection score. For tests and for callers with analytic models.
public struct FunctionScorer: CandidateScorer {
  let f: (_ problem: Int, _ masked: [Bool]) -> Evaluation
  public let scoreCeiling: Double?

  /// `ceiling`: the largest score `f` can return, if known (lets BackSelect end saturated steps early).
  public init(ceiling: Double? = nil, _ f: @escaping (_ problem: Int, _ masked: [Bool]) -> Evaluation) {
    self.f = f
    scoreCeiling = ceiling
  }

  /// Probability-valued functions, ranked by `score`.
  public init(score: SelectionScore = .prob, probability: @escaping (_ problem: Int, _ masked: [Bool]) -> Double) {
    scoreCeiling = score == .prob ? 1 : 0
    f = { problem, masked in
      let p = probability(problem, masked)
      switch score {
      case .prob: return Evaluation(score: p, probability: p)
      case .logprob, .margin: return Evaluation(score: Foundation.log(p), probability: p)
      }
    }
  }

  public func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] {
    requests.map { r in
      r.candidates.map { c in
        var m = r.masked
        if c != CandidateRequest.none { m[c] = true }
        return f(r.problem, m)
      }
    }
  }
}

import Foundation
