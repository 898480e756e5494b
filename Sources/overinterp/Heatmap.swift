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
    if let threshold, !(threshold >= 0 && threshold <= 1) {
      throw ValidationError("--threshold must be in [0, 1], got \(threshold)")
    }
    if !out.hasSuffix(".png") { throw ValidationError("--out must end in .png") }
  }

  func run() throws {
    let store = RunStore(directory: runFolder)
    let manifest = try store.readManifest()
    guard manifest.features == "pixel" else {
      throw ValidationFailure("\(runFolder): heatmaps need pixel features, the run used \(manifest.features)")
    }
    let records = try store.records()
    let (h, w) = (manifest.inputShape[1], manifest.inputShape[2])
    let subsets = subsetsOf(records, fraction: fraction, threshold: threshold)
    let freq = pixelFrequency(subsets, height: h, width: w)
    try writeHeatmap(freq, height: h, width: w, to: out)
    try NpyArray(freq, shape: [h, w]).write(to: String(out.dropLast(4)) + ".npy")
    let pos = PositionSummary(subsets, height: h, width: w)
    print(
      "\(out): \(subsets.count) subsets (\(threshold.map { "SIS at threshold \($0)" } ?? "last \(fmt(fraction * 100))% of each order")), max frequency \(fmt(freq.max() ?? 0, digits: 3))"
    )
    print(pos.text(centre: Double(h - 1) / 2))
  }
}
