import Analysis
import Audit
import Datasets
import Models
import Torch
import Base
import SIS
import Testing

/// The audit's statistics against hand computations.
@Suite struct AuditStatisticsTests {
  /// Student's t quantiles against the published table (two-sided 95%: the 0.975 quantile).
  @Test func tQuantilesMatchTheTable() {
    for (df, t) in [(1.0, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423), (1000, 1.9623)] {
      #expect(Swift.abs(studentTQuantile(0.975, degreesOfFreedom: df) - t) < 1e-3, "df \(df)")
    }
    #expect(Swift.abs(studentTCDF(0, degreesOfFreedom: 5) - 0.5) < 1e-12)
    #expect(Swift.abs(studentTCDF(2.0150, degreesOfFreedom: 5) - 0.95) < 1e-4)
  }

  /// {2, 4, 6, 8}: mean 5, s = √(20/3), t(0.975, 3) = 3.1824: 5 ± 3.1824 · 2.5820 / 2 = 5 ± 4.1084.
  @Test func meanIntervalByHand() throws {
    let i = try #require(meanInterval([2, 4, 6, 8]))
    #expect(i.estimate == 5)
    #expect(Swift.abs(i.halfWidth - 4.1084) < 1e-3, "\(i)")
    #expect(meanInterval([3]) == nil)
  }

  /// Welch: a = {10, 12, 14} (mean 12, s² 4), b = {5, 7, 9, 11} (mean 8, s² 20/3): difference 4,
  /// SE² = 4/3 + 5/3 = 3, ν = 9 / ((16/9)/2 + (25/9)/3) = 243/49 = 4.9592, t(0.975, 4.96) ≈ 2.5769
  /// (between the table's 2.7764 at 4 and 2.5706 at 5), half-width √3 · 2.5769 = 4.4634.
  @Test func welchIntervalByHand() throws {
    let d = try #require(differenceInterval([10, 12, 14], [5, 7, 9, 11]))
    #expect(Swift.abs(d.estimate - 4) < 1e-12)
    let df = 9 / ((16.0 / 9) / 2 + (25.0 / 9) / 3)
    #expect(Swift.abs(df - 243.0 / 49) < 1e-12)
    let expected = studentTQuantile(0.975, degreesOfFreedom: df) * 3.0.squareRoot()
    #expect(Swift.abs(d.halfWidth - expected) < 1e-9)
    #expect(Swift.abs(d.halfWidth - 4.4634) < 2e-3, "\(d)")
    #expect(d.halfWidth > 2.5706 * 3.0.squareRoot() && d.halfWidth < 2.7764 * 3.0.squareRoot())
  }

  /// Records whose removal values fall below τ = 0.5 only for their last `size` steps have a SIS
  /// of exactly `size` features at 0.5.
  func record(size: Int, label: Int, predicted: Int, confidence: Float = 0.99) -> ImageRecord {
    let values = (0..<16).map { Float($0 < 16 - size ? 0.9 : 0.1) }
    return ImageRecord(
      position: 0, sourceIndex: 0, label: label, predicted: predicted, confidence: confidence, order: Array(0..<16),
      values: values,
      scores: values, exactTies: 0, nearTies: 0, seconds: 0)
  }

  @Test func curveAndCorrectIncorrectByHand() throws {
    let records = [
      record(size: 4, label: 1, predicted: 1), record(size: 6, label: 2, predicted: 2), record(size: 8, label: 3, predicted: 3),
      record(size: 2, label: 1, predicted: 0, confidence: 0.8), record(size: 3, label: 2, predicted: 0, confidence: 0.6),
    ]
    // At 0.5 every image has a SIS; at 0.7 the one with f(x) = 0.6 has none, at 1.0 none has.
    let curve = sisSizeCurve(records, thresholds: [0.5, 0.7, 1.0])
    #expect(curve.map(\.images) == [5, 4, 0])
    #expect(curve[0].mean == 23.0 / 5)
    #expect(curve[2].mean == nil && curve[2].interval == nil)
    let point = try #require(correctIncorrect(records, thresholds: [0.5]).first)
    #expect(point.correct == 3 && point.incorrect == 2)
    #expect(point.correctMeanSize == 6 && point.incorrectMeanSize == 2.5)
    // (6 - 2.5) / 2.5 = 140% larger for the correctly classified images.
    #expect(Swift.abs((point.percentIncrease ?? 0) - 140) < 1e-9)
    let diff = try #require(differenceInterval([4, 6, 8], [2, 3]))
    #expect(point.difference == diff)
    // The interval is Fieller's for the ratio of the means, as 100 (ρ − 1).
    let ratio = try #require(ratioInterval([4, 6, 8], [2, 3]))
    if let lower = ratio.lower, let upper = ratio.upper {
      #expect(Swift.abs((point.percentIncreaseInterval?.lower ?? 0) - 100 * (lower - 1)) < 1e-9)
      #expect(Swift.abs((point.percentIncreaseInterval?.upper ?? 0) - 100 * (upper - 1)) < 1e-9)
      #expect(point.percentIncreaseUnbounded == false)
    } else {
      #expect(point.percentIncreaseInterval == nil && point.percentIncreaseUnbounded == true)
    }
    #expect(point.mannWhitneyP == mannWhitney([4, 6, 8], [2, 3])?.p)
    #expect(Swift.abs((point.correctConfidence?.estimate ?? 0) - 0.99) < 1e-6)
    #expect(Swift.abs((point.incorrectConfidence?.estimate ?? 0) - 0.7) < 1e-6)
  }

  /// Two models on the same images, paired by source index: per-image differences, who is
  /// larger, and the exact sign test (1 of 10: 2 · 11 / 1024).
  @Test func pairedDifferencesByHand() throws {
    func at(_ source: Int, size: Int, confidence: Float = 0.99) -> ImageRecord {
      var r = record(size: size, label: 1, predicted: 1, confidence: confidence)
      r.sourceIndex = source
      return r
    }
    let ensemble = [at(1, size: 6), at(2, size: 5), at(3, size: 4), at(4, size: 8), at(9, size: 3)]
    // Source 4's member is not confident enough for τ = 0.7; source 9 has no member record.
    let member = [at(3, size: 4), at(2, size: 2), at(1, size: 3), at(4, size: 1, confidence: 0.6)]
    let points = pairedSISDifference(ensemble, member, thresholds: [0.5, 0.7])
    #expect(points[0].images == 4 && points[1].images == 3)
    // Differences at 0.5: 3, 3, 0, 7.
    #expect(points[0].meanDifference == 13.0 / 4 && points[0].interval == meanInterval([3, 3, 0, 7]))
    #expect(points[0].firstLarger == 3 && points[0].secondLarger == 0)
    #expect(Swift.abs(points[0].signTestP - 0.25) < 1e-12, "3 of 3: 2 / 8")
    #expect(Swift.abs(signTestP(1, of: 10) - 22.0 / 1024) < 1e-12)
    #expect(signTestP(5, of: 10) == 1 && signTestP(0, of: 0) == 1)
  }

  /// An empty SIS (the fully masked image keeps f ≥ τ) is counted, and the curves are also given
  /// without such images; intervals stay within what is possible.
  @Test func emptySISAreCountedAndIntervalsClipped() throws {
    let records = [
      record(size: 0, label: 1, predicted: 1, confidence: 0.999), record(size: 0, label: 2, predicted: 2, confidence: 0.6),
      record(size: 6, label: 3, predicted: 3, confidence: 0.999), record(size: 8, label: 4, predicted: 4, confidence: 0.999),
      record(size: 1, label: 1, predicted: 0), record(size: 0, label: 2, predicted: 0), record(size: 3, label: 2, predicted: 0),
    ]
    let point = try #require(sisSizeCurve(records, thresholds: [0.5]).first)
    #expect(point.images == 7 && point.empty == 3)
    #expect(point.mean == 18.0 / 7 && point.meanNonEmpty == 18.0 / 4)
    #expect(try #require(point.interval).lower >= 0, "a mean size below 0 is impossible")
    let all = try #require(correctIncorrect(records, thresholds: [0.5]).first)
    #expect(all.correct == 4 && all.incorrect == 3 && all.correctEmpty == 2 && all.incorrectEmpty == 1)
    let confidence = try #require(all.correctConfidence)
    #expect(confidence.upper <= 1 && confidence.lower >= 0, "\(confidence)")
    let without = try #require(correctIncorrect(records, thresholds: [0.5], withoutEmpty: true).first)
    #expect(without.correct == 2 && without.incorrect == 2 && without.correctEmpty == 0)
    #expect(without.correctMeanSize == 7 && without.incorrectMeanSize == 2)
  }
}

/// The confidence drop of section 4.1 against a computation by hand: for each image, f(x) minus
/// the probability of the same class on the image with everything but its last 10% masked.
@Suite struct SubsetEvaluationTests {
  @Test func confidenceDropByHand() throws {
    let net = try Generator.seeded(5) { try Architecture.resnet20.build(inputSize: 8) }
    var rng = SplitMix64(seed: 9)
    let data = ImageDataset(
      pixels: (0..<(4 * 192)).map { _ in UInt8(rng.below(256)) }, labels: [0, 1, 2, 3], imageShape: [3, 8, 8],
      classNames: CIFAR10.classNames, description: "random")
    let x = try data.normalized(0..<4, net.info.normalization)
    let probs = try withInferenceMode { try net.probabilities(x).floats() }
    let flat = try x.floats()
    // Records with an arbitrary removal order (reversed raster order) and the class predicted.
    let records = (0..<4).map { i -> ImageRecord in
      let row = Array(probs[(i * 10)..<(i * 10 + 10)])
      let c = argmax(row) ?? 0
      return ImageRecord(
        position: i, sourceIndex: i, label: i, predicted: c, confidence: row[c], order: Array((0..<64).reversed()),
        values: [Float](repeating: 0, count: 64), scores: [Float](repeating: 0, count: 64), exactTies: 0, nearTies: 0, seconds: 0)
    }
    let evaluation = try SubsetEvaluation(classifier: net, data: data, records: records, fraction: 0.1, randomSeed: 1)
    // By hand: keep pixels 6, 5, ..., 0 (the last 7 of the order), zero the rest in every channel.
    var drops: [Double] = []
    for (i, r) in records.enumerated() {
      var masked = Array(flat[(i * 192)..<((i + 1) * 192)])
      for c in 0..<3 { for q in 7..<64 { masked[c * 64 + q] = 0 } }
      let p = try withInferenceMode { try net.probabilities(try Tensor(masked, shape: [1, 3, 8, 8])).floats() }
      drops.append(Double(r.confidence) - Double(p[r.predicted]))
    }
    let (m, s) = meanStd(drops)
    let bs = try #require(evaluation.rows.first { $0.kind.contains("backward selection") })
    #expect(Swift.abs(bs.confidenceDrop - m) < 1e-6 && Swift.abs(bs.confidenceDropStd - s) < 1e-6, "\(bs) vs \(m) ± \(s)")
    let full = try #require(evaluation.rows.first)
    #expect(full.confidenceDrop == 0 && full.agreement == 1)
  }

  /// The cost plan from the formula, from a pilot of the hybrid's gradient phase, and from the
  /// finished images, by hand. 1024 pixels, k = 8: 128 gradient passes per image.
  @Test func costPlanByHand() {
    let hybrid = SelectionSettings(method: .hybrid, k: 8, hybrid: HybridSettings())
    // The formula assumes the exact phase starts at --exact-last (256): 1 + 256 * 257 / 2.
    let formula = CostPlan(settings: hybrid, pixels: 1024, images: 10, forwardPerSecond: 1000, tasks: 2)
    #expect(formula.forwardPerImage == 32897 && formula.gradientPerImage == 128 && formula.basis == .formula)
    #expect(Swift.abs(formula.seconds - 10 * (32897 + 3 * 128) / 1000) < 1e-9)
    #expect(formula.text.contains("at least") && formula.text.contains("on 2 tasks"), "\(formula.text)")
    // A pilot: exact phases of 100 and 300 pixels, 5050 and 45150 forward passes: 1 + 25100.
    let pilot = CostPlan(
      settings: hybrid, pixels: 1024, images: 10, forwardPerSecond: 1000, tasks: 1, exactPhase: [100, 300])
    #expect(pilot.forwardPerImage == 25101 && pilot.basis == .pilot(exactPhase: [100, 300]))
    #expect(Swift.abs(pilot.seconds - 10 * (25101 + 3 * 128) / 1000) < 1e-9)
    #expect(pilot.text.contains("pilot of 2 image(s)") && pilot.text.contains("200 pixels (100-300)"), "\(pilot.text)")
    // Progress units: per pilot image the exact phase's r(r+1)/2 candidates and the gradient
    // phase's 1024 - r pixels, averaged: (5050 + 924 + 45150 + 724) / 2.
    #expect(pilot.candidatesPerImage(pixels: 1024) == (5050 + 924 + 45150 + 724) / 2)
    // The fast method prices the same pilot with its screened exact phase.
    var fast = hybrid
    fast.method = .fast
    fast.screening = ScreeningSettings(top: 8, radius: 1, refresh: 0, fullBelow: 32, occlusionShare: 0)
    let fastPilot = CostPlan(settings: fast, pixels: 1024, images: 1, forwardPerSecond: 1000, tasks: 1, exactPhase: [100, 300])
    let screened = [100, 300].map { fast.screening?.evaluations(features: $0) ?? 0 }
    #expect(fastPilot.forwardPerImage == 1 + (screened[0] + screened[1]) / 2 && screened[1] < 300 * 20)
    // With the occlusion phase the cost follows from the pixel count, whatever a pilot says:
    // rounds over 1024 and 512 pixels (each evaluating the input, every pixel, then its block),
    // then the screened phase over 256.
    fast.screening?.occlusionShare = 0.5
    let occlusion = CostPlan(settings: fast, pixels: 1024, images: 1, forwardPerSecond: 1000, tasks: 1, exactPhase: [100])
    let tail = fast.screening?.evaluations(features: 256) ?? 0
    #expect(occlusion.forwardPerImage == 1 + (1026 + 514) + tail && occlusion.gradientPerImage == 0)
    #expect(occlusion.candidatesPerImage(pixels: 1024) == 1024 + 512 + 256 * 257 / 2)
    // Finished images win over the pilot: their passes and wall time.
    let done = [
      ImageCost(seconds: 90, forwardPasses: 80000, gradientPasses: 100),
      ImageCost(seconds: 110, forwardPasses: 90000, gradientPasses: 120),
    ]
    let resumed = CostPlan(
      settings: hybrid, pixels: 1024, images: 10, forwardPerSecond: 1000, tasks: 1, exactPhase: [100], finished: done)
    #expect(resumed.forwardPerImage == 85000 && resumed.gradientPerImage == 110)
    #expect(resumed.basis == .finished(images: 2, secondsPerImage: 100) && resumed.seconds == 1000)
    #expect(resumed.text.contains("over the 2 finished image(s)") && resumed.text.contains("100.0 s per finished image"))
    // Exact selection: p(p+1)/2 + 1, whatever a pilot would say.
    let exact = CostPlan(settings: SelectionSettings(), pixels: 64, images: 1, forwardPerSecond: 100, tasks: 1)
    #expect(exact.forwardPerImage == 2081 && exact.gradientPerImage == 0 && exact.candidatesPerImage(pixels: 64) == 2080)
  }
}

/// The report's charts put their x ticks at the thresholds measured (once at 0.50, 0.62, 0.74,
/// 0.87 and 0.99, values no audit used), leaving out a label that would crowd its neighbour.
@Suite struct ChartTests {
  @Test func xTicksSitAtTheMeasuredThresholds() {
    let thresholds = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    let chart = LineChart(
      title: "SIS size", xLabel: "τ", yLabel: "pixels",
      series: [.init(name: "audit", points: thresholds.map { .init(x: $0, y: $0 * 30) })])
    let svg = chart.svg
    for label in ["0.50", "0.60", "0.70", "0.80", "0.90", "0.95", "0.99"] {
      #expect(svg.contains(">\(label)</text>"), "\(label)")
    }
    #expect(!svg.contains(">0.62</text>") && !svg.contains(">0.74</text>"))
    let ticks: [(Double, String?)] = LineChart.xTicks(thresholds, from: 0.5, to: 0.99, width: 480)
    #expect(ticks.map { $0.0 } == thresholds && ticks.allSatisfy { $0.1 != nil })
    // On a 200 px axis 0.95 would sit 20 px from 0.90's label: its tick stays, its label goes.
    let narrow: [(Double, String?)] = LineChart.xTicks(thresholds, from: 0.5, to: 0.99, width: 200)
    #expect(narrow.count == 7 && narrow.compactMap { $0.1 } == ["0.50", "0.60", "0.70", "0.80", "0.90", "0.99"])
    // Many distinct x values: five evenly spaced ticks.
    #expect(LineChart.xTicks((0..<40).map { Double($0) }, from: 0, to: 39, width: 480).count == 5)
  }
}
