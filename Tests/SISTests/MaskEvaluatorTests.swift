import Testing

@testable import SIS

/// The gradient and hybrid methods on analytic functions of the mask (no model), with answers
/// checked by hand.
@Suite struct MaskEvaluatorTests {
  /// s = Σ_j w_j (1 − M_j) / Σ w, so ∂s/∂M_j = −w_j / Σ w: each block masks the k unmasked
  /// pixels of smallest weight.
  static func linear(_ w: [Float]) -> FunctionMaskEvaluator {
    let total = w.reduce(0, +)
    return FunctionMaskEvaluator(problems: 1, pixels: w.count) { _, m in
      let s = zip(w, m).reduce(Float(0)) { $0 + $1.0 * (1 - $1.1) } / total
      return (s, s, w.map { -$0 / total })
    }
  }

  @Test func gradientBlocksTakeTheSmallestWeightsFirst() throws {
    var cost = SelectionCost()
    let r = try gradientBackSelect(evaluator: Self.linear([5, 1, 4, 2, 6, 3]), k: 2, onCost: { cost = $0 })[0]
    #expect(r.order == [1, 3, 5, 2, 0, 4])
    // Every pixel of a block carries the value measured after the block: 18/21, 11/21, 0.
    let expected: [Float] = [18, 18, 11, 11, 0, 0].map { $0 / 21 }
    #expect(zip(r.values, expected).allSatisfy { Swift.abs($0 - $1) < 1e-6 }, "\(r.values)")
    // Three gradient passes choose the blocks; one forward pass measures the last block.
    #expect(cost == SelectionCost(gradientPasses: 3, forwardPasses: 1))
  }

  /// The hybrid hands over to exact selection when a block would take f below the switch level:
  /// here after the first block ({1, 3}: f = 18/21 ≈ 0.857 ≥ 0.8); the next block ({5, 2}: 11/21)
  /// dips, is put back, and exact selection orders the other four pixels.
  @Test func hybridSwitchesToExactSelectionAtTheDip() throws {
    let w: [Double] = [5, 1, 4, 2, 6, 3]
    let exact = FunctionScorer(score: .prob) { _, masked in zip(w, masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } / 21 }
    var cost = SelectionCost()
    let r = try hybridBackSelect(
      evaluator: Self.linear(w.map(Float.init)), scorer: exact, k: 2, switchProbability: 0.8, exactLast: 0,
      onCost: { cost = $0 })[0]
    #expect(r.order == [1, 3, 5, 2, 0, 4])
    #expect(r.values.count == 6)
    // Three gradient passes: the full image, after {1, 3}, and the one that sees the dip. The
    // exact phase's forward passes are not counted here (exactEvaluations defaults to 0).
    #expect(cost.gradientPasses == 3)
    // The first block keeps its gradient-phase value; the exact phase measured the rest.
    #expect(Swift.abs(r.values[0] - 18 / 21) < 1e-6 && Swift.abs(r.values[2] - 15 / 21) < 1e-6, "\(r.values)")
  }
}
