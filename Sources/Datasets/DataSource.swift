import Base
import Foundation
import Torch

/// Which part of a dataset to use.
public enum Split: String, CaseIterable, Codable, Sendable {
  /// Training images, minus the held-out ones.
  case train
  /// The last `holdout` training images: clean, unseen validation images.
  case holdout
  /// The test set.
  case test
  /// Every training image (no holdout).
  case trainAll = "train-all"
}

/// Loads the images a command works on from a path, recognising the layout:
///
/// - a folder with `data_batch_*.bin` / `test_batch.bin`: CIFAR-10 binary (splits train, holdout, test, train-all);
/// - a folder with `cifar10_test_lossless_subset_images.npy`: the lossless CIFAR-10 test subset;
/// - a folder with `cifar10.1_v6_data.npy` (or `_v4_`): CIFAR-10.1;
/// - a single `.bin` file: one CIFAR-10 binary batch;
/// - an `.npy` of uint8 images (N, H, W, C) with `labels` naming an `.npy` of labels.
public struct DataSource: Sendable {
  public var path: String
  public var split: Split
  public var holdout: Int
  public var labelsPath: String?
  /// For a CIFAR-10-C folder: which corruption file and severity (1-5).
  public var corruption: String?
  public var severity: Int?
  /// Class names for `.npy` images (labels must lie in 0..<count).
  public var classNames: [String] = CIFAR10.classNames

  public init(
    path: String, split: Split = .test, holdout: Int = 5000, labelsPath: String? = nil, corruption: String? = nil,
    severity: Int? = nil
  ) {
    self.path = path
    self.split = split
    self.holdout = holdout
    self.labelsPath = labelsPath
    self.corruption = corruption
    self.severity = severity
  }

  /// Corruption files (`<name>.npy` beside `labels.npy`) of a CIFAR-10-C folder, official or generated.
  public static func corruptionFiles(in folder: String) -> [String] {
    guard exists(folder + "/labels.npy"), let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
      return []
    }
    return names.filter { $0.hasSuffix(".npy") && $0 != "labels.npy" && !$0.hasPrefix("sample_") }.map { String($0.dropLast(4)) }
      .sorted()
  }

  /// One severity of one corruption file of a CIFAR-10-C folder (severities stacked in order,
  /// 10,000 images each in the official files).
  public static func loadCorruption(folder: String, name: String, severity: Int) throws -> ImageDataset {
    let file = folder + "/" + name + ".npy"
    guard exists(file) else {
      throw FileFormatError(
        file, "no such corruption file; the folder has \(corruptionFiles(in: folder).joined(separator: ", "))")
    }
    let img = try NpyArray.read(file)
    let labels = try NpyArray.read(folder + "/labels.npy").integers()
    guard img.kind == .uint8, img.shape.count == 4, img.shape[0] % 5 == 0 || img.shape[0] == labels.count else {
      throw FileFormatError(
        file, "expected uint8 images (N, H, W, C) with severities stacked, got \(img.kind.rawValue) \(img.shape)")
    }
    guard img.shape[0] == labels.count else {
      throw FileFormatError(folder + "/labels.npy", "\(labels.count) labels for \(img.shape[0]) images in \(file)")
    }
    let per = img.shape[0] / 5
    guard (1...5).contains(severity) else { throw FileFormatError(file, "severity must be 1-5, got \(severity)") }
    let (h, w, c) = (img.shape[1], img.shape[2], img.shape[3])
    let size = h * w * c
    let lo = (severity - 1) * per
    let hwc = Array(img.data[(lo * size)..<((lo + per) * size)])
    return ImageDataset(
      pixels: ImageDataset.fromHWC(hwc, count: per, height: h, width: w, channels: c), labels: Array(labels[lo..<(lo + per)]),
      imageShape: [c, h, w], classNames: CIFAR10.classNames, sourceIndices: Array(0..<per),
      description: "CIFAR-10-C \(name), severity \(severity) (\(folder))")
  }

  static func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: p) }

  static func isDirectory(_ p: String) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: p, isDirectory: &dir) && dir.boolValue
  }

  public func load() throws -> ImageDataset {
    guard Self.exists(path) else { throw FileFormatError(path, "no such file or folder ({data})") }
    if Self.isDirectory(path) {
      if PixelSubsets.isSubsetFolder(path) { return try PixelSubsets.load(path) }
      if Self.exists(path + "/" + CIFAR10.testFile) || Self.exists(path + "/data_batch_1.bin") {
        return try loadCIFAR10Binary()
      }
      if Self.exists(path + "/cifar10_test_lossless_subset_images.npy") {
        return try Self.loadNpyImages(
          images: path + "/cifar10_test_lossless_subset_images.npy", labels: path + "/cifar10_test_lossless_subset_labels.npy",
          indices: path + "/cifar10_test_lossless_subset_indices.npy",
          description: "CIFAR-10 test set, lossless subset of 1,120 images (\(path)); not a random sample")
      }
      for v in ["v6", "v4"] where Self.exists(path + "/cifar10.1_\(v)_data.npy") {
        return try Self.loadNpyImages(
          images: path + "/cifar10.1_\(v)_data.npy", labels: path + "/cifar10.1_\(v)_labels.npy", indices: nil,
          description: "CIFAR-10.1 \(v) (\(path))")
      }
      if Self.exists(path + "/images.npy") && Self.exists(path + "/labels.npy") {
        // A folder of numpy arrays, as the embedded sample is laid out: source indices (where the
        // images came from; random subsets are seeded by them) from indices.npy when present.
        return try Self.loadNpyImages(
          images: path + "/images.npy", labels: path + "/labels.npy",
          indices: Self.exists(path + "/indices.npy") ? path + "/indices.npy" : nil, description: path, classNames: classNames)
      }
      if !Self.corruptionFiles(in: path).isEmpty {
        guard let corruption, let severity else {
          throw FileFormatError(
            path,
            "a CIFAR-10-C folder: choose {corruption} (\(Self.corruptionFiles(in: path).joined(separator: ", "))) and {severity} 1-5, or evaluate all of them with {cifar10c}"
          )
        }
        return try Self.loadCorruption(folder: path, name: corruption, severity: severity)
      }
      if Self.exists(path + "/cifar10.1_v6_labels.npy") {
        throw FileFormatError(
          path,
          "CIFAR-10.1 labels found but not the images (cifar10.1_v6_data.npy); fetch them with `overinterp data download cifar10.1`"
        )
      }
      throw FileFormatError(
        path,
        "unrecognised dataset folder: expected CIFAR-10 binary batches (data_batch_1.bin, test_batch.bin), the lossless test subset, CIFAR-10.1 .npy files, or images.npy and labels.npy (and optionally indices.npy)"
      )
    }
    if path.hasSuffix(".bin") { return try CIFAR10.readBatch(path) }
    if path.hasSuffix(".npy") {
      guard let labelsPath else { throw FileFormatError(path, "an .npy of images needs {labels} LABELS.npy") }
      return try Self.loadNpyImages(images: path, labels: labelsPath, indices: nil, description: path, classNames: classNames)
    }
    throw FileFormatError(path, "unrecognised dataset file: expected a folder, a CIFAR-10 .bin batch or an .npy of images")
  }

  func loadCIFAR10Binary() throws -> ImageDataset {
    switch split {
    case .test:
      var d = try CIFAR10.test(folder: path)
      if try SHA256.hex(file: path + "/" + CIFAR10.testFile) == CIFAR10.degradedTestBatchSHA256 {
        d.description += " [JPEG-degraded copy: pixels are lossy; accuracies are not comparable with published ones]"
      }
      return d
    case .trainAll:
      return try CIFAR10.train(folder: path)
    case .train, .holdout:
      if let problem = CIFAR10.holdoutProblem(holdout) { throw problem }
      let all = try CIFAR10.train(folder: path)
      let cut = all.count - holdout
      if split == .train {
        return all.subset(Array(0..<cut), description: "CIFAR-10 training images 0..<\(cut) (\(path); last \(holdout) held out)")
      }
      return all.subset(
        Array(cut..<all.count), description: "CIFAR-10 held-out training images \(cut)..<\(all.count) (\(path); clean pixels)")
    }
  }

  /// Images (N, H, W, C) uint8 plus labels (N) of any integer dtype, optionally with source indices.
  public static func loadNpyImages(
    images: String, labels: String, indices: String?, description: String, classNames: [String] = CIFAR10.classNames
  ) throws -> ImageDataset {
    let img = try NpyArray.read(images)
    guard img.kind == .uint8, img.shape.count == 4 else {
      throw FileFormatError(images, "expected uint8 images of shape (N, H, W, C), got \(img.kind.rawValue) \(img.shape)")
    }
    let lab = try NpyArray.read(labels).integers()
    guard lab.count == img.shape[0] else {
      throw FileFormatError(labels, "\(lab.count) labels for \(img.shape[0]) images in \(images)")
    }
    if let bad = lab.firstIndex(where: { $0 < 0 || $0 >= classNames.count }) {
      throw FileFormatError(labels, "label \(lab[bad]) at position \(bad) is outside 0..<\(classNames.count)")
    }
    let idx = try indices.map { try NpyArray.read($0).integers() }
    let (n, h, w, c) = (img.shape[0], img.shape[1], img.shape[2], img.shape[3])
    return ImageDataset(
      pixels: ImageDataset.fromHWC(img.data, count: n, height: h, width: w, channels: c), labels: lab,
      imageShape: [c, h, w], classNames: classNames, sourceIndices: idx, description: description)
  }
}

extension DataSource {
  /// Like `load()`, and also image folders (JPEG/PNG files with `labels.csv`), which are decoded
  /// with the model's preprocessing and labelled with its class names.
  public func load(preprocessing: Preprocessing, classNames: [String]) throws -> ImageDataset {
    if ImageFolder.isImageFolder(path) {
      return try ImageFolder.load(path, preprocessing: preprocessing, classNames: classNames)
    }
    var source = self
    source.classNames = classNames
    return try source.load()
  }
}

/// The sample of CIFAR-10 test images embedded in the build (`images.npy`, `labels.npy`,
/// `indices.npy` in one folder): what commands use when no `--data` is given.
public enum EmbeddedSample {
  /// The description runs record for it (and recognise it by).
  public static let description = "embedded sample: 100 lossless CIFAR-10 test images, 10 per class"

  public static func load(directory: String) throws -> ImageDataset {
    try DataSource.loadNpyImages(
      images: directory + "/images.npy", labels: directory + "/labels.npy", indices: directory + "/indices.npy",
      description: description)
  }
}
