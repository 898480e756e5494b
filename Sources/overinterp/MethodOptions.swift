import ArgumentParser
import SIS
import Torch

extension SelectionScore: ExpressibleByArgument {}
extension SelectionMethod: ExpressibleByArgument {}
extension DipPolicy: ExpressibleByArgument {}
extension SwitchCap: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// Comma-separated probabilities in [0, 1] (`--thresholds 0.5,0.9,0.99`), parsed once, sorted.
struct Thresholds: ExpressibleByArgument, CustomStringConvertible {
  let values: [Double]

  init(_ values: [Double]) { self.values = values.sorted() }

  init?(argument: String) {
    let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
    let values = parts.compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.count == parts.count, values.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { return nil }
    self.init(values)
  }

  var description: String { values.map { "\($0)" }.joined(separator: ",") }
  var defaultValueDescription: String { description }
}

/// How backward selection runs: the method and its parameters, the score, the batch shape and
/// the precision. One declaration for `backselect` and `audit`; `defaultMethod` is the only
/// thing they differ in.
struct MethodOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "exact, gradient, hybrid or fast (default: fast for audit, exact for backselect).",
      discussion:
        "exact: BackSelect over every candidate. gradient: the paper's Batched Gradient BackSelect (S5). hybrid: gradient blocks, then exact selection for the last --exact-last pixels. fast: the hybrid with a screened exact phase (docs/SIS.md): exact-like SIS at a small multiple of the gradient method's cost."
    ))
  var method: SelectionMethod?

  @Option(help: "What BackSelect maximises: prob (the reference), logprob (still ordered where the softmax saturates), margin.")
  var score: SelectionScore = .logprob

  @Option(help: "gradient, hybrid, fast: pixels masked per gradient block (the paper: 100 on ImageNet).")
  var k: Int = 8

  @Option(
    help:
      "hybrid, fast: a gradient (hybrid) or occlusion (fast) block that takes the class probability below this is put back; any SIS at a threshold up to this value then comes from the exact phase (default: 0.999 for hybrid, 0.99999 for fast)."
  )
  var switchAt: Double?

  @Option(help: "hybrid, fast: the gradient phase ends once this many pixels are left (besides set-aside ones).")
  var exactLast: Int?

  @Option(
    help:
      "hybrid, fast: what a block that takes the probability below --switch-at does: set-aside (put it back, keep its pixels for the exact phase, go on) or switch (start the exact phase)."
  )
  var onDip: DipPolicy = .setAside

  @Option(
    help:
      "hybrid, fast: the switch level of an image less confident than --switch-at: confidence (its own confidence) or none (straight to exact selection)."
  )
  var switchCap: SwitchCap = .confidence

  @Option(help: "fast: candidates with the best stale drop evaluated exactly at every screened step (M).")
  var screenTop: Int = ScreeningSettings().top

  @Option(help: "fast: pixels within this distance of the one masked last are evaluated too (0: none).")
  var screenRadius: Int = ScreeningSettings().radius

  @Option(help: "fast: every this many steps a step evaluates every candidate (0: only the first).")
  var screenRefresh: Int = ScreeningSettings().refresh

  @Option(
    help:
      "fast: at most this many times per screened step, evaluate the next M candidates by stale drop too while one not evaluated has a smaller stale drop than the best evaluated one's fresh drop (0: never)."
  )
  var screenWiden: Int = ScreeningSettings().widen

  @Option(help: "fast: the last this many pixels are ordered by full exact steps.")
  var screenFullBelow: Int = ScreeningSettings().fullBelow

  @Option(
    help:
      "fast: 0 for the hybrid's gradient blocks as the early phase; otherwise mask this share of the remaining pixels per round by their exact single-pixel drops (the occlusion phase)."
  )
  var occlusionShare: Double = ScreeningSettings().occlusionShare

  @Option(
    help:
      "fast: 0 ranks the remaining pixels again before every occlusion block; otherwise a ranking serves later blocks until the pixels masked since it was made reach this share of those it ranked (needs --occlusion-pool 0)."
  )
  var occlusionRerank: Double = ScreeningSettings().occlusionRerank

  @Option(
    help:
      "fast: 0 ranks every remaining pixel in each occlusion round; otherwise, after a round whose block was halved to b pixels, the next ranks only the best this many times b by the last ranking (the default 4 passed the seed-37 verdict)."
  )
  var occlusionPool: Int = ScreeningSettings().occlusionPool

  @Option(
    help:
      "fast: the precision of the occlusion rankings: fp32, or bf16 (the BN-folded model in bfloat16; blocks and the exact phase stay at --precision). bfloat16 is fast on CPUs with AMX or AVX-512 BF16; elsewhere fp32 is used, with a message. Its picks depend on the CPU's bfloat16 rounding."
  )
  var occlusionPrecision: Precision = ScreeningSettings().occlusionPrecision

  @Option(help: "Candidate images per forward pass (exact selection).")
  var chunk: Int = 128

  @Option(help: "Images advanced in lockstep (their candidates share forward passes; the gradient method's mini-batch).")
  var group: Int?

  @Option(
    help:
      "How exact selection (exact, and the exact phase of hybrid and fast) scores candidates: fp32, bf16 (the BN-folded model in bfloat16), or bf16-verify (all candidates in bfloat16, the best --verify-top again in float32, the float32 best picked). bfloat16 is fast on CPUs with AMX or AVX-512 BF16; elsewhere fp32 is used, with a message."
  )
  var precision: Precision = .fp32

  @Option(help: "With --precision bf16-verify: candidates per step scored again in float32.")
  var verifyTop: Int = 8

  @Flag(
    help:
      "exact, hybrid: score candidates with batch norm folded into the convolutions and channels-last weights (as the fast method always does): the same function in float32, several times faster on CPU, with other rounding (so near-ties may be broken otherwise). Recorded in the run's manifest beside the device."
  )
  var foldBatchNorm = false

  /// The hybrid's default exact tail (every candidate evaluated, so r(r+1)/2 passes), and the fast
  /// method's (a screened tail costs about r(M + 9) passes, so it can afford a longer one).
  static let hybridExactLast = 256
  static let fastExactLast = 256
  /// The switch levels: the hybrid's is the library's; the fast method's occlusion blocks must keep
  /// the probability above 0.99999 (session 20's verdict on 110 exact references,
  /// docs/studies/fast-selection.md).
  static let hybridSwitchAt = HybridSettings().switchAt
  static let fastSwitchAt = 0.99999

  /// `settings` with the precisions that run on `device` (bfloat16 falls back to float32 on a CPU
  /// without fast bfloat16, with a message; `effectivePrecision`).
  func settings(defaultMethod: SelectionMethod, defaultGroup: Int, device: Device) -> SelectionSettings {
    Self.rankings(
      of: settings(
        defaultMethod: defaultMethod, defaultGroup: defaultGroup, precision: effectivePrecision(precision, device: device)),
      on: device)
  }

  /// `s` with its occlusion rankings at the precision that runs on `device`: bfloat16 rankings
  /// (`ScreeningSettings.ranksInBFloat16`) fall back to float32 where bfloat16 is slow.
  static func rankings(of s: SelectionSettings, on device: Device) -> SelectionSettings {
    guard s.method == .fast, s.screening?.ranksInBFloat16 == true else { return s }
    var out = s
    out.screening?.occlusionPrecision = effectivePrecision(.bf16, device: device, flag: "--occlusion-precision")
    return out
  }

  func validate() throws {
    if k < 1 { throw ValidationError("--k must be at least 1, got \(k)") }
    if let switchAt, !(switchAt >= 0 && switchAt <= 1) {
      throw ValidationError("--switch-at must be a probability in [0, 1], got \(switchAt)")
    }
    if let exactLast, exactLast < 0 { throw ValidationError("--exact-last must be at least 0, got \(exactLast)") }
    if screenTop < 1 { throw ValidationError("--screen-top must be at least 1, got \(screenTop)") }
    if screenRadius < 0 { throw ValidationError("--screen-radius must be at least 0, got \(screenRadius)") }
    if screenRefresh < 0 { throw ValidationError("--screen-refresh must be at least 0, got \(screenRefresh)") }
    if screenWiden < 0 { throw ValidationError("--screen-widen must be at least 0, got \(screenWiden)") }
    if screenFullBelow < 0 { throw ValidationError("--screen-full-below must be at least 0, got \(screenFullBelow)") }
    if !(occlusionShare >= 0 && occlusionShare < 1) {
      throw ValidationError("--occlusion-share must be in [0, 1), got \(occlusionShare)")
    }
    if !(occlusionRerank >= 0 && occlusionRerank <= 1) {
      throw ValidationError("--occlusion-rerank must be in [0, 1], got \(occlusionRerank)")
    }
    if occlusionPool < 0 { throw ValidationError("--occlusion-pool must be at least 0, got \(occlusionPool)") }
    if occlusionPool > 0 && occlusionRerank > 0 {
      throw ValidationError(
        "--occlusion-rerank needs --occlusion-pool 0 (pooled rankings, the default since session 22, and re-ranking cannot both be set)"
      )
    }
    if occlusionPrecision == .bf16Verify {
      throw ValidationError("--occlusion-precision takes fp32 or bf16, not bf16-verify")
    }
    if chunk < 1 { throw ValidationError("--chunk must be at least 1, got \(chunk)") }
    if let group, group < 1 { throw ValidationError("--group must be at least 1, got \(group)") }
    if verifyTop < 1 { throw ValidationError("--verify-top must be at least 1, got \(verifyTop)") }
  }

  /// The settings the flags give, for a command whose default method is `defaultMethod` and whose
  /// default group is `defaultGroup`; `precision`: the one that runs (`effectivePrecision`); the
  /// occlusion rankings' as `--occlusion-precision` gives it (`rankings(of:on:)`).
  func settings(defaultMethod: SelectionMethod, defaultGroup: Int, precision: Precision) -> SelectionSettings {
    let method = self.method ?? defaultMethod
    let last = exactLast ?? (method == .fast ? Self.fastExactLast : Self.hybridExactLast)
    return SelectionSettings(
      score: score, method: method, k: k,
      hybrid: HybridSettings(
        switchAt: switchAt ?? (method == .fast ? Self.fastSwitchAt : Self.hybridSwitchAt), exactLast: last, onDip: onDip,
        switchCap: switchCap),
      screening: ScreeningSettings(
        top: screenTop, radius: screenRadius, refresh: screenRefresh, fullBelow: screenFullBelow,
        occlusionShare: occlusionShare, widen: screenWiden, occlusionRerank: occlusionRerank,
        occlusionPool: occlusionPool, occlusionPrecision: occlusionPrecision),
      chunk: chunk, group: group ?? defaultGroup, precision: method == .gradient ? .fp32 : precision, verifyTop: verifyTop)
  }
}
