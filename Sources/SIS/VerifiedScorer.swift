import Base
import Models
import Torch

/// How BackSelect's candidates are scored.
public enum Precision: String, CaseIterable, Codable, Sendable {
  /// Every candidate in float32 (the reference).
  case fp32
  /// Every candidate in bfloat16 (the folded twin, `bfloat16Twin`); stored values are bfloat16's.
  case bf16
  /// Every candidate in bfloat16, the best `verifyTop` of each step again in float32, and the
  /// float32 best among them picked (`VerifiedScorer`); stored values are float32's.
  case bf16Verify = "bf16-verify"
}

/// Whether this CPU runs bfloat16 convolutions faster than float32 (Linux: the `amx_bf16` or
/// `avx512_bf16` flag of /proc/cpuinfo): oneDNN uses AMX tiles or AVX-512 BF16 dot products there.
/// Elsewhere bfloat16 runs through slower paths than float32 (34x slower for exact BackSelect on
/// an AVX2 CPU; 1.2-1.8x faster with AVX-512 BF16, docs/SIS.md).
public var cpuHasFastBF16: Bool {
  guard let bytes = try? readFile("/proc/cpuinfo") else { return false }
  return cpuInfoHasFastBF16(String(decoding: bytes, as: UTF8.self))
}

/// Whether the `flags` line of a /proc/cpuinfo text names `amx_bf16` or `avx512_bf16`.
public func cpuInfoHasFastBF16(_ cpuinfo: String) -> Bool {
  cpuinfo.split(separator: "\n").contains { line in
    line.hasPrefix("flags") && line.split(separator: " ").contains { $0 == "amx_bf16" || $0 == "avx512_bf16" }
  }
}

/// Scores every candidate with `fast` (bfloat16), scores the `top` best of each request again with
/// `exact` (float32), and returns the float32 evaluations of those and a score of -infinity for
/// the others, so that BackSelect picks the float32 best among the bfloat16 top `top`, and every
/// value it stores (the picked candidate's) is float32. Among equal bfloat16 scores the earlier
/// candidate ranks first, as BackSelect breaks ties.
///
/// Counters (`steps`, `agreeingSteps`) say how often the bfloat16 best was the pick: the fidelity
/// report of a run; `exact.evaluations` counts the candidates verified.
public final class VerifiedScorer<Fast: CandidateScorer, Exact: CandidateScorer>: CandidateScorer {
  public let fast: Fast
  public let exact: Exact
  public let top: Int
  /// Requests with at least two candidates.
  public private(set) var steps = 0
  /// Of those, the requests where the bfloat16 best was also the float32 best of the verified.
  public private(set) var agreeingSteps = 0

  public init(fast: Fast, exact: Exact, top: Int) throws {
    guard top >= 1 else { throw SISError.badArgument("the candidates verified in float32 must be at least 1, got \(top)") }
    self.fast = fast
    self.exact = exact
    self.top = top
  }

  public var scoreCeiling: Double? { exact.scoreCeiling }

  public func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] {
    let screened = try fast.evaluate(requests)
    var chosen: [[Int]] = []  // positions in each request's candidate list, best first
    for (r, evaluations) in screened.enumerated() {
      let ranked = requests[r].candidates.indices.sorted { a, b in
        evaluations[a].score != evaluations[b].score ? evaluations[a].score > evaluations[b].score : a < b
      }
      chosen.append(Array(ranked.prefix(top)))
    }
    let verified = try exact.evaluate(
      requests.enumerated().map { r, req in
        CandidateRequest(problem: req.problem, masked: req.masked, candidates: chosen[r].map { req.candidates[$0] })
      })
    var out: [[Evaluation]] = []
    for (r, req) in requests.enumerated() {
      var row = screened[r].map { Evaluation(score: -.infinity, probability: $0.probability) }
      for (j, slot) in chosen[r].enumerated() { row[slot] = verified[r][j] }
      if req.candidates.count >= 2, let fastBest = chosen[r].first {
        steps += 1
        let pick = row.indices.max { a, b in row[a].score != row[b].score ? row[a].score < row[b].score : a > b }
        if pick == fastBest { agreeingSteps += 1 }
      }
      out.append(row)
    }
    return out
  }
}

/// The scorer of exact selection (the exact method, the hybrid's exact phase) under a precision:
/// `ClassifierScorer` on `classifier` (fp32), on its bfloat16 twin `fast` (bf16), or both through
/// `VerifiedScorer` (bf16-verify); `cost` says what it ran.
public final class ExactSelectionScorer: CandidateScorer {
  enum Kind {
    case single(ClassifierScorer, bf16: Bool)
    case verified(VerifiedScorer<ClassifierScorer, ClassifierScorer>)
  }

  let kind: Kind

  /// `fast` is required for bf16 and bf16-verify (see `bfloat16Twin`).
  public init(
    classifier: any Classifier, fast: (any Classifier)?, precision: Precision, verifyTop: Int?, images: [[Float]],
    classes: [Int], layout: FeatureLayout, maskValue: [Float]?, score: SelectionScore, chunk: Int, device: Device
  ) throws {
    func scorer(_ c: any Classifier) throws -> ClassifierScorer {
      try ClassifierScorer(
        classifier: c, images: images, classes: classes, layout: layout, maskValue: maskValue, score: score, chunk: chunk,
        device: device)
    }
    switch precision {
    case .fp32:
      kind = .single(try scorer(classifier), bf16: false)
    case .bf16, .bf16Verify:
      guard let fast else { throw SISError.badArgument("\(precision.rawValue) needs the model's bfloat16 twin") }
      if precision == .bf16 {
        kind = .single(try scorer(fast), bf16: true)
      } else {
        guard let verifyTop else { throw SISError.badArgument("bf16-verify needs the number of candidates to verify") }
        kind = .verified(try VerifiedScorer(fast: try scorer(fast), exact: try scorer(classifier), top: verifyTop))
      }
    }
  }

  public var scoreCeiling: Double? {
    switch kind {
    case .single(let s, _): s.scoreCeiling
    case .verified(let v): v.scoreCeiling
    }
  }

  public func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] {
    switch kind {
    case .single(let s, _): try s.evaluate(requests)
    case .verified(let v): try v.evaluate(requests)
    }
  }

  /// Passes run so far (and, for bf16-verify, the steps and agreements).
  public var cost: SelectionCost {
    switch kind {
    case .single(let s, let bf16):
      return bf16 ? SelectionCost(bf16Passes: s.evaluations) : SelectionCost(forwardPasses: s.evaluations)
    case .verified(let v):
      return SelectionCost(
        forwardPasses: v.exact.evaluations, bf16Passes: v.fast.evaluations, verifiedSteps: v.steps,
        agreeingSteps: v.agreeingSteps)
    }
  }
}
