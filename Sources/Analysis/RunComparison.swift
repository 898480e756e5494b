import Base
import Foundation
import SIS

/// Two backselect runs of the same images side by side (e.g. `--score prob` against `logprob`,
/// or exact against gradient or hybrid): ties, the correlation of the removal orders with raster
/// order, SIS sizes and overlap, k% subset overlap and position, time and model passes per image,
/// and a verdict on the raster-order artifact. Only images finished in both runs count.
public struct RunComparison {
  public let labels: [String]
  public let lines: [String]
  /// Pixel frequency of each run's k% subsets (H x W, row-major).
  public let frequencies: [[Double]]
  public let height: Int
  public let width: Int
  public let verdict: RasterVerdict

  public init(_ stores: [RunStore], threshold: Double, fraction: Double) throws {
    guard stores.count == 2 else { throw SISError.badArgument("a comparison takes exactly two runs") }
    let manifests = try stores.map { try $0.readManifest() }
    var recordSets = try stores.map { try $0.records() }
    let common = Set(recordSets[0].map(\.position)).intersection(recordSets[1].map(\.position))
    recordSets = recordSets.map { $0.filter { common.contains($0.position) }.sorted { $0.position < $1.position } }
    guard !common.isEmpty else { throw SISError.badArgument("the runs share no finished image") }
    guard manifests[0].data.sameImages(as: manifests[1].data), manifests[0].features == "pixel",
      manifests[1].features == "pixel"
    else { throw SISError.badArgument("the runs must use the same data and pixel features") }
    let (h, w) = (manifests[0].inputShape[1], manifests[0].inputShape[2])
    let p = h * w
    let labels = manifests.map(\.label)
    var lines: [String] = []
    lines.append("comparison of \(stores[0].directory) (\(labels[0])) and \(stores[1].directory) (\(labels[1]))")
    if manifests[0].modelSHA256 == manifests[1].modelSHA256 {
      lines.append("model \(manifests[0].architecture), \(common.count) image(s) of \(manifests[0].data.description)")
    } else {
      // E.g. an ensemble against one of its members (section 4.6): the same images, other models.
      let models = manifests.map { m in
        m.modelPaths.count > 1
          ? "ensemble of \(m.modelPaths.count) (\(m.architecture))" : "\(m.modelPaths.first ?? "?") (\(m.architecture))"
      }
      lines.append(
        "models differ: \(models[0]) and \(models[1]); \(common.count) image(s) of \(manifests[0].data.description) "
          + "(each run's SIS are for its own model's prediction)")
    }
    let summaries = zip(recordSets, manifests).map {
      SISSummary(records: $0, manifest: $1, threshold: threshold, fraction: fraction)
    }
    let positions = summaries.map { PositionSummary($0.subsets, height: h, width: w) }
    let rasterCorrelations = summaries.map { $0.rasterCorrelation ?? 0 }
    for k in 0..<2 {
      let s = summaries[k]
      let pos = positions[k]
      lines.append(
        "\(labels[k]): tied steps per image exact \(fmt(mean(s.exactTies.map(Double.init)), digits: 1)), "
          + "within 1e-6 \(fmt(mean(s.nearTies.map(Double.init)), digits: 1)) (of \(s.steps)); "
          + "correlation of the order with raster order \(fmt(rasterCorrelations[k], digits: 2)); "
          + "SIS at \(threshold): \(s.sizes.count) image(s), mean size \(fmt(mean(s.sizes.map(Double.init)), digits: 1)); "
          + "\(fmt(fraction * 100))% subsets: mean position row \(fmt(pos.meanRow)) col \(fmt(pos.meanColumn)), "
          + "quadrants TL/TR/BL/BR \(pos.quadrants.map { fmt($0 * 100, digits: 1) + "%" }.joined(separator: "/")), \(pos.borderText)"
      )
    }
    // SIS present in both runs.
    let both = zip(summaries[0].sis, summaries[1].sis).compactMap { a, b -> ([Int], [Int])? in
      guard let a, let b else { return nil }
      return (a, b)
    }
    let identical = both.filter { Set($0.0) == Set($0.1) }.count
    lines.append(
      "SIS overlap (Jaccard) mean \(fmt(mean(both.map { jaccard($0.0, $0.1) }), digits: 3)) over \(both.count) image(s); identical SIS in \(identical)"
    )
    if !both.isEmpty {
      // Containment, against what chance gives: a random subset of the second SIS's size holds
      // |S2|/p of the first SIS's pixels on average.
      let inside = mean(both.map { containment($0.0, in: $0.1) })
      let chance = mean(both.map { Double($0.1.count) / Double(p) })
      lines.append(
        "pixels of the first run's SIS inside the second's: mean \(fmt(inside * 100, digits: 1))% "
          + "(a random subset of the second's size: \(fmt(chance * 100, digits: 1))%)")
      // Size of the second run's SIS relative to the first (e.g. an approximation against exact).
      let ratios = both.filter { !$0.0.isEmpty }.map { Double($0.1.count) / Double($0.0.count) }
      let noLarger = both.filter { $0.1.count <= $0.0.count }.count
      lines.append(
        "SIS size of the second run / the first: mean \(fmt(mean(ratios), digits: 2))x, median \(fmt(median(ratios) ?? 0, digits: 2))x; "
          + "no larger in \(noLarger) of \(both.count) image(s)")
    }
    let seconds = recordSets.map { mean($0.map { Double($0.seconds) }) }
    if seconds[0] > 0, seconds[1] > 0 {
      let speedup = seconds[0] / seconds[1]
      let relation = speedup >= 1 ? "\(fmt(speedup, digits: 1))x faster" : "\(fmt(1 / speedup, digits: 1))x slower"
      lines.append(
        "seconds per image: \(fmt(seconds[0], digits: seconds[0] < 1 ? 3 : 1)) and \(fmt(seconds[1], digits: seconds[1] < 1 ? 3 : 1)) "
          + "(the second \(relation); as measured in each run, on whatever machine and load it had)")
    }
    lines.append(Self.passesLine(stores: stores, recordSets: recordSets))
    let subsetOverlap = zip(summaries[0].subsets, summaries[1].subsets).map { jaccard($0, $1) }
    lines.append("\(fmt(fraction * 100))% subset overlap (Jaccard) mean \(fmt(mean(subsetOverlap), digits: 3))")
    let verdict = RasterVerdict(
      labels: labels, rasterCorrelations: rasterCorrelations, summaries: positions, fraction: fraction, featureCount: p)
    lines.append("verdict: " + verdict.text)
    self.labels = labels
    self.lines = lines
    self.verdict = verdict
    frequencies = summaries.map { pixelFrequency($0.subsets, height: h, width: w) }
    height = h
    width = w
  }

  /// Machine-independent cost: model passes per image, over the images both runs counted.
  static func passesLine(stores: [RunStore], recordSets: [[ImageRecord]]) -> String {
    let costs = zip(stores, recordSets).map { store, records in
      let byPosition = store.costs()
      return records.map { r -> (forward: Double, gradient: Double)? in
        guard let c = byPosition[r.position], let f = c.forwardPasses, let g = c.gradientPasses else { return nil }
        return (Double(f), Double(g))
      }
    }
    let counted = costs[0].indices.filter { costs[0][$0] != nil && costs[1][$0] != nil }
    guard !counted.isEmpty else { return "model passes per image: not recorded (runs made before overinterp counted them)" }
    func describe(_ k: Int) -> String {
      let known = counted.compactMap { costs[k][$0] }
      let gradient = mean(known.map(\.gradient))
      return "\(fmt(mean(known.map(\.forward)), digits: 0)) forward"
        + (gradient > 0 ? " + \(fmt(gradient, digits: 0)) gradient" : "")
    }
    return "model passes per image: \(describe(0)) and \(describe(1)) over the \(counted.count) image(s) both runs counted "
      + "(a gradient pass is a forward and a backward pass)"
  }

  /// Writes `heatmaps.png` (the two runs' subset frequencies on one colour scale) and
  /// `report.txt` into `folder`; returns the report's text.
  public func write(to folder: String) throws -> String {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let top = try writeHeatmapRow(frequencies, height: height, width: width, to: folder + "/heatmaps.png")
    let all =
      lines + [
        "heatmaps (left: \(labels[0]), right: \(labels[1]), common colour scale, max \(fmt(top, digits: 3))): \(folder)/heatmaps.png"
      ]
    let report = all.joined(separator: "\n") + "\n"
    try writeFileAtomically(Array(report.utf8), to: folder + "/report.txt")
    return report
  }
}
