import Base
import Torch

/// CIFAR-10 in the official binary layout (`cifar-10-batches-bin`): files of 3,073-byte records,
/// one label byte (0-9) then 1,024 red, 1,024 green and 1,024 blue bytes (32x32 planes).
public enum CIFAR10 {
  public static let recordSize = 3073
  public static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
  public static let testFile = "test_batch.bin"
  public static let classNames = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
  ]
  /// SHA-256 of the JPEG-degraded `test_batch.bin` reconstructed in the project's shared data
  /// (its pixels are lossy; accuracies on it are not comparable with published ones).
  public static let degradedTestBatchSHA256 = "0ce179d0c0a5220739d6223197952896644ceabb648dacfdebd7f06789af543f"

  /// Training images in the official batches.
  public static let trainCount = 50_000

  /// What is wrong with holding out the last `holdout` training images, if anything.
  public static func holdoutProblem(_ holdout: Int) -> SettingProblem? {
    (0..<trainCount).contains(holdout)
      ? nil : SettingProblem("holdout", "must be between 0 and 49,999 (training images held out), got \(holdout)")
  }

  /// Reads one binary batch file, validating its size and labels.
  public static func readBatch(_ path: String, firstIndex: Int = 0) throws -> ImageDataset {
    try parseBatch(try readFile(path), path: path, firstIndex: firstIndex)
  }

  /// Parses the bytes of one binary batch file; `path` names it in errors.
  public static func parseBatch(_ bytes: [UInt8], path: String, firstIndex: Int = 0) throws -> ImageDataset {
    guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
      throw FileFormatError(
        path,
        "truncated or not a CIFAR-10 binary batch: \(bytes.count) bytes is not a multiple of the \(recordSize)-byte record (official files hold 10,000 records, 30,730,000 bytes)"
      )
    }
    let n = bytes.count / recordSize
    var labels = [Int](repeating: 0, count: n)
    var pixels = [UInt8](repeating: 0, count: n * 3072)
    bytes.withUnsafeBufferPointer { src in
      pixels.withUnsafeMutableBufferPointer { dst in
        for i in 0..<n {
          labels[i] = Int(src[i * recordSize])
          for j in 0..<3072 { dst[i * 3072 + j] = src[i * recordSize + 1 + j] }
        }
      }
    }
    if let bad = labels.firstIndex(where: { $0 > 9 }) {
      throw FileFormatError(path, "record \(bad) has label \(labels[bad]); CIFAR-10 labels are 0-9")
    }
    return ImageDataset(
      pixels: pixels, labels: labels, imageShape: [3, 32, 32], classNames: classNames,
      sourceIndices: Array(firstIndex..<(firstIndex + n)), description: path)
  }

  /// All 50,000 training images in the official order.
  public static func train(folder: String) throws -> ImageDataset {
    var parts: [ImageDataset] = []
    for (i, f) in trainFiles.enumerated() {
      parts.append(try readBatch(folder + "/" + f, firstIndex: i * 10_000))
    }
    return ImageDataset.concatenate(parts, description: "CIFAR-10 training set (\(folder))")
  }

  public static func test(folder: String) throws -> ImageDataset {
    var d = try readBatch(folder + "/" + testFile)
    d.description = "CIFAR-10 test set (\(folder)/\(testFile))"
    return d
  }
}
