import Base
import Foundation
import Testing

@testable import Analysis
@testable import SIS

/// Defects found when the API was tried as a new user would; each test failed before its fix.
@Suite struct DefectTests {
  /// With f = 0.1 and τ = 0.1, a SIS exists (FindSIS compares in float32, 0.1 >= 0.1), and the
  /// collection must find both disjoint SIS, as the reference does. It compared the double 0.1
  /// with Double(Float(0.1)) = 0.10000000149 and found none.
  @Test func sisCollectionComparesTheThresholdAsFindSISDoes() throws {
    // f = 0.1 while feature 0 or feature 2 is unmasked, 0.05 otherwise: two SIS, {0} and {2}.
    let scorer = FunctionScorer(score: .prob) { _, m in !m[0] || !m[2] ? 0.1 : 0.05 }
    let found = try sisCollection(problem: 0, featureCount: 4, threshold: 0.1, scorer: scorer)
    #expect(found.map { Set($0.sis) } == [[2], [0]])
  }

  /// The trailing-closure form assumed a probability with ceiling 1, so an unbounded f over more
  /// than 32 features (the early-ending probe) got a wrong order: every candidate scored above 1
  /// "reached the ceiling" and the lowest index won.
  @Test func trailingClosureFormOrdersAnUnboundedFunctionCorrectly() throws {
    let weights = (0..<40).map { Double(($0 * 17) % 40) + 1 }  // a permutation of 1...40
    let scorer = FunctionScorer { _, masked in zip(weights, masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } }
    #expect(scorer.scoreCeiling == nil)
    let r = try backSelect(problems: 1, featureCount: 40, scorer: scorer)[0]
    // The least important (smallest weight) goes first.
    #expect(r.order == weights.indices.sorted { weights[$0] < weights[$1] })
  }

  /// A probability function that returns something else is refused with a message, instead of
  /// being ranked under a wrong ceiling.
  @Test func probabilityFormRefusesValuesOutsideTheUnitInterval() throws {
    let scorer = FunctionScorer(score: .prob) { _, _ in 5 }
    #expect(throws: SISError.self) { try backSelect(problems: 1, featureCount: 3, scorer: scorer) }
  }

  /// `margin` has no ceiling for FunctionScorer, as for ClassifierScorer (it gave 0, the
  /// log-probability's, though margins are positive wherever the class leads).
  @Test func marginHasNoCeiling() throws {
    #expect(FunctionScorer(score: .margin) { _, _ in 0.9 }.scoreCeiling == nil)
    #expect(FunctionScorer(score: .logprob) { _, _ in 0.9 }.scoreCeiling == 0)
    #expect(FunctionScorer(score: .prob) { _, _ in 0.9 }.scoreCeiling == 1)
    // The two-class margin log(p / (1 - p)): 0 at p = 0.5, positive above.
    let e = try FunctionScorer(score: .margin) { _, _ in 0.9 }.evaluateMasked([(0, [false])])[0]
    #expect(Swift.abs(e.score - Foundation.log(9)) < 1e-12)
  }

  /// The `sis` summary's median of SIS sizes {13, 31} is 22 (it printed 31).
  @Test func sisSummaryMedianOfAnEvenCount() throws {
    func record(_ position: Int, sisSize: Int) -> ImageRecord {
      // Values fall below τ = 0.5 only for the last `sisSize` steps.
      let values = (0..<64).map { Float($0 < 64 - sisSize ? 0.9 : 0.1) }
      return ImageRecord(
        position: position, sourceIndex: position, label: 0, predicted: 0, confidence: 1, order: Array(0..<64), values: values,
        scores: values, exactTies: 0, nearTies: 0, seconds: 0)
    }
    let m = RunManifest(
      modelPaths: ["m"], modelSHA256: ["0"], architecture: "resnet20", data: DataRecord(path: "t", description: "t"),
      selection: "all",
      positions: [0, 1], sourceIndices: [0, 1], inputShape: [3, 8, 8], features: "pixel", featureCount: 64,
      settings: SelectionSettings(), overinterpVersion: "t", libtorchVersion: "t", device: "cpu")
    let summary = SISSummary(
      records: [record(0, sisSize: 13), record(1, sisSize: 31)], manifest: m, threshold: 0.5, fraction: nil)
    #expect(summary.sizes == [13, 31])
    #expect(summary.lines.contains { $0.contains("median 22,") }, "\(summary.lines)")
  }
}
