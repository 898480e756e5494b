import Base
import Foundation
import Torch

/// A pixel-subset dataset (the paper's sections 4.1-4.2): for each image of a source dataset, the
/// k% of its pixels that are kept, everything else masked to 0 after normalization (the dataset
/// mean). Kept pixels come from a backward-selection run (the last k% of each removal order) or
/// are drawn uniformly at random (the control).
///
/// A folder holds:
/// - `subsets.json`: `PixelSubsets.Info` (format `overinterp-subsets/1`): where every image came
///   from (the source data and, for backward-selection subsets, the run and its model), the kind,
///   fraction and seed, and the mask colour;
/// - `kept.npy`: (N, k) uint16 kept pixel indices (y * W + x); `labels.npy`, `predicted.npy`,
///   `source_index.npy`, `position.npy`: (N) int64 (true label, the run model's prediction on the
///   full image, index in the source, position in the source dataset as loaded);
/// - optionally `images.npy` (N, H, W, C) uint8 with masked pixels at the mask colour and
///   `masks.npy` (N, H, W) uint8, 1 = kept, for numpy users. Without them the images are rebuilt
///   from the source data named in `subsets.json`.
///
/// Loaded (`PixelSubsets.load`, or any `--data` path through `DataSource`), it is an
/// `ImageDataset` with masks: `normalized` and training set masked pixels to exactly 0 after
/// normalization, so a model sees what SIS showed the original model.
public enum PixelSubsets {
  public static let format = "overinterp-subsets/1"

  /// How the kept pixels were chosen.
  public enum Kind: String, Codable, Sendable, CaseIterable {
    /// The last k% of each image's backward-selection removal order.
    case backselect
    /// k% of the pixels, uniformly at random (seeded per image by its source index).
    case random
  }

  public struct Info: Codable, Equatable, Sendable {
    public var format = PixelSubsets.format
    public var kind: Kind
    public var fraction: Double
    /// Random subsets: the seed (each image's draw is `SplitMix64(seed, stream: source index)`).
    public var seed: UInt64?
    public var count: Int
    public var keptPerImage: Int
    public var imageShape: [Int]
    public var classNames: [String]
    /// The source data, as `DataSource` takes it.
    public var sourcePath: String
    public var sourceSplit: String
    public var sourceHoldout: Int
    public var sourceLabels: String?
    public var sourceDescription: String
    /// Backward-selection subsets (and random ones drawn for a run's images): the run folder,
    /// its method label, and its model files and their SHA-256.
    public var run: String?
    public var runLabel: String?
    public var modelPaths: [String]?
    public var modelSHA256: [String]?
    /// The dataset mean as uint8 RGB: the colour of masked pixels in `images.npy`.
    public var maskColor: [UInt8]
    public var overinterpVersion: String

    public init(
      kind: Kind, fraction: Double, seed: UInt64?, count: Int, keptPerImage: Int, imageShape: [Int], classNames: [String],
      sourcePath: String, sourceSplit: String, sourceHoldout: Int, sourceLabels: String?, sourceDescription: String,
      run: String?, runLabel: String?, modelPaths: [String]?, modelSHA256: [String]?, maskColor: [UInt8],
      overinterpVersion: String
    ) {
      self.kind = kind
      self.fraction = fraction
      self.seed = seed
      self.count = count
      self.keptPerImage = keptPerImage
      self.imageShape = imageShape
      self.classNames = classNames
      self.sourcePath = sourcePath
      self.sourceSplit = sourceSplit
      self.sourceHoldout = sourceHoldout
      self.sourceLabels = sourceLabels
      self.sourceDescription = sourceDescription
      self.run = run
      self.runLabel = runLabel
      self.modelPaths = modelPaths
      self.modelSHA256 = modelSHA256
      self.maskColor = maskColor
      self.overinterpVersion = overinterpVersion
    }

    /// What decides which pixels an image keeps and how they look: the info without the folder's
    /// size, the run's folder, the model files' paths, prose and the version. Folders whose
    /// identities agree can be combined.
    public var identity: Info {
      var i = self
      i.count = 0
      i.run = nil
      i.modelPaths = nil
      i.sourceDescription = ""
      i.overinterpVersion = ""
      return i
    }

    /// "5% backward-selection subsets (run R, hybrid k=8 ...) of <source>".
    public var description: String {
      let what = kind == .backselect ? "backward-selection" : "random (seed \(seed ?? 0))"
      let from = run.map { " (run \($0)\(runLabel.map { ", \($0)" } ?? ""))" } ?? ""
      return
        "\(fmt(fraction * 100, digits: fraction * 100 == (fraction * 100).rounded() ? 0 : 1))% \(what) pixel subsets\(from) of \(sourceDescription)"
    }
  }

  /// Whether `path` is a pixel-subset folder.
  public static func isSubsetFolder(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path + "/subsets.json") }

  /// k uniformly random pixels of p for the image with `sourceIndex` (sorted).
  public static func randomPixels(count k: Int, of p: Int, seed: UInt64, sourceIndex: Int) -> [Int] {
    var rng = SplitMix64(seed: seed, stream: UInt64(sourceIndex))
    var all = Array(0..<p)
    for i in 0..<Swift.min(k, p) {
      let j = i + rng.below(p - i)
      all.swapAt(i, j)
    }
    return all.prefix(k).sorted()
  }

  /// Writes a subset folder: the source images at `positions` of `source` with only `kept[i]`
  /// kept. `withImages` also writes `images.npy` and `masks.npy`. Every file is written to a
  /// temporary name and renamed; `subsets.json` last, so a folder with it is complete.
  public static func write(
    info: Info, source: ImageDataset, positions: [Int], kept: [[Int]], predicted: [Int], withImages: Bool, to folder: String
  ) throws {
    let n = positions.count
    guard kept.count == n, predicted.count == n else { throw FileFormatError(folder, "one kept list and prediction per image") }
    let k = info.keptPerImage
    let p = source.plane
    guard kept.allSatisfy({ $0.count == k && $0.allSatisfy { (0..<p).contains($0) } }) else {
      throw FileFormatError(folder, "every image must keep \(k) pixels in 0..<\(p)")
    }
    var images: (pixels: [UInt8], masks: [UInt8])?
    if withImages {
      let masks = kept.flatMap { maskBytes($0, p) }
      let c = source.imageShape[0]
      var hwc = [UInt8](repeating: 0, count: n * p * c)
      for (i, pos) in positions.enumerated() {
        let img = source.image(pos)
        let base = img.startIndex
        for q in 0..<p {
          let keep = masks[i * p + q] != 0
          for ch in 0..<c {
            hwc[(i * p + q) * c + ch] = keep ? img[base + ch * p + q] : info.maskColor[Swift.min(ch, info.maskColor.count - 1)]
          }
        }
      }
      images = (hwc, masks)
    }
    try writeFiles(
      info: info, kept: kept.flatMap { $0 }, labels: positions.map { source.labels[$0] }, predicted: predicted,
      sources: positions.map { source.sourceIndices[$0] }, positions: positions, images: images, to: folder)
  }

  /// Writes a subset folder's arrays (`kept` row-major, `info.keptPerImage` per image; `images`
  /// HWC pixels and HW masks, or nil to leave both out), each atomically, and `subsets.json` last.
  private static func writeFiles(
    info: Info, kept: [Int], labels: [Int], predicted: [Int], sources: [Int], positions: [Int],
    images: (pixels: [UInt8], masks: [UInt8])?, to folder: String
  ) throws {
    let n = positions.count
    let (c, h, w) = (info.imageShape[0], info.imageShape[1], info.imageShape[2])
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try? FileManager.default.removeItem(atPath: folder + "/subsets.json")
    try NpyArray(kept.map { UInt16($0) }, shape: [n, info.keptPerImage]).write(to: folder + "/kept.npy")
    try NpyArray(labels.map { Int64($0) }, shape: [n]).write(to: folder + "/labels.npy")
    try NpyArray(predicted.map { Int64($0) }, shape: [n]).write(to: folder + "/predicted.npy")
    try NpyArray(sources.map { Int64($0) }, shape: [n]).write(to: folder + "/source_index.npy")
    try NpyArray(positions.map { Int64($0) }, shape: [n]).write(to: folder + "/position.npy")
    if let images {
      try NpyArray(images.pixels, shape: [n, h, w, c]).write(to: folder + "/images.npy")
      try NpyArray(images.masks, shape: [n, h, w]).write(to: folder + "/masks.npy")
    } else {
      for f in ["images.npy", "masks.npy"] { try? FileManager.default.removeItem(atPath: folder + "/" + f) }
    }
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeFileAtomically(Array(try e.encode(info)) + [0x0a], to: folder + "/subsets.json")
  }

  public static func readInfo(_ folder: String) throws -> Info {
    let path = folder + "/subsets.json"
    return try parseInfo(try readFile(path), path: path)
  }

  /// Parses and checks the bytes of a `subsets.json`; `path` names it in errors.
  public static func parseInfo(_ bytes: [UInt8], path: String) throws -> Info {
    let info: Info
    do { info = try JSONDecoder().decode(Info.self, from: Data(bytes)) } catch {
      throw FileFormatError(path, "not a pixel-subset description (\(error))")
    }
    guard info.format == format else { throw FileFormatError(path, "format '\(info.format)' is not \(format)") }
    let shape = info.imageShape
    guard shape.count == 3, [1, 3].contains(shape[0]), shape[1] > 0, shape[2] > 0,
      let plane = checkedByteCount(shape: [shape[1], shape[2]], elementSize: 1), plane <= 65_536
    else {
      throw FileFormatError(path, "imageShape \(shape) is not [channels (1 or 3), height, width] of at most 65,536 pixels")
    }
    guard info.count >= 0, (0...plane).contains(info.keptPerImage),
      checkedByteCount(shape: [info.count, plane], elementSize: 1) != nil
    else {
      throw FileFormatError(
        path, "count \(info.count) and keptPerImage \(info.keptPerImage) do not fit images of \(plane) pixels")
    }
    guard !info.classNames.isEmpty, info.maskColor.count == shape[0], (0...1).contains(info.fraction) else {
      throw FileFormatError(path, "needs class names, one mask colour value per channel and a fraction in [0, 1]")
    }
    return info
  }

  /// A subset folder's per-image arrays, as `readArrays` returns them checked.
  public struct Arrays: Sendable {
    /// Row-major, `keptPerImage` pixel indices per image.
    public var kept: [Int]
    public var labels: [Int]
    public var predicted: [Int]
    public var sources: [Int]
    public var positions: [Int]
  }

  /// Reads `kept.npy`, `labels.npy`, `predicted.npy`, `source_index.npy` and `position.npy` of a
  /// folder described by `info`, checking each array's shape against it, labels against the class
  /// names, pixel indices against the image plane and positions for being non-negative; an error
  /// names the file and what was expected.
  public static func readArrays(_ folder: String, info: Info) throws -> Arrays {
    let n = info.count
    let classes = info.classNames.count
    let plane = info.imageShape[1] * info.imageShape[2]
    // Values in 0..<bound, or any non-negative value where bound is nil.
    func ints(_ name: String, _ shape: [Int], below bound: Int?, _ what: String) throws -> [Int] {
      let path = folder + "/" + name
      let array = try NpyArray.read(path)
      guard array.shape == shape else {
        throw FileFormatError(path, "expected shape \(shape) as subsets.json says, got \(array.shape)")
      }
      let values = try array.integers()
      guard values.allSatisfy({ $0 >= 0 && $0 < (bound ?? Int.max) }) else {
        throw FileFormatError(path, "\(what) must \(bound.map { "lie in 0..<\($0)" } ?? "not be negative")")
      }
      return values
    }
    return Arrays(
      kept: try ints("kept.npy", [n, info.keptPerImage], below: plane, "pixel indices"),
      labels: try ints("labels.npy", [n], below: classes, "labels (the class names)"),
      predicted: try ints("predicted.npy", [n], below: classes, "predictions (the class names)"),
      sources: try ints("source_index.npy", [n], below: nil, "source indices"),
      positions: try ints("position.npy", [n], below: nil, "positions"))
  }

  /// A folder's optional uint8 array `name` (`images.npy`, `masks.npy`), checked against `shape`;
  /// nil when the file is absent. An error names the file and the shape expected.
  static func readStoredBytes(_ folder: String, _ name: String, shape: [Int]) throws -> [UInt8]? {
    let path = folder + "/" + name
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let array = try NpyArray.read(path)
    guard array.kind == .uint8, array.shape == shape else {
      throw FileFormatError(
        path, "expected uint8 of shape \(shape) as subsets.json says, got \(array.kind.rawValue) \(array.shape)")
    }
    return array.data
  }

  /// The subset dataset as images with masks. `sourceOverride` replaces the recorded source path
  /// (for folders moved to another machine) when `images.npy` is absent.
  public static func load(_ folder: String, sourceOverride: String? = nil) throws -> ImageDataset {
    let info = try readInfo(folder)
    let arrays = try readArrays(folder, info: info)
    let (keptPixels, labels, sources) = (arrays.kept, arrays.labels, arrays.sources)
    let n = info.count
    let k = info.keptPerImage
    let (c, h, w) = (info.imageShape[0], info.imageShape[1], info.imageShape[2])
    let p = h * w
    var masks = [UInt8](repeating: 0, count: n * p)
    for i in 0..<n { for j in 0..<k { masks[i * p + keptPixels[i * k + j]] = 1 } }
    let pixels: [UInt8]
    if let images = try readStoredBytes(folder, "images.npy", shape: [n, h, w, c]) {
      pixels = ImageDataset.fromHWC(images, count: n, height: h, width: w, channels: c)
    } else {
      let positions = arrays.positions
      let source = DataSource(
        path: sourceOverride ?? info.sourcePath, split: Split(rawValue: info.sourceSplit) ?? .test, holdout: info.sourceHoldout,
        labelsPath: info.sourceLabels)
      let data = try source.load()
      guard positions.allSatisfy({ (0..<data.count).contains($0) }) else {
        throw FileFormatError(
          folder + "/position.npy", "positions do not fit the source \(data.description) (\(data.count) images)")
      }
      guard positions.enumerated().allSatisfy({ data.sourceIndices[$0.element] == sources[$0.offset] }) else {
        throw FileFormatError(
          folder, "the source \(data.description) is not the data these subsets were made from (source indices differ)")
      }
      pixels = data.subset(positions).pixels
    }
    return ImageDataset(
      pixels: pixels, labels: labels, imageShape: info.imageShape, classNames: info.classNames, sourceIndices: sources,
      description: info.description, masks: masks)
  }
}

/// A feature list as a 0/1 byte mask over `p` features.
public func maskBytes(_ features: [Int], _ p: Int) -> [UInt8] {
  var m = [UInt8](repeating: 0, count: p)
  for f in features where f >= 0 && f < p { m[f] = 1 }
  return m
}

extension PixelSubsets {
  /// Joins subset folders of disjoint images of one source (e.g. the subsets of the shards of one
  /// backward selection, written as each shard finished) into `out`, sorted by position. The
  /// folders must agree on everything but their images and runs: kind, fraction, seed, pixels
  /// kept, image shape, classes, source, method label, model and mask colour; an image in two
  /// folders is refused. `images.npy` and `masks.npy` are joined when every folder has them,
  /// else left out (the loader rebuilds the images from the source). `out` may be one of the
  /// inputs: the merged folder is written beside it (`OUT.merging`) and swapped in by two
  /// renames, so a crash leaves either the old folder or the new one whole (between the renames,
  /// the old one is `OUT.replaced`, and the next merge into `out` says so). A folder `out` that
  /// holds something else than subsets is refused.
  /// Returns the joined description.
  @discardableResult
  public static func merge(_ folders: [String], into out: String) throws -> Info {
    guard let firstFolder = folders.first else { throw FileFormatError(out, "nothing to merge") }
    let fm = FileManager.default
    var folder = out
    while folder.count > 1 && folder.hasSuffix("/") { folder.removeLast() }
    if fm.fileExists(atPath: folder) && !isSubsetFolder(folder)
      && !((try? fm.contentsOfDirectory(atPath: folder))?.isEmpty ?? false)
    {
      throw FileFormatError(folder, "exists and is not a pixel-subset folder (no subsets.json): merge into a new folder")
    }
    let (staging, replaced) = (folder + ".merging", folder + ".replaced")
    if fm.fileExists(atPath: replaced) {
      throw FileFormatError(
        folder,
        "an earlier merge into it was interrupted: \(replaced) holds the folder before it and \(staging) the merged one; move the one to keep to \(folder)"
      )
    }
    struct Part {
      var info: Info
      var kept: [Int]
      var labels: [Int]
      var predicted: [Int]
      var sources: [Int]
      var positions: [Int]
      var images: [UInt8]?
      var masks: [UInt8]?
    }
    var parts: [Part] = []
    for f in folders {
      let info = try readInfo(f)
      let n = info.count
      let arrays = try readArrays(f, info: info)
      var part = Part(
        info: info, kept: arrays.kept, labels: arrays.labels, predicted: arrays.predicted, sources: arrays.sources,
        positions: arrays.positions)
      let (c, h, w) = (info.imageShape[0], info.imageShape[1], info.imageShape[2])
      if let images = try readStoredBytes(f, "images.npy", shape: [n, h, w, c]),
        let masks = try readStoredBytes(f, "masks.npy", shape: [n, h, w])
      {
        part.images = images
        part.masks = masks
      }
      parts.append(part)
    }
    let base = parts[0].info
    for (f, part) in zip(folders, parts).dropFirst() {
      let differ = differingFields(part.info.identity, base.identity)
      if !differ.isEmpty {
        throw FileFormatError(f, "cannot be merged with \(firstFolder): they differ in \(differ.joined(separator: ", "))")
      }
    }
    // Every image once, in position order.
    var rows: [(part: Int, row: Int)] = []
    var seen: [Int: String] = [:]
    for (p, part) in parts.enumerated() {
      for (r, pos) in part.positions.enumerated() {
        if let other = seen[pos] {
          throw FileFormatError(folders[p], "image at position \(pos) (source index \(part.sources[r])) is also in \(other)")
        }
        seen[pos] = folders[p]
        rows.append((p, r))
      }
    }
    rows.sort { parts[$0.part].positions[$0.row] < parts[$1.part].positions[$1.row] }
    let n = rows.count
    let k = base.keptPerImage
    let (c, h, w) = (base.imageShape[0], base.imageShape[1], base.imageShape[2])
    func column(_ pick: (Part) -> [Int], width: Int = 1) -> [Int] {
      rows.flatMap { r in pick(parts[r.part])[(r.row * width)..<((r.row + 1) * width)] }
    }
    let runs = parts.compactMap(\.info.run).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    var info = base
    info.count = n
    info.run = runs.count <= 1 ? runs.first : runs.joined(separator: " + ")
    let partImages = parts.compactMap(\.images)
    let partMasks = parts.compactMap(\.masks)
    var images: (pixels: [UInt8], masks: [UInt8])?
    if partImages.count == parts.count && partMasks.count == parts.count {
      let plane = h * w
      images = (
        rows.flatMap { r in partImages[r.part][(r.row * plane * c)..<((r.row + 1) * plane * c)] },
        rows.flatMap { r in partMasks[r.part][(r.row * plane)..<((r.row + 1) * plane)] }
      )
    }
    try? fm.removeItem(atPath: staging)
    try writeFiles(
      info: info, kept: column(\.kept, width: k), labels: column(\.labels), predicted: column(\.predicted),
      sources: column(\.sources), positions: column(\.positions), images: images, to: staging)
    do {
      if fm.fileExists(atPath: folder) {
        try fm.moveItem(atPath: folder, toPath: replaced)
        try fm.moveItem(atPath: staging, toPath: folder)
        try fm.removeItem(atPath: replaced)
      } else {
        try fm.moveItem(atPath: staging, toPath: folder)
      }
    } catch {
      throw FileFormatError(folder, "cannot move the merged folder \(staging) into place: \(error)")
    }
    return info
  }
}
