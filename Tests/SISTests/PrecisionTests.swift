import Datasets
import Foundation
import Models
import Testing
import Torch

@testable import SIS

/// bf16-verify (`VerifiedScorer`): every candidate screened by a fast scorer, the best few scored
/// again exactly, the exact best among them picked.
@Suite struct PrecisionTests {
  /// Weights with gaps of at least 0.01 between any two (so any perturbation below 0.005 keeps
  /// the order of single removals).
  let w: [Double] = [0.13, 0.52, 0.27, 0.41, 0.05, 0.33, 0.61, 0.19]

  /// f, and a perturbed f (a bounded error per candidate, as bfloat16 rounding gives).
  func exact() -> FunctionScorer { weighted(w) }
  func perturbed(by size: Double) -> FunctionScorer {
    let total = w.reduce(0, +)
    return FunctionScorer { _, masked in
      let v = zip(w, masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } / total
      // A deterministic error in [-size, size] that depends on the masked set.
      let key = masked.enumerated().reduce(0) { $0 &+ ($1.1 ? ($1.0 &+ 1) &* 2_654_435_761 : 0) }
      return v + size * (Double(key % 2001) / 1000 - 1)
    }
  }

  @Test func wellSeparatedScoresGiveTheExactOrder() throws {
    let reference = try backSelect(problems: 1, featureCount: w.count, scorer: exact())[0]
    let total = w.reduce(0, +)
    let scorer = try VerifiedScorer(fast: perturbed(by: 0.004 / total), exact: exact(), top: 2)
    let verified = try backSelect(problems: 1, featureCount: w.count, scorer: scorer)[0]
    #expect(verified.order == reference.order)
    #expect(verified.values == reference.values, "stored values are the exact scorer's")
    #expect(scorer.steps == w.count - 1)
    #expect(scorer.agreeingSteps == scorer.steps)
  }

  /// The fast scorer rounds to a coarse grid, so several candidates tie on it; bf16-verify with a
  /// top wide enough to hold the tied ones decides as the exact scorer does, while the fast scorer
  /// alone takes the lowest index among the tied.
  @Test func fastTiesAreDecidedExactly() throws {
    let coarse = FunctionScorer { _, masked in
      let v = zip([0.30, 0.10, 0.32, 0.31], masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) }
      return (v * 4).rounded(.down) / 4
    }
    let fine = FunctionScorer { _, masked in zip([0.30, 0.10, 0.32, 0.31], masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } }
    let reference = try backSelect(problems: 1, featureCount: 4, scorer: fine)[0]
    let fastOnly = try backSelect(problems: 1, featureCount: 4, scorer: coarse)[0]
    #expect(fastOnly.order != reference.order, "the coarse scorer alone gets it wrong: \(fastOnly.order) vs \(reference.order)")
    let scorer = try VerifiedScorer(fast: coarse, exact: fine, top: 4)
    let verified = try backSelect(problems: 1, featureCount: 4, scorer: scorer)[0]
    #expect(verified.order == reference.order)
    #expect(scorer.agreeingSteps < scorer.steps, "some steps picked another candidate than the coarse best")
    #expect(throws: SISError.self) { try VerifiedScorer(fast: coarse, exact: fine, top: 0) }
  }

  /// On a real network: the bfloat16 twin's logits are close to float32's; exact BackSelect with
  /// bf16-verify stores float32 values (each the float32 probability of the image with
  /// order[0...i] masked, up to the rounding of the batch it was computed in), so every SIS it
  /// reports is float32-sufficient.
  @Test func bf16VerifyStoresFloat32Values() throws {
    let net = try Generator.seeded(4) { try Architecture.resnet20.build(inputSize: 6) }
    let twin = try bfloat16Twin(net)
    var rng = SplitMix64(seed: 2)
    let image = (0..<(3 * 36)).map { _ in Float(rng.below(2001)) / 1000 - 1 }
    let x = try Tensor(image, shape: [1, 3, 6, 6])
    let (a, b) = try withInferenceMode { (try net.logits(x).floats(), try twin.logits(x).floats()) }
    let worst = zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
    let scale = a.map { Swift.abs($0) }.max() ?? 1
    #expect(worst <= 0.05 * Swift.max(scale, 1), "bf16 logits \(b) vs \(a)")
    let probs = try withInferenceMode { try net.probabilities(x).floats() }
    let c = probs.indices.max { probs[$0] < probs[$1] } ?? 0
    let scorer = try ExactSelectionScorer(
      classifier: net, fast: twin, precision: .bf16Verify, verifyTop: 4, images: [image], classes: [c],
      layout: .pixels([3, 6, 6]),
      maskValue: nil, score: .logprob, chunk: 36, device: .cpu)
    let r = try backSelect(problems: 1, featureCount: 36, scorer: scorer)[0]
    #expect(r.order.sorted() == Array(0..<36))
    let reference = try ClassifierScorer(
      classifier: net, images: [image], classes: [c], layout: .pixels([3, 6, 6]), score: .logprob, chunk: 36)
    for i in [0, 5, 17, 30] {
      var masked = [Bool](repeating: false, count: 36)
      for f in r.order[0...i] { masked[f] = true }
      let v = try reference.evaluateMasked([(0, masked)])[0]
      // float32 up to the batch's rounding (1 ulp here); a bfloat16 value would be ~1e-2 off.
      #expect(Swift.abs(Float(v.probability) - r.values[i]) <= 1e-6, "value \(i)")
    }
    let cost = scorer.cost
    #expect(cost.bf16Passes == 36 * 37 / 2)
    #expect(cost.forwardPasses == 4 * 33 + 3 + 2 + 1, "four verified candidates per step, fewer in the last three")
    #expect(cost.verifiedSteps == 35)
  }

  @Test func onlyFoldableNetworksHaveABfloat16Twin() throws {
    let net = try Architecture.resnet18.build()
    let e = #expect(throws: ModelError.self) { try bfloat16Twin(net) }
    #expect("\(e!)".contains("use precision fp32") && !"\(e!)".contains("--"), "the library names the setting, not a flag")
  }

  /// Fast bfloat16 is read from the `flags` line: AMX or AVX-512 BF16, not AVX-512 alone, and
  /// not a flag's name elsewhere in the text or as part of another flag.
  @Test func fastBF16FromCPUInfo() {
    let line = "flags\t\t: fpu sse2 avx2 avx512f avx512bw"
    #expect(!cpuInfoHasFastBF16("processor\t: 0\n\(line)\n"))
    #expect(cpuInfoHasFastBF16("processor\t: 0\n\(line) avx512_bf16 avx512_vnni\n"))
    #expect(cpuInfoHasFastBF16("\(line) amx_bf16 amx_tile\n"))
    #expect(!cpuInfoHasFastBF16("model name\t: avx512_bf16 capable\n\(line)\n"))
    #expect(!cpuInfoHasFastBF16("\(line) xavx512_bf16\n"))
    #expect(!cpuInfoHasFastBF16(""))
  }
}
