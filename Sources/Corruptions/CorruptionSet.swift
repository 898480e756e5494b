import Base
import Datasets
import Foundation

/// Writes generated CIFAR-10-C folders in the official layout: `<corruption>.npy` of shape
/// (N * severities, 32, 32, 3) uint8 with severities stacked in order, `labels.npy`,
/// `fidelity.json` (how each corruption relates to the original generator) and
/// `contact-sheet.png`; or the paper's random sample of the official set.
public struct CorruptionSet {
  public let folder: String
  /// Seed of the corruptions' random draws.
  public let noiseSeed: UInt64
  /// Recorded in fidelity.json ("overinterp 0.1.0").
  public let generator: String

  public init(folder: String, noiseSeed: UInt64, generator: String) {
    self.folder = folder
    self.noiseSeed = noiseSeed
    self.generator = generator
  }

  /// Every image of `data` under each corruption at each severity; `onProgress(images, name)`
  /// after each corruption file.
  public func writeAll(
    _ data: ImageDataset, corruptions list: [Corruption], severities levels: [Int], onProgress: ((Int, String) -> Void)? = nil
  ) throws {
    try Self.check(data)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for c in list {
      let px = try CorruptionEngine.corruptAll(data, corruption: c, severities: levels, seed: noiseSeed)
      try NpyArray(px, shape: [data.count * levels.count, 32, 32, 3]).write(to: folder + "/\(c.rawValue).npy")
      onProgress?(data.count * levels.count, c.rawValue)
    }
    let labels = levels.flatMap { _ in data.labels.map { UInt8($0) } }
    try NpyArray(labels, shape: [labels.count]).write(to: folder + "/labels.npy")
    try writeFidelity(list, levels)
    try writeContactSheet(data.subset([0]), list, levels)
  }

  /// The paper's random sample of the 19 x 5 x N official images (np.random.seed(seed);
  /// np.random.choice(19 * 5 * N, count, replace=False) over the corruptions concatenated in
  /// alphabetical order), generating only those images. Returns the files' common prefix.
  @discardableResult
  public func writeSample(_ data: ImageDataset, count: Int, seed: UInt32) throws -> String {
    try Self.check(data)
    let n = data.count
    let total = Corruption.alphabetical.count * 5 * n
    guard count >= 1, count <= total else {
      throw FileFormatError(folder, "a sample of \(count) does not fit the \(total) images of the full set")
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var rs = NumpyRandomState(seed: seed)
    var pixels: [UInt8] = []
    var labels: [UInt8] = []
    var index: [Int64] = []
    for k in rs.choiceWithoutReplacement(total, count) {
      let c = Corruption.alphabetical[k / (5 * n)]
      let severity = (k % (5 * n)) / n + 1
      let i = k % n
      pixels += try CorruptionEngine.corrupt(data, index: i, corruption: c, severity: severity, seed: noiseSeed)
      labels.append(UInt8(data.labels[i]))
      index += [Int64(k), Int64(Corruption.alphabetical.firstIndex(of: c) ?? 0), Int64(severity), Int64(data.sourceIndices[i])]
    }
    let base = folder + "/sample_\(count)_seed\(seed)"
    try NpyArray(pixels, shape: [count, 32, 32, 3]).write(to: base + "_data.npy")
    try NpyArray(labels, shape: [count]).write(to: base + "_labels.npy")
    try NpyArray(index, shape: [count, 4]).write(to: base + "_index.npy")
    try writeFidelity(Corruption.alphabetical, Array(1...5))
    return base
  }

  static func check(_ data: ImageDataset) throws {
    guard data.imageShape == [3, 32, 32] else {
      throw FileFormatError(data.description, "CIFAR-10-C corruptions are defined for 32x32 RGB images, got \(data.imageShape)")
    }
  }

  func writeFidelity(_ list: [Corruption], _ levels: [Int]) throws {
    var entries: [String: Any] = [:]
    for c in list { entries[c.rawValue] = ["identical_algorithm": c.identicalAlgorithm, "note": c.fidelity] }
    let root: [String: Any] = [
      "generator": generator, "noise_seed": noiseSeed, "severities": levels,
      "parameters": "per-severity parameters of hendrycks/robustness make_cifar_c.py", "corruptions": entries,
    ]
    let bytes = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
    try writeFileAtomically(Array(bytes), to: folder + "/fidelity.json")
  }

  /// Rows: corruptions; columns: the clean image, then each severity; 4x nearest-neighbour.
  func writeContactSheet(_ one: ImageDataset, _ list: [Corruption], _ levels: [Int]) throws {
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
    try ImageIO.writePNG(
      rows.flatMap { $0 }, width: width, height: rows.count * 132, channels: 3, to: folder + "/contact-sheet.png")
  }
}

/// The paper's random sample of CIFAR-10-C (`np.random.seed(seed)`; `np.random.choice(19 * 5 * N,
/// count, replace=False)` over the 19 corruptions concatenated in alphabetical order, severities
/// stacked in each), read from a folder: the sample files `data corrupt --sample` wrote, or else
/// the images at those indices of a complete folder of corruption files (official or generated).
public enum CorruptedSample {
  public static func load(folder: String, count: Int, seed: UInt32) throws -> ImageDataset {
    let base = folder + "/sample_\(count)_seed\(seed)"
    if FileManager.default.fileExists(atPath: base + "_data.npy") {
      var d = try DataSource.loadNpyImages(
        images: base + "_data.npy", labels: base + "_labels.npy", indices: nil,
        description: "CIFAR-10-C, the paper's random sample of \(count) (seed \(seed); \(base)_data.npy)")
      if let index = try? NpyArray.read(base + "_index.npy").integers(), index.count == 4 * count {
        d.sourceIndices = (0..<count).map { index[4 * $0] }
      }
      return d
    }
    let names = Corruption.alphabetical.map(\.rawValue)
    let present = Set(DataSource.corruptionFiles(in: folder))
    let missing = names.filter { !present.contains($0) }
    guard missing.isEmpty else {
      throw FileFormatError(
        folder,
        "no \(base)_data.npy and not all 19 corruption files (missing \(missing.joined(separator: ", "))); make the sample with `overinterp data corrupt {sample} \(count) {seed} \(seed)`"
      )
    }
    let labels = try NpyArray.read(folder + "/labels.npy").integers()
    guard labels.count % 5 == 0 else { throw FileFormatError(folder + "/labels.npy", "expected 5 severities of labels") }
    let perFile = labels.count
    let n = perFile / 5
    let total = names.count * perFile
    guard count >= 1, count <= total else {
      throw FileFormatError(folder, "a sample of \(count) does not fit the \(total) images")
    }
    var rs = NumpyRandomState(seed: seed)
    let picks = rs.choiceWithoutReplacement(total, count)
    // Each corruption file is read once; the sample keeps its drawn order.
    var pixels = [[UInt8]](repeating: [], count: count)
    var imageShape = [3, 32, 32]
    for (c, name) in names.enumerated() {
      let wanted = picks.indices.filter { picks[$0] / perFile == c }
      guard !wanted.isEmpty else { continue }
      let file = folder + "/" + name + ".npy"
      let img = try NpyArray.read(file)
      guard img.kind == .uint8, img.shape.count == 4, img.shape[0] == perFile else {
        throw FileFormatError(file, "expected uint8 images (\(perFile), H, W, C), got \(img.kind.rawValue) \(img.shape)")
      }
      let (h, w, ch) = (img.shape[1], img.shape[2], img.shape[3])
      imageShape = [ch, h, w]
      let size = h * w * ch
      for i in wanted {
        let k = picks[i] % perFile
        pixels[i] = ImageDataset.fromHWC(
          Array(img.data[(k * size)..<((k + 1) * size)]), count: 1, height: h, width: w, channels: ch)
      }
    }
    return ImageDataset(
      pixels: pixels.flatMap { $0 }, labels: picks.map { labels[$0 % perFile] }, imageShape: imageShape,
      classNames: CIFAR10.classNames, sourceIndices: picks,
      description: "CIFAR-10-C, the paper's random sample of \(count) (seed \(seed)) of \(folder) (\(n) images per severity)")
  }
}
