import Base
import Foundation
import Testing

@testable import Datasets
@testable import Torch

func tempPath(_ name: String) -> String { NSTemporaryDirectory() + "/\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" }

@Suite struct DatasetsTests {
  @Test func npyRoundTripsEveryDtype() throws {
    let path = tempPath("a.npy")
    defer { unlink(path) }
    let cases: [NpyArray] = [
      NpyArray([1, 2, 255] as [UInt8], shape: [3]),
      NpyArray([Int32(-5), 6, 7, 8], shape: [2, 2]),
      NpyArray([Int64(1) << 40, -1], shape: [2]),
      NpyArray([1.5, -0.25] as [Float], shape: [2, 1]),
      NpyArray([3.25] as [Double], shape: [1]),
      NpyArray([UInt16(65535), 3], shape: [2]),
    ]
    for a in cases {
      try a.write(to: path)
      let b = try NpyArray.read(path)
      #expect(b.kind == a.kind)
      #expect(b.shape == a.shape)
      #expect(b.data == a.data)
    }
    let half = try NpyArray(try Tensor([0.5, 2] as [Float], shape: [2]).to(.float16))
    try half.write(to: path)
    #expect(try NpyArray.read(path).floats() == [0.5, 2])
  }

  @Test func npyHeaderIsWhatNumpyWrites() throws {
    let bytes = NpyArray([1, 2] as [Float], shape: [2]).encoded()
    let header = String(decoding: bytes[10..<(bytes.count - 8)], as: UTF8.self)
    #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"))
    #expect((bytes.count - 8) % 64 == 0)
  }

  @Test func truncatedNpyIsAnError() throws {
    let path = tempPath("t.npy")
    defer { unlink(path) }
    var bytes = NpyArray([Float](repeating: 1, count: 100), shape: [10, 10]).encoded()
    bytes.removeLast(7)
    try writeFileAtomically(bytes, to: path)
    do {
      _ = try NpyArray.read(path)
      Issue.record("a truncated .npy loaded")
    } catch let e as FileFormatError {
      #expect(e.path == path)
      #expect(e.message.contains("truncated"))
    }
  }

  @Test func npzRoundTrip() throws {
    let path = tempPath("a.npz")
    defer { unlink(path) }
    try Npz.write([("x", NpyArray([1, 2, 3] as [UInt8], shape: [3])), ("y", NpyArray([Int64(4)], shape: [1]))], to: path)
    let arrays = try Npz.read(path)
    #expect(try arrays["x"]?.integers() == [1, 2, 3])
    #expect(try arrays["y"]?.integers() == [4])
  }

  func writeCIFARBatch(_ path: String, labels: [UInt8]) throws {
    var bytes: [UInt8] = []
    for (i, l) in labels.enumerated() {
      bytes.append(l)
      bytes += (0..<3072).map { UInt8(truncatingIfNeeded: $0 &+ i) }
    }
    try writeFileAtomically(bytes, to: path)
  }

  @Test func readsCIFARBinaryRecords() throws {
    let path = tempPath("batch.bin")
    defer { unlink(path) }
    try writeCIFARBatch(path, labels: [3, 9])
    let d = try CIFAR10.readBatch(path)
    #expect(d.labels == [3, 9])
    #expect(d.imageShape == [3, 32, 32])
    #expect(Array(d.image(1).prefix(3)) == [1, 2, 3])
    let t = try d.batch(0..<2)
    #expect(t.shape == [2, 3, 32, 32])
    #expect(t.dtype == .uint8)
  }

  @Test func truncatedCIFARBatchIsAnError() throws {
    let path = tempPath("batch.bin")
    defer { unlink(path) }
    try writeCIFARBatch(path, labels: [1, 2])
    var bytes = try readFile(path)
    bytes.removeLast(100)
    try writeFileAtomically(bytes, to: path)
    do {
      _ = try CIFAR10.readBatch(path)
      Issue.record("a truncated batch loaded")
    } catch let e as FileFormatError {
      #expect(e.path == path)
      #expect(e.message.contains("not a multiple of the 3073-byte record"))
    }
  }

  @Test func badLabelIsAnError() throws {
    let path = tempPath("batch.bin")
    defer { unlink(path) }
    try writeCIFARBatch(path, labels: [1, 12])
    #expect(throws: FileFormatError.self) { try CIFAR10.readBatch(path) }
  }

  @Test func normalizationMatchesDefinition() throws {
    let x = try Tensor([0, 255, 128] as [UInt8], shape: [1, 3, 1, 1])
    let n = Normalization.cifar10
    let y = try n.apply(x).floats()
    for c in 0..<3 {
      let v: Float = [0, 255, 128][c]
      let expected = (v / 255 - Float(n.mean[c])) / Float(n.std[c])
      #expect(Swift.abs(y[c] - expected) < 1e-6)
      #expect(Swift.abs(n.value(UInt8(v), channel: c) - expected) < 1e-6)
    }
    #expect(Normalization(parsing: "imagenet") == .imagenet)
    #expect(Normalization(parsing: "0.5,0.5,0.5/0.25,0.25,0.25")?.std == [0.25, 0.25, 0.25])
    #expect(Normalization(parsing: "0.5/0") == nil)
  }

  @Test func hwcToCHW() {
    // 1 image, 1x2 pixels, 3 channels: HWC r0 g0 b0 r1 g1 b1 -> CHW r0 r1 g0 g1 b0 b1
    #expect(ImageDataset.fromHWC([1, 2, 3, 4, 5, 6], count: 1, height: 1, width: 2, channels: 3) == [1, 4, 2, 5, 3, 6])
  }

  @Test func downloadVerifiesAndExtracts() throws {
    // A small archive served from a file:// URL stands in for the official one.
    let work = tempPath("dl")
    try FileManager.default.createDirectory(atPath: work + "/src/folder", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: work) }
    try writeFileAtomically(Array("payload".utf8), to: work + "/src/folder/file.txt")
    let tar = Process()
    tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    tar.arguments = ["tar", "-czf", work + "/archive.tar.gz", "-C", work + "/src", "folder"]
    try tar.run()
    tar.waitUntilExit()
    let sha = try SHA256.hex(file: work + "/archive.tar.gz")
    let size = try readFile(work + "/archive.tar.gz").count
    var entry = DownloadEntry(
      name: "test", url: "file://" + work + "/archive.tar.gz", fileName: "archive.tar.gz", bytes: size, sha256: sha,
      extract: true)
    try Downloads.fetch(entry, into: work + "/out") { _ in }
    #expect(try String(contentsOfFile: work + "/out/folder/file.txt", encoding: .utf8) == "payload")
    // A checksum mismatch is refused and leaves no file behind.
    entry.sha256 = String(repeating: "0", count: 64)
    entry.fileName = "other.tar.gz"
    do {
      try Downloads.fetch(entry, into: work + "/out2") { _ in }
      Issue.record("a file with the wrong checksum was accepted")
    } catch let e as FileFormatError {
      #expect(e.message.contains("does not match"))
    }
    #expect(!FileManager.default.fileExists(atPath: work + "/out2/other.tar.gz"))
  }
}
