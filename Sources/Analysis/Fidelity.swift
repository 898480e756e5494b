import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// The fidelity yardstick: an approximate backward selection judged against a reference run
/// (exact `logprob` BackSelect) of the same images by the aggregates the paper and the audit
/// report, each with a pass/fail criterion:
///
/// - mean and median SIS size at each threshold within `sizeTolerance` (15%) of the reference's,
///   over the images that have a SIS at that threshold in both runs;
/// - the k% subsets keep the full image's predicted class on at least as many images as the
///   reference's, less `keptSlack` (one);
/// - the mean confidence drop (f(x) − f(subset), class predicted on the full image) within
///   `dropTolerance` (0.02) of the reference's;
/// - the share of k% subset pixels within `borderWidth` (2) pixels of the border within
///   `borderTolerance` (5 points) of the reference's;
/// - every SIS of the approximation sufficient: f ≥ τ measured on exactly that subset.
///
/// Only images finished in both runs count. The model evaluations (subsets and SIS) run on
/// `classifier`, which must be the model both runs were made with.
public final class FidelityYardstick: Sendable {
  public struct Criterion: Sendable, Codable {
    public var name: String
    public var reference: String
    public var approximation: String
    public var rule: String
    public var pass: Bool
  }

  public let images: Int
  public let referenceLabel: String
  public let approximationLabel: String
  public let criteria: [Criterion]
  /// Model passes and seconds per image of each run (from `timings.jsonl`), for the record.
  public let costLines: [String]

  public var passed: Bool { criteria.allSatisfy(\.pass) }

  public static let sizeTolerance = 0.15
  public static let keptSlack = 1
  public static let dropTolerance = 0.02
  public static let borderTolerance = 0.05
  public static let borderWidth = 2

  /// What one pair of runs contributes: per image, in position order.
  struct Measured {
    var refSizes: [Double: [Double?]] = [:]
    var runSizes: [Double: [Double?]] = [:]
    var keptRef = 0
    var keptRun = 0
    var dropsRef: [Double] = []
    var dropsRun: [Double] = []
    var borderRef: [Int] = [0, 0]
    var borderRun: [Int] = [0, 0]
    var checked = 0
    var insufficient: [String] = []
    var images = 0
  }

  /// One pair of runs of the same images (a reference and an approximation).
  public convenience init(
    reference: RunStore, approximation: RunStore, classifier: any Classifier, data: ImageDataset,
    thresholds: [Double] = [0.5, 0.9, 0.99], fraction: Double = 0.05, device: Device = .cpu
  ) throws {
    try self.init(
      pairs: [(reference, approximation)], classifier: classifier, data: { _ in data }, thresholds: thresholds,
      fraction: fraction, device: device)
  }

  /// Several pairs (e.g. a reference set drawn from two datasets), judged as one set of images:
  /// every criterion pools the images of all pairs. `data` loads each pair's images from its
  /// approximation's manifest.
  public init(
    pairs: [(reference: RunStore, approximation: RunStore)], classifier: any Classifier,
    data: (RunManifest) throws -> ImageDataset, thresholds: [Double] = [0.5, 0.9, 0.99], fraction: Double = 0.05,
    device: Device = .cpu
  ) throws {
    guard !pairs.isEmpty else { throw SISError.badArgument("the yardstick needs at least one pair of runs") }
    var total = Measured()
    var labels: [String] = []
    for (reference, approximation) in pairs {
      let m = try Self.measure(
        reference: reference, approximation: approximation, classifier: classifier, data: data, thresholds: thresholds,
        fraction: fraction, device: device, labels: &labels)
      for t in thresholds {
        total.refSizes[t, default: []] += m.refSizes[t] ?? []
        total.runSizes[t, default: []] += m.runSizes[t] ?? []
      }
      total.keptRef += m.keptRef
      total.keptRun += m.keptRun
      total.dropsRef += m.dropsRef
      total.dropsRun += m.dropsRun
      total.borderRef = zip(total.borderRef, m.borderRef).map { $0 + $1 }
      total.borderRun = zip(total.borderRun, m.borderRun).map { $0 + $1 }
      total.checked += m.checked
      total.insufficient += m.insufficient
      total.images += m.images
    }
    images = total.images
    referenceLabel = labels[0]
    approximationLabel = labels[1]
    var criteria: [Criterion] = []
    let pct = fmt(fraction * 100, digits: 0) + "%"
    for t in thresholds {
      // Images with a SIS at τ in both runs.
      let both = zip(total.refSizes[t] ?? [], total.runSizes[t] ?? []).compactMap { a, b -> (Double, Double)? in
        guard let a, let b else { return nil }
        return (a, b)
      }
      for (what, stat) in [("mean", { (v: [Double]) in mean(v) }), ("median", { (v: [Double]) in median(v) ?? 0 })] {
        let (a, b) = (stat(both.map(\.0)), stat(both.map(\.1)))
        let ratio = a > 0 ? b / a : (b == 0 ? 1 : .infinity)
        criteria.append(
          Criterion(
            name: "\(what) SIS size at τ = \(t) (\(both.count) images)", reference: fmt(a, digits: 1),
            approximation: "\(fmt(b, digits: 1)) (\(fmt(ratio, digits: 2))x)", rule: "within \(Int(Self.sizeTolerance * 100))%",
            pass: !both.isEmpty && abs(ratio - 1) <= Self.sizeTolerance + 1e-12))
      }
    }
    criteria.append(
      Criterion(
        name: "\(pct) subsets keep the full image's class", reference: "\(total.keptRef) of \(images)",
        approximation: "\(total.keptRun) of \(images)", rule: "at least the reference's less \(Self.keptSlack)",
        pass: total.keptRun >= total.keptRef - Self.keptSlack))
    let drops = (mean(total.dropsRef), mean(total.dropsRun))
    criteria.append(
      Criterion(
        name: "mean confidence drop on the \(pct) subsets", reference: fmt(drops.0, digits: 4),
        approximation: fmt(drops.1, digits: 4), rule: "within \(Self.dropTolerance)",
        pass: abs(drops.1 - drops.0) <= Self.dropTolerance + 1e-12))
    let border = [total.borderRef, total.borderRun].map { $0[1] > 0 ? Double($0[0]) / Double($0[1]) : 0 }
    criteria.append(
      Criterion(
        name: "\(pct) subset pixels within \(Self.borderWidth) px of the border",
        reference: fmt(border[0] * 100, digits: 1) + "%",
        approximation: fmt(border[1] * 100, digits: 1) + "%", rule: "within \(Int(Self.borderTolerance * 100)) points",
        pass: abs(border[1] - border[0]) <= Self.borderTolerance + 1e-12))
    criteria.append(
      Criterion(
        name: "every SIS sufficient (f ≥ τ on exactly the SIS)", reference: "-",
        approximation: "\(total.checked - total.insufficient.count) of \(total.checked)"
          + (total.insufficient.isEmpty ? "" : " (" + total.insufficient.prefix(3).joined(separator: "; ") + ")"),
        rule: "all", pass: total.insufficient.isEmpty && total.checked > 0))
    self.criteria = criteria
    costLines = pairs.flatMap { [Self.costLine($0.reference), Self.costLine($0.approximation)] }
  }

  /// One pair's per-image quantities (images finished in both runs, by position).
  static func measure(
    reference: RunStore, approximation: RunStore, classifier: any Classifier, data: (RunManifest) throws -> ImageDataset,
    thresholds: [Double], fraction: Double, device: Device, labels: inout [String]
  ) throws -> Measured {
    let manifests = [try reference.readManifest(), try approximation.readManifest()]
    guard manifests[0].data.sameImages(as: manifests[1].data), manifests[0].positions.count > 0 else {
      throw SISError.badArgument("the runs must be of the same data (\(reference.directory), \(approximation.directory))")
    }
    guard manifests[0].modelSHA256 == manifests[1].modelSHA256 else {
      throw SISError.badArgument("the runs were made with different models; the yardstick compares methods on one model")
    }
    guard manifests.allSatisfy({ $0.features == "pixel" && $0.inputShape.count == 3 }) else {
      throw SISError.badArgument("the yardstick needs runs on pixel features of C x H x W images")
    }
    if labels.isEmpty { labels = manifests.map(\.label) }
    var sets = [try reference.records(), try approximation.records()]
    let common = Set(sets[0].map(\.position)).intersection(sets[1].map(\.position))
    guard !common.isEmpty else {
      throw SISError.badArgument("\(reference.directory) and \(approximation.directory) share no finished image")
    }
    sets = sets.map { $0.filter { common.contains($0.position) }.sorted { $0.position < $1.position } }
    let (ref, run) = (sets[0], sets[1])
    let (h, w) = (manifests[0].inputShape[1], manifests[0].inputShape[2])
    let images = try data(manifests[1])
    var m = Measured()
    m.images = common.count
    for t in thresholds {
      m.refSizes[t] = ref.map { $0.sis(at: t).features.map { Double($0.count) } }
      m.runSizes[t] = run.map { $0.sis(at: t).features.map { Double($0.count) } }
    }
    // The k% subsets: class kept and confidence drop, by the model.
    let evaluations = try [ref, run].map {
      try SubsetEvaluation(classifier: classifier, data: images, records: $0, fraction: fraction, randomSeed: 0, device: device)
    }
    let rows = evaluations.map { $0.rows[1] }
    m.keptRef = Int((rows[0].agreement * Double(rows[0].images)).rounded())
    m.keptRun = Int((rows[1].agreement * Double(rows[1].images)).rounded())
    // Per-image drops: the evaluation's mean times its count keeps the pooled mean exact.
    m.dropsRef = [Double](repeating: rows[0].confidenceDrop, count: rows[0].images)
    m.dropsRun = [Double](repeating: rows[1].confidenceDrop, count: rows[1].images)
    for (k, records) in [ref, run].enumerated() {
      var counts = [0, 0]
      for r in records {
        for f in r.subset(fraction: fraction) {
          let (y, x) = (f / w, f % w)
          if Swift.min(y, x, h - 1 - y, w - 1 - x) < Self.borderWidth { counts[0] += 1 }
          counts[1] += 1
        }
      }
      if k == 0 { m.borderRef = counts } else { m.borderRun = counts }
    }
    // Every SIS of the approximation sufficient, measured on exactly that subset.
    let base = images.subset(run.map(\.position))
    for t in thresholds {
      let sis = run.map { $0.sis(at: t).features }
      let with = sis.indices.filter { sis[$0] != nil }
      guard !with.isEmpty else { continue }
      var d = base.subset(with)
      d.masks = with.flatMap { maskBytes(sis[$0] ?? [], h * w) }
      let probs = try predictProbabilities(classifier, on: d, device: device, progressLabel: nil)
      for (row, i) in with.enumerated() {
        m.checked += 1
        let f = probs[row][run[i].predicted]
        if Float(f) < Float(t) {
          m.insufficient.append("position \(run[i].position) at τ = \(t): f = \(fmt(Double(f), digits: 4))")
        }
      }
    }
    return m
  }

  /// Model passes and seconds per image of a run, from its `timings.jsonl`.
  static func costLine(_ store: RunStore) -> String {
    let mine = Array(store.costs().values)
    let forward = mine.compactMap(\.forwardPasses).map(Double.init)
    let gradient = mine.compactMap(\.gradientPasses).map(Double.init)
    let seconds = mine.map { Double($0.seconds) }.filter { $0 > 0 }
    return "\(store.directory): "
      + (forward.isEmpty
        ? "passes not recorded"
        : "\(fmt(mean(forward), digits: 0)) forward"
          + (gradient.isEmpty ? "" : " + \(fmt(mean(gradient), digits: 0)) gradient") + " passes per image")
      + (seconds.isEmpty ? "" : ", \(fmt(mean(seconds), digits: 2)) s per image as measured in that run")
  }

  /// The share of the subsets' pixels less than `ring` pixels from the image's edge.
  public static func borderShare(_ subsets: [[Int]], height: Int, width: Int, ring: Int) -> Double {
    var inRing = 0
    var n = 0
    for s in subsets {
      for f in s {
        let (y, x) = (f / width, f % width)
        if Swift.min(y, x, height - 1 - y, width - 1 - x) < ring { inRing += 1 }
        n += 1
      }
    }
    return n > 0 ? Double(inRing) / Double(n) : 0
  }

  /// One line per criterion ("PASS  name: reference R, approximation A (rule)") and a verdict.
  public var text: String {
    var lines = [
      "fidelity of \(approximationLabel) against \(referenceLabel), \(images) image(s) finished in both"
    ]
    for c in criteria {
      lines.append(
        "\(c.pass ? "PASS" : "FAIL")  \(c.name): reference \(c.reference), approximation \(c.approximation) (\(c.rule))")
    }
    lines += costLines
    let failed = criteria.filter { !$0.pass }.count
    lines.append(
      failed == 0 ? "yardstick: PASS (\(criteria.count) criteria)" : "yardstick: FAIL (\(failed) of \(criteria.count) criteria)")
    return lines.joined(separator: "\n") + "\n"
  }
}
