import Testing

import Base

@Suite struct ProgressTests {
  @Test func etaFollowsTheUnitsPaceBelowTheTotal() {
    // 25 of 100 units in 10 s: 75 more at 2.5 per second.
    #expect(Progress.eta(done: 25, total: 100, elapsed: 10) == 30)
    #expect(Progress.eta(done: 25, total: 100, elapsed: 10, fractionDone: 0.9) == 30)
    #expect(Progress.eta(done: 0, total: 100, elapsed: 10).isInfinite)
    #expect(Progress.eta(done: 100, total: 100, elapsed: 10) == 0)
  }

  @Test func anEstimatedTotalThatRanShortFallsBackOnTheFractionDone() {
    // 150 of an estimated 100 units, but only 60% of the images: 40% more at the same pace.
    #expect(abs(Progress.eta(done: 150, total: 100, elapsed: 60, fractionDone: 0.6) - 40) < 1e-9)
    #expect(Progress.eta(done: 150, total: 100, elapsed: 60, fractionDone: 1) == 0)
    // Nothing to go on: unknown, shown as "?", never a false "0s".
    #expect(Progress.eta(done: 150, total: 100, elapsed: 60).isInfinite)
    #expect(Progress.eta(done: 150, total: 100, elapsed: 60, fractionDone: 0).isInfinite)
    #expect(Progress.duration(.infinity) == "?")
  }
}
