import Base
import Datasets
import Foundation
import Testing

@testable import Corruptions

@Suite struct CorruptedSampleTests {
  /// The paper's CIFAR-10-C sample read from a complete folder of corruption files is the same
  /// set of images, labels and flat indices as the sample files `data corrupt --sample` writes
  /// (every image is a function of noise seed, corruption, severity and source image).
  @Test func sampleFromAFullFolderEqualsTheGeneratedSample() throws {
    let dir = NSTemporaryDirectory() + "/c10c-sample-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SplitMix64(seed: 4)
    let n = 6
    let source = ImageDataset(
      pixels: (0..<(n * 3 * 32 * 32)).map { _ in UInt8(rng.below(256)) }, labels: (0..<n).map { $0 % 10 },
      imageShape: [3, 32, 32], classNames: CIFAR10.classNames, description: "random")
    try CorruptionSet(folder: dir + "/full", noiseSeed: 0, generator: "test")
      .writeAll(source, corruptions: Corruption.alphabetical, severities: Array(1...5))
    try CorruptionSet(folder: dir + "/sample", noiseSeed: 0, generator: "test").writeSample(source, count: 40, seed: 1234)
    let fromFull = try CorruptedSample.load(folder: dir + "/full", count: 40, seed: 1234)
    let fromSample = try CorruptedSample.load(folder: dir + "/sample", count: 40, seed: 1234)
    #expect(fromFull.count == 40)
    #expect(fromFull.pixels == fromSample.pixels)
    #expect(fromFull.labels == fromSample.labels)
    #expect(fromFull.sourceIndices == fromSample.sourceIndices)
    // Without either, the error says how to make the sample.
    #expect(throws: FileFormatError.self) { try CorruptedSample.load(folder: dir + "/sample", count: 41, seed: 1234) }
  }
}
