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
    let heatmap = try SubsetHeatmap(
      manifest: try store.readManifest(), records: try store.records(), fraction: fraction, threshold: threshold)
    for line in try heatmap.write(png: out) { print(line) }
  }
}
