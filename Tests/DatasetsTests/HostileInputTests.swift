import Base
import Foundation
import Testing

@testable import Datasets

/// Dataset files built to attack the readers (issue #21): refused with an error naming the file.
@Suite struct DatasetHostileInputTests {
  func npy(shape: String, dataBytes: Int = 16) -> [UInt8] {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }\n"
    return [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
      + [UInt8](repeating: 0, count: dataBytes)
  }

  @Test func npyShapesThatAreNotSizesAreRefused() throws {
    // A negative dimension made the reader slice backwards; a size that overflows trapped; a
    // dimension that is not an integer was silently dropped (3 x "x" read as 3).
    // Found by the npy fuzz target: a zero made the size 0, but the element count (the product of
    // the dimensions in order) overflowed before it reached the zero.
    for shape in [
      "(-1,)", "(4611686018427387904, 4)", "(3, x)", "(,)", "(9999999999999999999999,)", "(9223372036854775807, 2, 0)",
    ] {
      #expect(throws: FileFormatError.self, "\(shape)") { try NpyArray.parse(npy(shape: shape), path: "hostile.npy") }
    }
    #expect(try NpyArray.parse(npy(shape: "(4,)"), path: "ok.npy").shape == [4])
    #expect(try NpyArray.parse(npy(shape: "(2, 2)"), path: "ok.npy").shape == [2, 2])
    #expect(try NpyArray.parse(npy(shape: "()"), path: "ok.npy").shape == [])
  }

  /// The npy fuzz target's crashing input itself (libFuzzer's artifact crash-31c036f5...): its
  /// shape has a zero, and the product of the other dimensions overflows.
  @Test func theNpyInputTheFuzzerFoundIsRefused() throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
      "Fixtures/fuzz/npy-crash-31c036f5.npy"
    ).path
    #expect(throws: FileFormatError.self) { try NpyArray.read(path) }
  }

  /// Found by the `image` fuzz target: a 300-byte JPEG 8,200 x 6 pixels was resized to
  /// 349,866 x 256 before the ImageNet centre crop (seconds of work and 270 MB from a tiny file).
  @Test func thinImagesAreRefusedBeforeAHugeResize() throws {
    let pixels = [UInt8](repeating: 90, count: 8200 * 6 * 3)
    let jpeg = try ImageIO.encodeJPEG(pixels, width: 8200, height: 6, quality: 50)
    let plain = try ImageFolder.decode(jpeg, name: "thin.jpg", path: "thin.jpg", preprocessing: .none)
    #expect(plain.width == 8200 && plain.height == 6)
    #expect {
      _ = try ImageFolder.decode(
        jpeg, name: "thin.jpg", path: "thin.jpg", preprocessing: .resizeCenterCrop(resize: 256, size: 224))
    } throws: { e in
      guard let e = e as? FileFormatError else { return false }
      return e.path == "thin.jpg" && e.message.contains("349866x256")
    }
    // An ordinary photograph's shape goes through.
    let photo = try ImageIO.encodeJPEG([UInt8](repeating: 90, count: 300 * 200 * 3), width: 300, height: 200, quality: 50)
    let out = try ImageFolder.decode(
      photo, name: "photo.jpg", path: "photo.jpg", preprocessing: .resizeCenterCrop(resize: 256, size: 224))
    #expect(out.width == 224 && out.height == 224)
  }

  @Test func labelsFilesThatAreNotLabelsAreRefused() throws {
    #expect(try ImageFolder.parseLabels(Array("file,label\na.jpg,3\n".utf8), path: "l.csv", classCount: 10).map(\.label) == [3])
    for text in ["a.jpg,10\n", "a.jpg,-1\n", ",3\n", "file,label\n", "a.jpg\n", "h,h\na.jpg,x\n"] {
      #expect(throws: FileFormatError.self, "\(text)") {
        try ImageFolder.parseLabels(Array(text.utf8), path: "l.csv", classCount: 10)
      }
    }
  }

  @Test func subsetDescriptionsThatDoNotDescribeImagesAreRefused() throws {
    func info(_ shape: String, count: Int = 2, kept: Int = 52) -> [UInt8] {
      Array(
        (#"{"format":"overinterp-subsets/1","kind":"random","fraction":0.05,"seed":1,"count":\#(count),"keptPerImage":\#(kept),"#
          + #""imageShape":\#(shape),"classNames":["a","b"],"sourcePath":"s","sourceSplit":"test","sourceHoldout":0,"#
          + #""sourceDescription":"d","maskColor":[1,2,3],"overinterpVersion":"t"}"#).utf8)
    }
    #expect(try PixelSubsets.parseInfo(info("[3,32,32]"), path: "subsets.json").keptPerImage == 52)
    // [3] was indexed as [channels, height, width] and trapped.
    for bad in [
      info("[3]"), info("[3,0,32]"), info("[3,1000,1000]"), info("[3,32,32]", count: -1), info("[3,32,32]", kept: 2000),
    ] {
      #expect(throws: FileFormatError.self) { try PixelSubsets.parseInfo(bad, path: "subsets.json") }
    }
  }

  @Test func cifarBatchesOfTheWrongSizeOrLabelsAreRefused() {
    #expect(throws: FileFormatError.self) { try CIFAR10.parseBatch([UInt8](repeating: 0, count: 3072), path: "b.bin") }
    #expect(throws: FileFormatError.self) { try CIFAR10.parseBatch([10] + [UInt8](repeating: 0, count: 3072), path: "b.bin") }
    #expect((try? CIFAR10.parseBatch([9] + [UInt8](repeating: 0, count: 3072), path: "b.bin").count) == 1)
  }
}
