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

  @OptionGroup var dataOptions: DataOptions

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
        throw ValidationError("--corruptions: unknown '\(name)'; choose from \(Corruption.alphabetical.map(\.rawValue).joined(separator: ", "))")
      }
      return c
    }
  }

  func parsedSeverities() throws -> [Int] {
    let list: [Int]
    if let r = severities.range(of: "-"), let a = Int(severities[..<r.lowerBound]), let b = Int(severities[r.upperBound...]), a <= b {
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
    var data = try dataOptions.load()
    guard data.imageShape == [3, 32, 32] else { throw ValidationFailure("CIFAR-10-C corruptions are defined for 32x32 RGB images; --data has \(data.imageShape)") }
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let list = try parsedCorruptions()
    let levels = try parsedSeverities()
    if let sample { return try writeSample(data, count: sample) }
    let progress = Progress(total: data.count * levels.count * list.count, label: "corrupt")
    let start = Progress.now()
    for c in list {
      let px = try CorruptionEngine.corruptAll(data, corruption: c, severities: levels, seed: noiseSeed)
      try NpyArray(px, shape: [data.count * levels.count, 32, 32, 3]).write(to: out + "/\(c.rawValue).npy")
      progress.advance(by: data.count * levels.count, extra: c.rawValue)
    }
    progress.finish()
    let labels = levels.flatMap { _ in data.labels.map { UInt8($0) } }
    try NpyArray(labels, shape: [labels.count]).write(to: out + "/labels.npy")
    try writeFidelity(list, levels)
    data = data.subset([0])
    try contactSheet(data, list, levels)
    print("\(out): \(list.count) corruption(s) x \(levels.count) severities x \(data.count == 1 ? "" : "")\(labels.count / levels.count) images in \(fmt(Progress.now() - start, digits: 1)) s; source: \(try dataOptions.load().description)")
  }

  func writeSample(_ data: ImageDataset, count: Int) throws {
    let n = data.count
    let total = Corruption.alphabetical.count * 5 * n
    guard count <= total else { throw ValidationFailure("--sample \(count) exceeds the \(total) images of the full set") }
    var rs = NumpyRandomState(seed: seed)
    let picks = rs.choiceWithoutReplacement(total, count)
    var pixels: [UInt8] = []
    var labels: [UInt8] = []
    var index: [Int64] = []
    for k in picks {
      let c = Corruption.alphabetical[k / (5 * n)]
      let severity = (k % (5 * n)) / n + 1
      let i = k % n
      pixels += try CorruptionEngine.corrupt(data, index: i, corruption: c, severity: severity, seed: noiseSeed)
      labels.append(UInt8(data.labels[i]))
      index += [Int64(k), Int64(Corruption.alphabetical.firstIndex(of: c) ?? 0), Int64(severity), Int64(data.sourceIndices[i])]
    }
    let base = out + "/sample_\(count)_seed\(seed)"
    try NpyArray(pixels, shape: [count, 32, 32, 3]).write(to: base + "_data.npy")
    try NpyArray(labels, shape: [count]).write(to: base + "_labels.npy")
    try NpyArray(index, shape: [count, 4]).write(to: base + "_index.npy")
    try writeFidelity(Corruption.alphabetical, Array(1...5))
    print("\(base)_data.npy: \(count) images (columns of _index.npy: flat index, corruption in alphabetical order, severity, source image); source: \(data.description)")
  }

  func writeFidelity(_ list: [Corruption], _ levels: [Int]) throws {
    var entries: [String: Any] = [:]
    for c in list { entries[c.rawValue] = ["identical_algorithm": c.identicalAlgorithm, "note": c.fidelity] }
    let root: [String: Any] = [
      "generator": "overinterp \(Overinterp.configuration.version)", "noise_seed": noiseSeed, "severities": levels,
      "parameters": "per-severity parameters of hendrycks/robustness make_cifar_c.py", "corruptions": entries,
    ]
    try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: out + "/fidelity.json"))
  }

  /// Rows: corruptions; columns: the clean image, then each severity; 4x nearest-neighbour.
  func contactSheet(_ one: ImageDataset, _ list: [Corruption], _ levels: [Int]) throws {
    let clean = ImageIO.hwc(fromCHW: one.image(0), channels: 3, height: 32, width: 32)
    var rows: [[UInt8]] = []
    var width = 0
    for c in list {
      var tiles = [ImageIO.upscale(clean, width: 32, height: 32, channels: 3, factor: 4)]
      for s in levels {
        let px = try CorruptionEngine.corrupt(one, index: 0, corruption: c, severity: s, seed: noiseSeed)
        tiles.append(ImageIO.upscale(px, width: 32, height: 32, channels: 3, factor: 4))
      }
      let row = ImageIO.row(tiles, width: 128, height: 128, channels: 3)
      rows.append(row.pixels)
      width = row.width
    }
    try ImageIO.writePNG(rows.flatMap { $0 }, width: width, height: rows.count * 132, channels: 3, to: out + "/contact-sheet.png")
  }
}
