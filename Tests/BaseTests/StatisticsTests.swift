import Testing

@testable import Base

@Suite struct StatisticsTests {
  /// The median of an even count is the mean of the two middle values (the `sis` summary once
  /// printed 31 for {13, 31}).
  @Test func medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
    #expect(median([13, 31]) == 22)
    #expect(median([31, 1, 13, 40]) == 22)
    #expect(median([5, 1, 3]) == 3)
    #expect(median([]) == nil)
  }

  @Test func meanStdUsesTheSampleStandardDeviation() {
    let (m, s) = meanStd([2, 4, 4, 4, 5, 5, 7, 9])
    #expect(m == 5)
    // Sum of squared deviations 32, n - 1 = 7.
    #expect(Swift.abs(s - (32.0 / 7).squareRoot()) < 1e-12)
    #expect(meanStd([3]) == (3, 0))
  }

  @Test func argmaxTakesTheFirstOfEqualMaxima() {
    #expect(argmax([0.1, 0.7, 0.7, 0.2] as [Float]) == 1)
    #expect(argmax([Float]()) == nil)
    let row = [0.2, 0.1, 0.9][1...]
    #expect(argmax(row) == 2)
  }

  @Test func indexListsParse() {
    #expect(parseIndexList("0..<3") == [0, 1, 2])
    #expect(parseIndexList("2...4") == [2, 3, 4])
    #expect(parseIndexList("3, 17,42") == [3, 17, 42])
    #expect(parseIndexList("3..<1") == nil)
    #expect(parseIndexList("a,b") == nil)
  }
}
