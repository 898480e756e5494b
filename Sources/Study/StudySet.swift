import Base
import Datasets
import Foundation
import SIS

/// One image shown to participants: a test image with only `keptPixels` of its pixels (ranked by
/// backward selection) visible.
public struct StudyImage: Codable, Equatable, Sendable {
  public var id: String
  public var file: String
  public var sourceIndex: Int
  public var label: Int
  /// The run (model) whose backward selection ranked the pixels.
  public var run: String
  public var fraction: Double
  public var keptPixels: Int
  /// nil for a trial (a subset image, analysed); `.practice` (a full image shown before the
  /// study, not analysed) or `.attention` (a full image among the trials, a check that the
  /// participant is paying attention; analysed on its own).
  public var kind: Kind?

  public enum Kind: String, Codable, Sendable {
    case practice
    case attention = "catch"
  }

  public init(
    id: String, file: String, sourceIndex: Int, label: Int, run: String, fraction: Double, keptPixels: Int, kind: Kind? = nil
  ) {
    self.id = id
    self.file = file
    self.sourceIndex = sourceIndex
    self.label = label
    self.run = run
    self.fraction = fraction
    self.keptPixels = keptPixels
    self.kind = kind
  }
}

/// A study: the images (PNG files beside `study.json`) and how they were chosen.
public struct StudySet: Codable, Equatable, Sendable {
  public var format = "overinterp-study/1"
  public var classNames: [String]
  public var fractions: [Double]
  public var perClass: Int
  public var seed: UInt64
  public var confidence: Double
  public var images: [StudyImage]

  public static func load(_ folder: String) throws -> StudySet {
    guard let data = FileManager.default.contents(atPath: folder + "/study.json") else {
      throw FileFormatError(folder, "no study.json: not a study folder (make one with `overinterp study make`)")
    }
    return try parse(Array(data), path: folder + "/study.json")
  }

  /// Parses and checks the bytes of a `study.json`; `path` names it in errors. Image files must
  /// be plain names inside the study folder (the server sends them), ids unique, labels classes.
  public static func parse(_ bytes: [UInt8], path: String) throws -> StudySet {
    let set: StudySet
    do { set = try JSONDecoder().decode(StudySet.self, from: Data(bytes)) } catch {
      throw FileFormatError(path, "unreadable study manifest: \(error)")
    }
    guard set.format == "overinterp-study/1" else {
      throw FileFormatError(path, "format '\(set.format.prefix(60))' is not overinterp-study/1")
    }
    guard !set.classNames.isEmpty else { throw FileFormatError(path, "no class names") }
    var ids = Set<String>()
    for (i, image) in set.images.enumerated() {
      guard !image.id.isEmpty, ids.insert(image.id).inserted else {
        throw FileFormatError(path, "image \(i): empty or repeated id")
      }
      guard !image.file.isEmpty, !image.file.contains("/"), !image.file.hasPrefix("."), image.file.hasSuffix(".png") else {
        throw FileFormatError(path, "image \(i): file '\(image.file.prefix(80))' is not a .png name inside the study folder")
      }
      guard (0..<set.classNames.count).contains(image.label), (0...1).contains(image.fraction), image.keptPixels >= 0 else {
        throw FileFormatError(path, "image \(i): label, fraction or keptPixels out of range")
      }
    }
    return set
  }

  public func save(_ folder: String) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeFileAtomically(Array(try e.encode(self)), to: folder + "/study.json")
  }

  /// Picks images the way the paper did (section 3.4): test images that the run's model
  /// classified correctly with confidence >= `confidence`, `perClass` per class, drawn with a
  /// seeded generator and spread round-robin over the runs (models); each is written at every
  /// fraction with the last `fraction` of its backward-selection order kept and every other pixel
  /// set to `maskColor` (the dataset mean, i.e. 0 after normalization).
  ///
  /// `practice` full images are shown before the study and `attentionPerPart` full images are
  /// mixed into each part (catch trials); both are drawn, with the same seed, from the run's other
  /// correctly and confidently classified images.
  public static func make(
    runs: [(name: String, records: [ImageRecord], data: ImageDataset)], fractions: [Double], perClass: Int, confidence: Double,
    seed: UInt64, maskColor: [UInt8], practice: Int = 0, attentionPerPart: Int = 0, out folder: String
  ) throws -> StudySet {
    guard let first = runs.first else { throw FileFormatError(folder, "no runs given") }
    let classNames = first.data.classNames
    var rng = SplitMix64(seed: seed)
    var chosen: [(run: Int, record: ImageRecord)] = []
    var used = Set<Int>()
    for c in classNames.indices {
      var pools = runs.map { run in
        run.records.filter { $0.label == c && $0.predicted == c && Double($0.confidence) >= confidence }.shuffled(using: &rng)
      }
      var taken = 0
      var r = 0
      var exhausted = 0
      while taken < perClass && exhausted < runs.count {
        if let next = pools[r].first(where: { !used.contains($0.sourceIndex) }) {
          pools[r].removeAll { $0.sourceIndex == next.sourceIndex }
          used.insert(next.sourceIndex)
          chosen.append((r, next))
          taken += 1
          exhausted = 0
        } else {
          exhausted += 1
        }
        r = (r + 1) % runs.count
      }
      if taken < perClass {
        throw FileFormatError(
          folder,
          "class \(classNames[c]): only \(taken) image(s) classified correctly with confidence >= \(confidence) in the runs; \(perClass) needed"
        )
      }
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var images: [StudyImage] = []
    for (runIndex, record) in chosen {
      let data = runs[runIndex].data
      let (c, h, w) = (data.imageShape[0], data.imageShape[1], data.imageShape[2])
      let hwc = ImageIO.hwc(fromCHW: data.image(record.position), channels: c, height: h, width: w)
      for f in fractions {
        let kept = Set(backSelectSubset(order: record.order, fraction: f))
        let id = "r\(runIndex)-i\(record.sourceIndex)-f\(Int((f * 1000).rounded()))"
        images.append(
          try writeMasked(
            hwc, width: w, height: h, channels: c, kept: (0..<(h * w)).map { kept.contains($0) }, maskColor: maskColor, id: id,
            sourceIndex: record.sourceIndex, label: record.label, run: runs[runIndex].name, fraction: f, folder: folder))
      }
    }
    // Full images for practice and catch trials: other confident, correct images of the runs.
    let extra = practice + attentionPerPart * fractions.count
    if extra > 0 {
      var pool: [(run: Int, record: ImageRecord)] = []
      for (r, run) in runs.enumerated() {
        for record in run.records
        where record.label == record.predicted && Double(record.confidence) >= confidence && !used.contains(record.sourceIndex) {
          pool.append((r, record))
        }
      }
      pool.shuffle(using: &rng)
      var seen = Set<Int>()
      pool = pool.filter { seen.insert($0.record.sourceIndex).inserted }
      guard pool.count >= extra else {
        throw FileFormatError(
          folder,
          "only \(pool.count) further image(s) for \(practice) practice and \(attentionPerPart * fractions.count) catch trials")
      }
      for (k, (runIndex, record)) in pool.prefix(extra).enumerated() {
        let data = runs[runIndex].data
        let (c, h, w) = (data.imageShape[0], data.imageShape[1], data.imageShape[2])
        let hwc = ImageIO.hwc(fromCHW: data.image(record.position), channels: c, height: h, width: w)
        let kind: StudyImage.Kind = k < practice ? .practice : .attention
        var image = try writeMasked(
          hwc, width: w, height: h, channels: c, kept: [Bool](repeating: true, count: h * w), maskColor: maskColor,
          id: "\(kind == .practice ? "practice" : "catch")-i\(record.sourceIndex)", sourceIndex: record.sourceIndex,
          label: record.label, run: runs[runIndex].name, fraction: 1, folder: folder)
        image.kind = kind
        images.append(image)
      }
    }
    let set = StudySet(
      classNames: classNames, fractions: fractions.sorted(), perClass: perClass, seed: seed, confidence: confidence,
      images: images)
    try set.save(folder)
    return set
  }

  /// A study from plain arrays instead of backselect runs: `images` (N, H, W, C) uint8, `labels`
  /// (N), and `masks` (N, F, H, W), nonzero where a pixel is kept, one mask per fraction (in the
  /// order of `fractions`). Every image is used; `confidence` is recorded as not applicable (0).
  public static func make(
    images: NpyArray, labels: [Int], masks: NpyArray, fractions: [Double], classNames: [String], maskColor: [UInt8],
    source: String,
    out folder: String
  ) throws -> StudySet {
    guard images.shape.count == 4 else {
      throw FileFormatError(source, "images.npy must have shape (N, H, W, C), got \(images.shape)")
    }
    let (n, h, w, c) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
    guard labels.count == n, labels.allSatisfy({ classNames.indices.contains($0) }) else {
      throw FileFormatError(source, "labels.npy must hold \(n) class indices in 0..<\(classNames.count)")
    }
    guard masks.shape == [n, fractions.count, h, w] else {
      throw FileFormatError(
        source,
        "masks.npy must have shape (\(n), \(fractions.count), \(h), \(w)) (image, fraction, row, column), got \(masks.shape)")
    }
    guard maskColor.count == c else { throw FileFormatError(source, "mask colour has \(maskColor.count) channels, images \(c)") }
    guard images.kind == .uint8 else { throw FileFormatError(source, "images.npy must be uint8, got \(images.kind)") }
    guard fractions == fractions.sorted() else { throw FileFormatError(source, "the fractions must be increasing") }
    let pixels = images.data
    let kept: [Int] = masks.kind == .bool ? masks.data.map(Int.init) : try masks.integers()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var written: [StudyImage] = []
    for i in 0..<n {
      let hwc = Array(pixels[(i * h * w * c)..<((i + 1) * h * w * c)])
      for (k, f) in fractions.enumerated() {
        let base = (i * fractions.count + k) * h * w
        written.append(
          try writeMasked(
            hwc, width: w, height: h, channels: c, kept: kept[base..<(base + h * w)].map { $0 != 0 }, maskColor: maskColor,
            id: "i\(i)-f\(Int((f * 1000).rounded()))", sourceIndex: i, label: labels[i], run: source, fraction: f, folder: folder)
        )
      }
    }
    let perClass = classNames.indices.map { c in labels.count { $0 == c } }.max() ?? 0
    let set = StudySet(classNames: classNames, fractions: fractions, perClass: perClass, seed: 0, confidence: 0, images: written)
    try set.save(folder)
    return set
  }

  /// Writes one masked image (kept pixels as they are, the others at `maskColor`) as PNG.
  static func writeMasked(
    _ hwc: [UInt8], width w: Int, height h: Int, channels c: Int, kept: [Bool], maskColor: [UInt8], id: String, sourceIndex: Int,
    label: Int, run: String, fraction: Double, folder: String
  ) throws -> StudyImage {
    var px = hwc
    for p in 0..<(h * w) where !kept[p] {
      for ch in 0..<c { px[p * c + ch] = maskColor[ch] }
    }
    try ImageIO.writePNG(px, width: w, height: h, channels: c, to: folder + "/\(id).png")
    return StudyImage(
      id: id, file: "\(id).png", sourceIndex: sourceIndex, label: label, run: run, fraction: fraction,
      keptPixels: kept.count { $0 })
  }

  /// The order one participant sees: all images of the smallest fraction first, then the next
  /// fraction, …; shuffled within each fraction with the participant's seed.
  public func order(participantSeed: UInt64) -> [StudyImage] { orderWithParts(participantSeed: participantSeed).map(\.image) }

  /// The order with each image's part: 0 for practice images (first), 1... for the fractions;
  /// catch images are spread over the parts (the i-th into part i mod parts) at seeded positions.
  /// Without practice and catch images this is the order studies had before they existed.
  public func orderWithParts(participantSeed: UInt64) -> [(image: StudyImage, part: Int)] {
    var rng = SplitMix64(seed: participantSeed)
    var parts = fractions.map { f in images.filter { $0.kind == nil && $0.fraction == f }.shuffled(using: &rng) }
    let practice = images.filter { $0.kind == .practice }.shuffled(using: &rng)
    let attention = images.filter { $0.kind == .attention }.shuffled(using: &rng)
    if !parts.isEmpty {
      for (i, image) in attention.enumerated() {
        let p = i % parts.count
        parts[p].insert(image, at: rng.below(parts[p].count + 1))
      }
    }
    return practice.map { ($0, 0) } + parts.enumerated().flatMap { p, list in list.map { ($0, p + 1) } }
  }
}
