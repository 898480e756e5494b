import ArgumentParser
import Base
import Corruptions
import Datasets
import Foundation
import Torch

struct DataCorrupt: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "corrupt",
    abstract: "Generate CIFAR-10-C locally: 19 corruptions at severities 1-5, in the official layout.",
    discussion: """
      Writes <corruption>.npy of shape (N * severities, 32, 32, 3) uint8 with severities stacked \
      in order (as the official CIFAR-10-C), labels.npy, fidelity.json (how each corruption relates \
      to the original generator; frost, motion_blur, snow and spatter are marked as not identical) \
      and contact-sheet.png (one image under every corruption and severity). --sample 2000 --seed \
      1234 instead writes the paper's random sample of the 950,000 official images \
      (np.random.seed(1234); np.random.choice(950000, 2000, replace=False) over the 19 corruptions \
      concatenated in alphabetical order), generating only those images.
      """)

  @OptionGroup(title: "Data") var dataOptions: DataOptions

  @Option(help: "Output folder.")
  var out: String

  @Option(help: "Comma-separated corruptions, or all: \(Corruption.alphabetical.map(\.rawValue).joined(separator: ", ")).")
  var corruptions: String = "all"

  @Option(help: "Severities: 1-5, or a list like 1,3,5.")
  var severities: String = "1-5"

  @Option(help: "Generate only the paper's random sample of this many images (over all corruptions and severities).")
  var sample: Int?

  @Option(help: "Seed of the sample's index draw (the paper: 1234).")
  var seed: UInt32 = 1234

  @Option(help: "Seed of the corruptions' random draws.")
  var noiseSeed: UInt64 = 0

  func parsedCorruptions() throws -> [Corruption] {
    if corruptions == "all" { return Corruption.alphabetical }
    return try corruptions.split(separator: ",").map { name in
      guard let c = Corruption(rawValue: String(name)) else {
        throw ValidationError(
          "--corruptions: unknown '\(name)'; choose from \(Corruption.alphabetical.map(\.rawValue).joined(separator: ", "))")
      }
      return c
    }
  }

  func parsedSeverities() throws -> [Int] {
    let list: [Int]
    if let r = severities.range(of: "-"), let a = Int(severities[..<r.lowerBound]), let b = Int(severities[r.upperBound...]),
      a <= b
    {
      list = Array(a...b)
    } else {
      list = severities.split(separator: ",").compactMap { Int($0) }
    }
    guard !list.isEmpty, list.allSatisfy({ (1...5).contains($0) }) else {
      throw ValidationError("--severities must be within 1-5 (e.g. 1-5 or 1,3), got '\(severities)'")
    }
    return list
  }

  func validate() throws {
    _ = try parsedCorruptions()
    _ = try parsedSeverities()
    if let sample, sample < 1 { throw ValidationError("--sample must be at least 1, got \(sample)") }
  }

  func run() throws {
    let data = try dataOptions.load()
    let list = try parsedCorruptions()
    let levels = try parsedSeverities()
    let set = CorruptionSet(folder: out, noiseSeed: noiseSeed, generator: "overinterp \(Overinterp.configuration.version)")
    if let sample {
      let base = try set.writeSample(data, count: sample, seed: seed)
      print(
        "\(base)_data.npy: \(sample) images (columns of _index.npy: flat index, corruption in alphabetical order, severity, "
          + "source image); source: \(data.description)")
      return
    }
    let progress = Progress(total: data.count * levels.count * list.count, label: "corrupt")
    let start = Progress.now()
    try set.writeAll(data, corruptions: list, severities: levels) { progress.advance(by: $0, extra: $1) }
    progress.finish()
    print(
      "\(out): \(list.count) corruption(s) x \(levels.count) severities x \(data.count) images in "
        + "\(fmt(Progress.now() - start, digits: 1)) s; source: \(data.description)")
  }
}
