import Base
import Foundation
import Torch

/// Official archives of the datasets the paper uses, with sizes and checksums to verify them.
public struct DownloadEntry: Sendable {
  public var name: String
  public var url: String
  public var fileName: String
  public var bytes: Int?
  /// SHA-256 of the file; nil where no checksum is published (the size is still checked).
  public var sha256: String?
  /// Extract with tar into the destination folder after verifying.
  public var extract: Bool

  public init(name: String, url: String, fileName: String, bytes: Int?, sha256: String?, extract: Bool) {
    self.name = name
    self.url = url
    self.fileName = fileName
    self.bytes = bytes
    self.sha256 = sha256
    self.extract = extract
  }
}

public enum Downloads {
  /// Checksums: the CIFAR-10 binary archive's MD5 c32a1d4ab5d03f1284b67883e8d87530 is published
  /// by its authors; its SHA-256 and size below are those of that same archive. CIFAR-10-C's
  /// MD5 56bf5dcef84df0e2308c6dcbcbbd8499 is listed on Zenodo and its SHA-256 by TensorFlow
  /// Datasets. CIFAR-10.1 publishes no checksums: the labels' SHA-256 is that of the upstream
  /// file; the images are checked by size.
  public static let catalog: [String: [DownloadEntry]] = [
    "cifar10": [
      DownloadEntry(
        name: "CIFAR-10 (binary)", url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        fileName: "cifar-10-binary.tar.gz", bytes: 170_052_171,
        sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", extract: true)
    ],
    "cifar10.1": [
      DownloadEntry(
        name: "CIFAR-10.1 v6 images",
        url: "https://github.com/modestyachts/CIFAR-10.1/raw/master/datasets/cifar10.1_v6_data.npy",
        fileName: "cifar10.1_v6_data.npy", bytes: 6_144_128, sha256: nil, extract: false),
      DownloadEntry(
        name: "CIFAR-10.1 v6 labels",
        url: "https://github.com/modestyachts/CIFAR-10.1/raw/master/datasets/cifar10.1_v6_labels.npy",
        fileName: "cifar10.1_v6_labels.npy", bytes: 8_128,
        sha256: "ae40beda001693674edc94d925ee8268cfe68905f8f9aff800c8dcdfcd6c9448", extract: false),
    ],
    "cifar10c": [
      DownloadEntry(
        name: "CIFAR-10-C", url: "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar?download=1",
        fileName: "CIFAR-10-C.tar", bytes: 2_918_471_680,
        sha256: "c72763e101c723b7c507b96205f7e938912a5d587376173b825850cf3cb876a7", extract: true)
    ],
  ]

  /// Downloads (resuming a partial file), verifies size and checksum, then extracts if asked.
  /// A file that is already complete and verified is not fetched again.
  public static func fetch(_ entry: DownloadEntry, into folder: String, log: (String) -> Void) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let final = folder + "/" + entry.fileName
    let partial = final + ".part"
    if FileManager.default.fileExists(atPath: final), (try? verify(entry, file: final)) != nil {
      log("\(entry.fileName): already present and verified")
    } else {
      log("downloading \(entry.name) from \(entry.url)")
      let quiet = isatty(2) == 1 ? "--progress-bar" : "-sS"
      try run("curl", ["-fL", quiet, "--retry", "3", "-C", "-", "-o", partial, entry.url], what: "download of \(entry.url)")
      do {
        try verify(entry, file: partial)
      } catch {
        try? FileManager.default.removeItem(atPath: partial)
        throw error
      }
      try? FileManager.default.removeItem(atPath: final)
      try FileManager.default.moveItem(atPath: partial, toPath: final)
      log("\(entry.fileName): verified" + (entry.sha256 == nil ? " (size only: no published checksum)" : " (sha256)"))
    }
    if entry.extract {
      log("extracting \(entry.fileName)")
      try run("tar", ["-xf", final, "-C", folder], what: "extraction of \(final)")
    }
  }

  public static func verify(_ entry: DownloadEntry, file: String) throws {
    let attributes = try FileManager.default.attributesOfItem(atPath: file)
    let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
    if let bytes = entry.bytes, size != bytes {
      throw FileFormatError(file, "size \(size) bytes, expected \(bytes): incomplete or wrong file")
    }
    if let sha = entry.sha256 {
      let got = try SHA256.hex(file: file)
      guard got == sha else { throw FileFormatError(file, "sha256 \(got) does not match the published \(sha)") }
    }
  }

  static func run(_ tool: String, _ arguments: [String], what: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + arguments
    do { try p.run() } catch { throw FileFormatError(tool, "cannot start \(tool) for the \(what): \(error)") }
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
      throw FileFormatError(tool, "the \(what) failed with exit status \(p.terminationStatus)")
    }
  }
}
