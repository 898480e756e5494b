/// A scorer over a plain Swift function of the masked input: `f(problem, masked)` returns the
/// class probability and the selection score. For tests and for callers with analytic models.
public struct FunctionScorer: CandidateScorer {
  let f: (_ problem: Int, _ masked: [Bool]) -> Evaluation

  public init(_ f: @escaping (_ problem: Int, _ masked: [Bool]) -> Evaluation) { self.f = f }

  /// Probability-valued functions, ranked by `score`.
  public init(score: SelectionScore = .prob, probability: @escaping (_ problem: Int, _ masked: [Bool]) -> Double) {
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
