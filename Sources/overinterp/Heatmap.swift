import Analysis
import ArgumentParser
import Base
import Datasets
import Foundation
import SIS
import Torch

struct Heatmap: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Pixel-frequency heatmap of the k% backward-selection subsets (or SIS) of a run (paper Figures 2 and 4).")

  @Option(name: .customLong("run"), help: "A backselect run folder (pixel features).")
  var runFolder: String

  @Option(help: "Subsets: the last fraction of each removal order (the paper: 0.05).")
  var fraction: Double = 0.05

  @Option(help: "Use the SIS at this threshold instead of the k% subsets.")
  var threshold: Double?

  @Option(help: "Output PNG; the frequencies also go to the same name with .npy.")
  var out: String

  func validate() throws {
    if !(fraction > 0 && fraction <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
    if let threshold, !(threshold >= 0 && threshold <= 1) { throw ValidationError("--threshold must be in [0, 1], got \(threshold)") }
    if !out.hasSuffix(".png") { throw ValidationError("--out must end in .png") }
  }

  func run() throws {
    let store = RunStore(directory: runFolder)
    let manifest = try store.readManifest()
    guard manifest.features == "pixel" else { throw ValidationFailure("\(runFolder): heatmaps need pixel features, the run used \(manifest.features)") }
    let records = try store.records()
    let (h, w) = (manifest.inputShape[1], manifest.inputShape[2])
    let subsets = subsetsOf(records, fraction: fraction, threshold: threshold)
    let freq = pixelFrequency(subsets, height: h, width: w)
    try writeHeatmap(freq, height: h, width: w, to: out)
    try NpyArray(freq, shape: [h, w]).write(to: String(out.dropLast(4)) + ".npy")
    let pos = PositionSummary(subsets, height: h, width: w)
    print("\(out): \(subsets.count) subsets (\(threshold.map { "SIS at threshold \($0)" } ?? "last \(fmt(fraction * 100))% of each order")), max frequency \(fmt(freq.max() ?? 0, digits: 3))")
    print("mean position row \(fmt(pos.meanRow)) column \(fmt(pos.meanColumn)) (centre \(fmt(Double(h - 1) / 2))); quadrants TL/TR/BL/BR \(pos.quadrants.map { fmt($0 * 100, digits: 1) + "%" }.joined(separator: " / ")); \(borderDescription(pos))")
  }
}

/// "42.0% within 2 px of the border (18.8% of the area)".
func borderDescription(_ pos: PositionSummary) -> String {
  "\(fmt(pos.border * 100, digits: 1))% within \(pos.borderWidth) px of the border (\(fmt(pos.borderArea * 100, digits: 1))% of the area)"
}

/// The k% subsets, or the SIS at `threshold` (images without a SIS are left out).
func subsetsOf(_ records: [ImageRecord], fraction: Double, threshold: Double?) -> [[Int]] {
  if let threshold {
    return records.compactMap { findSIS(order: $0.order, values: $0.values, fullInput: $0.confidence, threshold: Float(threshold)).features }
  }
  return records.map { backSelectSubset(order: $0.order, fraction: fraction) }
}

func writeHeatmap(_ freq: [Double], height: Int, width: Int, maximum: Double? = nil, to path: String) throws {
  let factor = max(1, 256 / max(height, width))
  let px = ImageIO.upscale(heatmapPixels(freq, maximum: maximum), width: width, height: height, channels: 3, factor: factor)
  try ImageIO.writePNG(px, width: width * factor, height: height * factor, channels: 3, to: path)
}

struct CompareRuns: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Compare two backselect runs of the same images (e.g. --score prob vs logprob, or exact vs gradient/hybrid): ties, SIS, subsets, time, heatmaps.")

  @Argument(help: "Two run folders.")
  var runs: [String]

  @Option(help: "SIS threshold.")
  var threshold: Double = 0.99

  @Option(help: "Subset fraction.")
  var fraction: Double = 0.05

  @Option(help: "Folder for the side-by-side heatmap PNG and report.")
  var out: String

  func validate() throws {
    if runs.count != 2 { throw ValidationError("give exactly two run folders") }
    if !(threshold >= 0 && threshold <= 1) { throw ValidationError("--threshold must be in [0, 1], got \(threshold)") }
    if !(fraction > 0 && fraction <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
  }

  func run() throws {
    let stores = runs.map(RunStore.init(directory:))
    let manifests = try stores.map { try $0.readManifest() }
    var recordSets = try stores.map { try $0.records() }
    // Only images present in both runs.
    let common = Set(recordSets[0].map(\.position)).intersection(recordSets[1].map(\.position))
    recordSets = recordSets.map { $0.filter { common.contains($0.position) }.sorted { $0.position < $1.position } }
    guard !common.isEmpty else { throw ValidationFailure("the runs share no finished image") }
    guard manifests[0].modelSHA256 == manifests[1].modelSHA256, manifests[0].dataDescription == manifests[1].dataDescription,
      manifests[0].features == "pixel", manifests[1].features == "pixel"
    else { throw ValidationFailure("the runs must use the same model, data and pixel features") }
    let (h, w) = (manifests[0].inputShape[1], manifests[0].inputShape[2])
    let p = h * w
    var lines: [String] = []
    let labels = manifests.map(runLabel)
    lines.append("comparison of \(runs[0]) (\(labels[0])) and \(runs[1]) (\(labels[1]))")
    lines.append("model \(manifests[0].architecture), \(common.count) image(s) of \(manifests[0].dataDescription)")
    var subsets: [[[Int]]] = []
    var summaries: [PositionSummary] = []
    var sisSets: [[[Int]?]] = []
    // How close the removal orders are to raster order (1: raster order, 0: unrelated to position).
    let rasterCorrelations = recordSets.map { mean($0.map { rasterCorrelation($0.order) }) }
    for (k, records) in recordSets.enumerated() {
      let exact = records.map { Double($0.exactTies) }
      let near = records.map { Double($0.nearTies) }
      let sis = records.map { findSIS(order: $0.order, values: $0.values, fullInput: $0.confidence, threshold: Float(threshold)).features }
      let sizes = sis.compactMap { $0?.count }.map(Double.init)
      let sub = records.map { backSelectSubset(order: $0.order, fraction: fraction) }
      subsets.append(sub)
      sisSets.append(sis)
      let pos = PositionSummary(sub, height: h, width: w)
      summaries.append(pos)
      lines.append(
        "\(labels[k]): tied steps per image exact \(fmt(mean(exact), digits: 1)), within 1e-6 \(fmt(mean(near), digits: 1)) (of \(stepsDescription(manifests[k]))); "
          + "correlation of the order with raster order \(fmt(rasterCorrelations[k], digits: 2)); "
          + "SIS at \(threshold): \(sizes.count) image(s), mean size \(fmt(mean(sizes), digits: 1)); "
          + "\(fmt(fraction * 100))% subsets: mean position row \(fmt(pos.meanRow)) col \(fmt(pos.meanColumn)), "
          + "quadrants TL/TR/BL/BR \(pos.quadrants.map { fmt($0 * 100, digits: 1) + "%" }.joined(separator: "/")), \(borderDescription(pos))")
    }
    let sisPairs = zip(sisSets[0], sisSets[1]).compactMap { a, b -> Double? in
      guard let a, let b else { return nil }
      return jaccard(a, b)
    }
    let identical = zip(sisSets[0], sisSets[1]).filter { a, b in a != nil && b != nil && Set(a ?? []) == Set(b ?? []) }.count
    let subsetOverlap = zip(subsets[0], subsets[1]).map { jaccard($0, $1) }
    lines.append("SIS overlap (Jaccard) mean \(fmt(mean(sisPairs), digits: 3)) over \(sisPairs.count) image(s); identical SIS in \(identical)")
    // Containment, against what chance gives: a random subset of the second SIS's size holds
    // |S2|/p of the first SIS's pixels on average.
    let both = zip(sisSets[0], sisSets[1]).compactMap { a, b -> ([Int], [Int])? in
      guard let a, let b else { return nil }
      return (a, b)
    }
    if !both.isEmpty {
      let inside = mean(both.map { containment($0.0, in: $0.1) })
      let chance = mean(both.map { Double($0.1.count) / Double(p) })
      lines.append(
        "pixels of the first run's SIS inside the second's: mean \(fmt(inside * 100, digits: 1))% "
          + "(a random subset of the second's size: \(fmt(chance * 100, digits: 1))%)")
    }
    // Size and time of the second run relative to the first (e.g. an approximation against exact).
    let pairs = zip(sisSets[0], sisSets[1]).compactMap { a, b -> (Double, Double)? in
      guard let a, let b else { return nil }
      return (Double(a.count), Double(b.count))
    }
    if !pairs.isEmpty {
      let ratios = pairs.filter { $0.0 > 0 }.map { $0.1 / $0.0 }
      let noLarger = pairs.filter { $0.1 <= $0.0 }.count
      lines.append(
        "SIS size of the second run / the first: mean \(fmt(mean(ratios), digits: 2))x, median \(fmt(ratios.sorted()[ratios.count / 2], digits: 2))x; "
          + "no larger in \(noLarger) of \(pairs.count) image(s)")
    }
    let seconds = recordSets.map { mean($0.map { Double($0.seconds) }) }
    if seconds[0] > 0, seconds[1] > 0 {
      let speedup = seconds[0] / seconds[1]
      let relation = speedup >= 1 ? "\(fmt(speedup, digits: 1))x faster" : "\(fmt(1 / speedup, digits: 1))x slower"
      lines.append(
        "seconds per image: \(fmt(seconds[0], digits: seconds[0] < 1 ? 3 : 1)) and \(fmt(seconds[1], digits: seconds[1] < 1 ? 3 : 1)) (the second \(relation); "
          + "as measured in each run, on whatever machine and load it had)")
    }
    // Machine-independent cost: model passes per image, over the images both runs counted.
    let costs = zip(stores, recordSets).map { store, records in
      let byPosition = store.costs()
      return records.map { r -> (forward: Double, gradient: Double)? in
        guard let c = byPosition[r.position], let f = c.forwardPasses, let g = c.gradientPasses else { return nil }
        return (Double(f), Double(g))
      }
    }
    let counted = costs[0].indices.filter { costs[0][$0] != nil && costs[1][$0] != nil }
    if counted.isEmpty {
      lines.append("model passes per image: not recorded (runs made before overinterp counted them)")
    } else {
      func describe(_ k: Int) -> String {
        let known = counted.compactMap { costs[k][$0] }
        let forward = mean(known.map(\.forward))
        let gradient = mean(known.map(\.gradient))
        return "\(fmt(forward, digits: 0)) forward" + (gradient > 0 ? " + \(fmt(gradient, digits: 0)) gradient" : "")
      }
      lines.append(
        "model passes per image: \(describe(0)) and \(describe(1)) over the \(counted.count) image(s) both runs counted "
          + "(a gradient pass is a forward and a backward pass)")
    }
    lines.append("\(fmt(fraction * 100))% subset overlap (Jaccard) mean \(fmt(mean(subsetOverlap), digits: 3))")
    let verdict = RasterVerdict(labels: labels, rasterCorrelations: rasterCorrelations, summaries: summaries, fraction: fraction, featureCount: p)
    lines.append("verdict: " + verdict.text)
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let freqs = subsets.map { pixelFrequency($0, height: h, width: w) }
    let top = freqs.flatMap { $0 }.max() ?? 1
    let factor = max(1, 256 / max(h, w))
    let tiles = freqs.map { ImageIO.upscale(heatmapPixels($0, maximum: top), width: w, height: h, channels: 3, factor: factor) }
    let (px, width) = ImageIO.row(tiles, width: w * factor, height: h * factor, channels: 3, gap: 8)
    try ImageIO.writePNG(px, width: width, height: h * factor + 16, channels: 3, to: out + "/heatmaps.png")
    lines.append("heatmaps (left: \(labels[0]), right: \(labels[1]), common colour scale, max \(fmt(top, digits: 3))): \(out)/heatmaps.png")
    let report = lines.joined(separator: "\n") + "\n"
    try writeFileAtomically(Array(report.utf8), to: out + "/report.txt")
    print(report, terminator: "")
  }
}

/// "exact, score logprob", "gradient k=8, score logprob", "hybrid k=8 switch 0.999 last 256, score prob".
func runLabel(_ m: RunManifest) -> String {
  // Manifests are checked when read (RunStore.readManifest), so the method is known.
  switch (try? m.selectionMethod()) ?? .exact {
  case .gradient: return "gradient k=\(m.k ?? 0), score \(m.score)"
  case .hybrid:
    return "hybrid k=\(m.k ?? 0) switch \(m.switchProbability.map { fmt($0, digits: 4) } ?? "?") last \(m.exactLast ?? 0)"
      + (m.onDip.map { " on dip \($0)" } ?? "") + (m.switchCap.map { " cap \($0)" } ?? "") + ", score \(m.score)"
  case .exact: return "exact, score \(m.score)"
  }
}
