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
public struct FidelityYardstick: Sendable {
  public struct Criterion: Sendable, Codable {
    public var name: String
    public var reference: String
    public var approximation: String
    public var rule: String
    public var pass: Bool
  }

  public var images: Int
  public var referenceLabel: String
  public var approximationLabel: String
  public var criteria: [Criterion]
  /// Model passes and seconds per image of each run (from `timings.jsonl`), for the record.
  public var costLines: [String]

  public var passed: Bool { criteria.allSatisfy(\.pass) }

  public static let sizeTolerance = 0.15
  public static let keptSlack = 1
  public static let dropTolerance = 0.02
  public static let borderTolerance = 0.05
  public static let borderWidth = 2

  public init(
    reference: RunStore, approximation: RunStore, classifier: any Classifier, data: ImageDataset,
    thresholds: [Double] = [0.5, 0.9, 0.99], fraction: Double = 0.05, device: Device = .cpu
  ) throws {
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
    var sets = [try reference.records(), try approximation.records()]
    let common = Set(sets[0].map(\.position)).intersection(sets[1].map(\.position))
    guard !common.isEmpty else { throw SISError.badArgument("the runs share no finished image") }
    sets = sets.map { $0.filter { common.contains($0.position) }.sorted { $0.position < $1.position } }
    let (ref, run) = (sets[0], sets[1])
    let (h, w) = (manifests[0].inputShape[1], manifests[0].inputShape[2])
    images = common.count
    referenceLabel = manifests[0].label
    approximationLabel = manifests[1].label
    var criteria: [Criterion] = []
    let pct = fmt(fraction * 100, digits: 0) + "%"

    // SIS size at each threshold, over images with a SIS in both.
    for t in thresholds {
      let pairs = zip(ref, run).compactMap { a, b -> (Double, Double)? in
        guard let x = a.sis(at: t).features, let y = b.sis(at: t).features else { return nil }
        return (Double(x.count), Double(y.count))
      }
      let refSizes = pairs.map(\.0)
      let runSizes = pairs.map(\.1)
      for (what, stat) in [("mean", { (v: [Double]) in mean(v) }), ("median", { (v: [Double]) in median(v) ?? 0 })] {
        let (a, b) = (stat(refSizes), stat(runSizes))
        let ratio = a > 0 ? b / a : (b == 0 ? 1 : .infinity)
        criteria.append(
          Criterion(
            name: "\(what) SIS size at τ = \(t) (\(pairs.count) images)", reference: fmt(a, digits: 1),
            approximation: "\(fmt(b, digits: 1)) (\(fmt(ratio, digits: 2))x)",
            rule: "within \(Int(Self.sizeTolerance * 100))%", pass: !pairs.isEmpty && abs(ratio - 1) <= Self.sizeTolerance + 1e-12
          ))
      }
    }

    // The k% subsets: class kept and confidence drop, by the model.
    let evaluations = try [ref, run].map {
      try SubsetEvaluation(classifier: classifier, data: data, records: $0, fraction: fraction, randomSeed: 0, device: device)
    }
    let rows = evaluations.map { $0.rows[1] }
    let kept = rows.map { Int(($0.agreement * Double($0.images)).rounded()) }
    criteria.append(
      Criterion(
        name: "\(pct) subsets keep the full image's class", reference: "\(kept[0]) of \(images)",
        approximation: "\(kept[1]) of \(images)", rule: "at least the reference's less \(Self.keptSlack)",
        pass: kept[1] >= kept[0] - Self.keptSlack))
    criteria.append(
      Criterion(
        name: "mean confidence drop on the \(pct) subsets", reference: fmt(rows[0].confidenceDrop, digits: 4),
        approximation: fmt(rows[1].confidenceDrop, digits: 4), rule: "within \(Self.dropTolerance)",
        pass: abs(rows[1].confidenceDrop - rows[0].confidenceDrop) <= Self.dropTolerance + 1e-12))

    // Where the subsets sit.
    let border = [ref, run].map { records in
      Self.borderShare(records.map { $0.subset(fraction: fraction) }, height: h, width: w, ring: Self.borderWidth)
    }
    criteria.append(
      Criterion(
        name: "\(pct) subset pixels within \(Self.borderWidth) px of the border",
        reference: fmt(border[0] * 100, digits: 1) + "%",
        approximation: fmt(border[1] * 100, digits: 1) + "%", rule: "within \(Int(Self.borderTolerance * 100)) points",
        pass: abs(border[1] - border[0]) <= Self.borderTolerance + 1e-12))

    // Every SIS of the approximation sufficient, measured on exactly that subset.
    var checked = 0
    var insufficient: [String] = []
    let base = data.subset(run.map(\.position))
    for t in thresholds {
      let sis = run.map { $0.sis(at: t).features }
      let with = sis.indices.filter { sis[$0] != nil }
      guard !with.isEmpty else { continue }
      var d = base.subset(with)
      d.masks = with.flatMap { maskBytes(sis[$0] ?? [], h * w) }
      let probs = try predictProbabilities(classifier, on: d, device: device, progressLabel: nil)
      for (row, i) in with.enumerated() {
        checked += 1
        let f = probs[row][run[i].predicted]
        if Float(f) < Float(t) {
          insufficient.append("position \(run[i].position) at τ = \(t): f = \(fmt(Double(f), digits: 4))")
        }
      }
    }
    criteria.append(
      Criterion(
        name: "every SIS sufficient (f ≥ τ on exactly the SIS)", reference: "-",
        approximation: "\(checked - insufficient.count) of \(checked)"
          + (insufficient.isEmpty ? "" : " (" + insufficient.prefix(3).joined(separator: "; ") + ")"),
        rule: "all", pass: insufficient.isEmpty && checked > 0))
    self.criteria = criteria

    let costs = [reference.costs(), approximation.costs()]
    costLines = zip([reference.directory, approximation.directory], costs).map { dir, c in
      let mine = common.compactMap { c[$0] }
      let forward = mine.compactMap(\.forwardPasses).map(Double.init)
      let gradient = mine.compactMap(\.gradientPasses).map(Double.init)
      let seconds = mine.map { Double($0.seconds) }.filter { $0 > 0 }
      return "\(dir): "
        + (forward.isEmpty ? "passes not recorded" : "\(fmt(mean(forward), digits: 0)) forward")
        + (gradient.isEmpty ? "" : " + \(fmt(mean(gradient), digits: 0)) gradient") + " passes per image"
        + (seconds.isEmpty ? "" : ", \(fmt(mean(seconds), digits: 2)) s per image as measured in that run")
    }
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
