import Base
import Foundation
import Testing

/// Fieller's interval for a ratio of means and the Mann-Whitney U test, against values computed by
/// scripts/fixtures/ratio_rank_reference.py (scipy 1.17) and by the interval's definition.
@Suite struct RatioTestsTests {
  let a: [Double] = [12, 15, 9, 20, 14, 11, 17, 13]
  let b: [Double] = [6, 9, 4, 12, 8, 7]

  @Test func fiellerMatchesTheReferenceAndItsDefinition() throws {
    let r = try #require(ratioInterval(a, b))
    #expect(Swift.abs(r.estimate - 1.8097826087) < 1e-9)
    let (lower, upper) = (try #require(r.lower), try #require(r.upper))
    #expect(Swift.abs(lower - 1.27491528765) < 1e-6)
    #expect(Swift.abs(upper - 2.74957739536) < 1e-6)
    // Both ends solve (ā − ρ b̄)² = t² (v_a + ρ² v_b), with the same t.
    let (ma, sa) = meanStd(a)
    let (mb, sb) = meanStd(b)
    let (va, vb) = (sa * sa / 8, sb * sb / 6)
    let t2End = { (rho: Double) in (ma - rho * mb) * (ma - rho * mb) / (va + rho * rho * vb) }
    #expect(Swift.abs(t2End(lower) - t2End(upper)) < 1e-6)
    // Wider than the old method's (Welch's interval divided by b̄ as if b̄ were known) on the side
    // where the denominator's uncertainty pushes the ratio up.
    let welch = try #require(differenceInterval(a, b))
    #expect(upper - 1 > welch.upper / mb)
  }

  @Test func aNoisyDenominatorGivesAnUnboundedInterval() throws {
    let r = try #require(ratioInterval(a, [1, 30, 2, 45, 3]))
    #expect(!r.bounded && r.lower == nil && r.upper == nil)
    #expect(Swift.abs(r.estimate - 0.8564814814814815) < 1e-12)
  }

  @Test func impossibleRatiosAreClipped() throws {
    // A numerator whose mean is barely above 0: the lower end would be negative.
    let r = try #require(ratioInterval([0, 0, 1, 0, 2, 0], [10, 11, 9, 10]))
    #expect(r.lower == 0)
    let unclipped = try #require(ratioInterval([0, 0, 1, 0, 2, 0], [10, 11, 9, 10], floor: nil))
    #expect(try #require(unclipped.lower) < 0)
  }

  @Test func mannWhitneyMatchesScipy() throws {
    let r = try #require(mannWhitney([3, 5, 5, 8, 10, 10, 10, 12], [1, 2, 5, 5, 6, 9]))
    #expect(r.u == 37)
    #expect(Swift.abs(r.p - 0.101180378961) < 1e-9)
    // The same samples in the other order: U of the other group, the same p.
    let s = try #require(mannWhitney([1, 2, 5, 5, 6, 9], [3, 5, 5, 8, 10, 10, 10, 12]))
    #expect(s.u == 8 * 6 - 37 && Swift.abs(s.p - r.p) < 1e-12)
    #expect(mannWhitney([], [1]) == nil)
    #expect(try #require(mannWhitney([1, 1], [1, 1])).p == 1)
  }
}
