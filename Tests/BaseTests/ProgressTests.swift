import Testing

@testable import Base

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

  @Test func anEstimatedTotalRunningShortGivesWayToTheStepsPace() {
    // The units say 129 s are left (4% of an estimate), but 192 of 232 images finished 3,000 s in,
    // and 100 s have gone into the next group since: 40 images at 3000/192 s each, less those 100 s.
    let units = Progress.eta(done: 96, total: 100, elapsed: 3100)
    #expect(abs(units - 3100.0 * 4 / 96) < 1e-9)
    let both = Progress.eta(done: 96, total: 100, elapsed: 3100, fractionDone: 192.0 / 232, fractionElapsed: 3000)
    #expect(abs(both - (3000.0 * 40 / 192 - 100)) < 1e-9)
    // A step under way longer than the finished steps' average: the units' pace is what is left.
    let slow = Progress.eta(done: 96, total: 100, elapsed: 10000, fractionDone: 192.0 / 232, fractionElapsed: 3000)
    #expect(abs(slow - 10000.0 * 4 / 96) < 1e-9)
    // The units' pace is kept where it is the longer (an estimate that ran long).
    #expect(Progress.eta(done: 10, total: 100, elapsed: 10, fractionDone: 0.5, fractionElapsed: 10) == 90)
  }

  @Test func theProgressLineRemembersWhenTheFractionLastMoved() {
    let p = Progress(total: 100, label: "t", enabled: false)
    p.advance(by: 10, fractionDone: 0)
    #expect(p.fraction?.value == 0)
    let first = p.fraction!.elapsed
    p.advance(by: 10, fractionDone: 0)
    #expect(p.fraction!.elapsed == first)
    p.advance(by: 10, fractionDone: 0.5)
    #expect(p.fraction?.value == 0.5)
    #expect(p.fraction!.elapsed >= first)
  }
}
