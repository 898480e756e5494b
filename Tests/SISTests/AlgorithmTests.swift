import Foundation
import Testing

@testable import SIS

/// f = (sum of the weights of unmasked features) / (sum of all weights).
func weighted(_ w: [Double]) -> FunctionScorer {
  let total = w.reduce(0, +)
  return FunctionScorer { _, masked in
    zip(w, masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } / total
  }
}

@Suite struct AlgorithmTests {
  @Test func backSelectRemovesTheLeastImportantFeatureFirst() throws {
    let r = try backSelect(problems: 1, featureCount: 4, scorer: weighted([0.1, 0.5, 0.2, 0.4]))[0]
    #expect(r.order == [0, 2, 3, 1])
    let expected: [Float] = [1.1 / 1.2, 0.9 / 1.2, 0.5 / 1.2, 0]
    #expect(zip(r.values, expected).allSatisfy { Swift.abs($0 - $1) < 1e-6 })
    #expect(r.exactTies == 0)
  }

  @Test func findSISHandChecked() throws {
    let r = try backSelect(problems: 1, featureCount: 4, scorer: weighted([0.1, 0.5, 0.2, 0.4]))[0]
    // values after each removal: 0.917, 0.75, 0.417, 0
    #expect(findSIS(order: r.order, values: r.values, fullInput: 1, threshold: 0.7) == .sis([1, 3]))
    // No recorded value reaches 0.95: the SIS is every feature.
    #expect(findSIS(order: r.order, values: r.values, fullInput: 1, threshold: 0.95) == .sis([1, 3, 2, 0]))
    // The fully masked input already reaches τ = 0: the SIS is empty.
    #expect(findSIS(order: r.order, values: r.values, fullInput: 1, threshold: 0) == .sis([]))
    // f(x) < τ: no SIS.
    #expect(findSIS(order: r.order, values: r.values, fullInput: 1, threshold: 1.01) == .noSIS)
  }

  @Test func tiesGoToTheLowestIndex() throws {
    // f = 0.5 unless feature 2 is masked (then 0.1): every other candidate ties.
    let scorer = FunctionScorer { _, m in m[2] ? 0.1 : 0.5 }
    let r = try backSelect(problems: 1, featureCount: 4, scorer: scorer)[0]
    #expect(r.order == [0, 1, 3, 2])
    #expect(r.exactTies == 2)
    #expect(r.nearTies == 2)
  }

  @Test func sisCollectionFindsDisjointSubsets() throws {
    // Either group {0, 1} or group {2, 3} alone suffices.
    let scorer = FunctionScorer { _, m in (!m[0] && !m[1]) || (!m[2] && !m[3]) ? 0.95 : 0.1 }
    let collection = try sisCollection(problem: 0, featureCount: 4, threshold: 0.9, scorer: scorer)
    #expect(collection.map(\.sis) == [[3, 2], [1, 0]])
    #expect(collection[0].backSelect.order == [0, 1, 2, 3])
    // The second search ran on the remaining features only.
    #expect(collection[1].backSelect.order == [0, 1])
  }

  @Test func sisCollectionStopsWhenTheRestIsBelowThreshold() throws {
    let collection = try sisCollection(problem: 0, featureCount: 4, threshold: 0.7, scorer: weighted([0.1, 0.5, 0.2, 0.4]))
    // First SIS {1, 3}; the rest {0, 2} has f = 0.25 < 0.7.
    #expect(collection.map(\.sis) == [[1, 3]])
    #expect(try sisCollection(problem: 0, featureCount: 4, threshold: 1.5, scorer: weighted([1, 1, 1, 1])).isEmpty)
  }

  @Test func lockstepGivesTheSameAnswersAsOneAtATime() throws {
    let weights: [[Double]] = [[0.1, 0.5, 0.2, 0.4, 0.3], [0.3, 0.3, 0.1, 0.9, 0.2], [1, 2, 3, 4, 5]]
    let scorer = FunctionScorer { problem, masked in
      let w = weights[problem]
      return zip(w, masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } / w.reduce(0, +)
    }
    var steps = 0
    let together = try backSelect(problems: 3, featureCount: 5, scorer: scorer) { _ in steps += 1 }
    #expect(steps == 5)
    for (i, w) in weights.enumerated() {
      let alone = try backSelect(problems: 1, featureCount: 5, scorer: weighted(w))[0]
      #expect(together[i] == alone)
    }
  }

  @Test func earlyEndedStepsMatchFullStepsInLockstep() throws {
    // Probabilities clipped at 1 (saturated for the first steps), several problems in lockstep,
    // with exact ties at the ceiling and below it.
    let weights: [[Double]] = [[0.1, 0.5, 0.2, 0.4, 0.3, 0.3, 0.1], [1, 1, 1, 1, 1, 1, 1], [0.3, 0.3, 0.1, 0.9, 0.2, 0.05, 2]]
    func f(_ problem: Int, _ masked: [Bool]) -> Double {
      let w = weights[problem]
      return Swift.min(1, 2 * zip(w, masked).reduce(0) { $0 + ($1.1 ? 0 : $1.0) } / w.reduce(0, +))
    }
    var calls = (early: 0, full: 0)
    let early = FunctionScorer(ceiling: 1) { p, m in
      calls.early += 1; return Evaluation(score: f(p, m), probability: f(p, m))
    }
    let full = FunctionScorer(ceiling: nil) { p, m in
      calls.full += 1; return Evaluation(score: f(p, m), probability: f(p, m))
    }
    for probe in [2, 3, 4] {
      calls = (0, 0)
      let a = try backSelect(problems: 3, featureCount: 7, scorer: early, probe: probe)
      let b = try backSelect(problems: 3, featureCount: 7, scorer: full, probe: probe)
      #expect(a == b, "probe \(probe)")
      #expect(calls.early < calls.full, "probe \(probe): \(calls)")
    }
  }

  @Test func subsetIsTheLastFractionRoundedUp() {
    let order = Array((0..<1024).reversed())
    let s = backSelectSubset(order: order, fraction: 0.05)
    #expect(s.count == 52)
    #expect(s == Array(order.suffix(52)))
    #expect(backSelectSubset(order: [1, 2, 3], fraction: 0.5) == [2, 3])
  }

  @Test func featureLayouts() throws {
    let pixel = FeatureLayout.pixels([3, 2, 2])
    #expect(pixel.count == 4)
    #expect(pixel.elements[0] == [0, 4, 8])
    #expect(pixel.description == "pixel")
    let row = try FeatureLayout(parsing: "row", inputShape: [1, 2, 3])
    #expect(row.elements == [[0, 1, 2], [3, 4, 5]])
    let channel = try FeatureLayout(parsing: "channel", inputShape: [3, 2, 2])
    #expect(channel.elements[1] == [4, 5, 6, 7])
    let value = try FeatureLayout(parsing: "value", inputShape: [2, 1, 2])
    #expect(value.elements == [[0], [1], [2], [3]])
    let patch = try FeatureLayout(parsing: "patch2", inputShape: [1, 3, 3])
    #expect(patch.elements == [[0, 1, 3, 4], [2, 5], [6, 7], [8]])
    #expect(throws: SISError.self) { try FeatureLayout(inputShape: [3, 4, 4], maskShape: [2, 4, 4]) }
    #expect(throws: SISError.self) { try FeatureLayout(parsing: "blob", inputShape: [3, 4, 4]) }
  }

  @Test func rowFeaturesOnAnImageFunction() throws {
    // Input 1x3x2 (3 rows of 2 values); f = sum of unmasked values / total, features are rows.
    let image: [Double] = [1, 1, 5, 5, 2, 2]
    let layout = try FeatureLayout(parsing: "row", inputShape: [1, 3, 2])
    let scorer = FunctionScorer { _, masked in
      var s = 0.0
      for (f, elements) in layout.elements.enumerated() where !masked[f] { s += elements.reduce(0) { $0 + image[$1] } }
      return s / 16
    }
    let r = try backSelect(problems: 1, featureCount: layout.count, scorer: scorer)[0]
    #expect(r.order == [0, 2, 1])
    #expect(findSIS(order: r.order, values: r.values, fullInput: 1, threshold: 0.6) == .sis([1]))
  }
}
