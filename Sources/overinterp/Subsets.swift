import ArgumentParser
import Audit
import Datasets
import Foundation
import Models
import SIS

extension PixelSubsets.Kind: ExpressibleByArgument {}

struct Subsets: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Write the k% pixel subsets of a backselect run as a dataset (paper sections 4.1-4.2), or random subsets of the same images.",
    discussion: """
      Backward-selection subsets keep the last k% of each image's removal order (5% of 1,024 \
      pixels = 52); --kind random keeps k% of the pixels drawn uniformly at random, seeded per \
      image by its source index (the paper's control). Every other pixel is masked: 0 after \
      normalization, the dataset mean. The folder (subsets.json, kept.npy, labels.npy, \
      predicted.npy, source_index.npy, position.npy, and images.npy + masks.npy unless \
      --no-images) is read by `eval --data`, `train --data` and numpy. Labels are the true labels; \
      predicted.npy holds the run model's class on the full image.
      """)

  @Option(name: .customLong("run"), help: "A backselect run folder (pixel features).")
  var runFolder: String

  @Option(help: "Fraction of pixels kept, e.g. 0.05.")
  var fraction: Double = 0.05

  @Option(help: "backselect (the last k% of each removal order) or random (k% drawn uniformly at random).")
  var kind: PixelSubsets.Kind = .backselect

  @Option(help: "With --kind random: the seed of the draws.")
  var seed: UInt64 = 0

  @Flag(inversion: .prefixedNo, help: "Also write images.npy (masked pixels at the dataset mean) and masks.npy.")
  var images = true

  @Option(help: "Output folder.")
  var out: String

  func validate() throws {
    if !(fraction > 0 && fraction <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
  }

  func run() throws {
    let manifest = try RunStore(directory: runFolder).readManifest()
    let maskColor = maskNormalization(manifest).meanColor
    let info = try SubsetsJob(run: runFolder, fraction: fraction, kind: kind, seed: seed, withImages: images)
      .write(
        to: out, embeddedSample: try? Resources.path("sample"), maskColor: maskColor, version: Overinterp.configuration.version)
    print("\(out): \(info.count) images, \(info.keptPerImage) pixels kept each; \(info.description)")
    print("evaluate with: overinterp eval --model MODEL --data \(out)")
  }
}
