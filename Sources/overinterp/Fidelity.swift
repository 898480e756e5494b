import Analysis
import ArgumentParser
import Base
import Foundation
import SIS

struct FidelityCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fidelity",
    abstract:
      "Judge an approximate backward selection against a reference run of the same images: one PASS/FAIL line per criterion.",
    discussion: """
      The yardstick of docs/studies/fast-selection.md: mean and median SIS size at each threshold \
      within 15% of the reference's; the 5% subsets keep the full image's class on at least as many \
      images as the reference's, less one; the mean confidence drop on them within 0.02; the share \
      of their pixels within 2 px of the border within 5 points; every SIS of the approximation \
      sufficient (f >= τ measured on exactly that subset). Only images finished in both runs count. \
      The model (default: the embedded one) must be the one both runs were made with. Several \
      pairs (REF1 RUN1 REF2 RUN2 ...: a reference set drawn from two datasets) are judged as one \
      set of images. Exits with status 1 when a criterion fails.
      """)

  @Argument(
    help: "Pairs of run folders: a reference (exact BackSelect, score logprob), then the run to judge on the same images.")
  var runs: [String]

  @OptionGroup(title: "Model") var model: ModelOptions
  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  @Option(help: "Comma-separated SIS thresholds in [0, 1].")
  var thresholds = Thresholds([0.5, 0.9, 0.99])

  @Option(help: "Fraction of pixels in the backward-selection subsets.")
  var fraction: Double = 0.05

  @Option(help: "Also write the criteria as JSON to this file.")
  var json: String?

  func validate() throws {
    if runs.count < 2 || runs.count % 2 != 0 {
      throw ValidationError("give pairs of run folders (REFERENCE RUN [REFERENCE RUN ...]), got \(runs.count) folder(s)")
    }
    if !(fraction > 0 && fraction <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let pairs = stride(from: 0, to: runs.count, by: 2).map {
      (reference: RunStore(directory: runs[$0]), approximation: RunStore(directory: runs[$0 + 1]))
    }
    let files = try model.files()
    let hashes = try files.map { try SHA256.hex(file: $0.file) }
    for pair in pairs {
      let manifest = try pair.approximation.readManifest()
      guard hashes == manifest.modelSHA256 else {
        throw ValidationFailure(
          "--model: \(files.map(\.recordedPath).joined(separator: ", ")) is not the model of \(pair.approximation.directory) (\(manifest.modelPaths.joined(separator: ", "))); pass that model"
        )
      }
    }
    let classifier = try model.load(device: device)
    let yardstick = try FidelityYardstick(
      pairs: pairs, classifier: classifier, data: { try $0.loadData(embeddedSample: try? Resources.path("sample")) },
      thresholds: thresholds.values, fraction: fraction, device: device)
    print(yardstick.text, terminator: "")
    if let json {
      let e = JSONEncoder()
      e.outputFormatting = [.prettyPrinted, .sortedKeys]
      try writeFileAtomically(Array(try e.encode(yardstick.criteria)) + [0x0a], to: json)
    }
    if !yardstick.passed { throw ExitCode(1) }
  }
}
