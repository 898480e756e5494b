import Base
import Datasets
import Foundation
import Testing

@testable import Models
@testable import Torch
@testable import Training

/// A tiny two-class problem: class 0 images are reddish, class 1 bluish, with heavy per-pixel
/// noise from a seeded generator.
func tinyDataset(_ n: Int, seed: UInt64) -> ImageDataset {
  var rng = SplitMix64(seed: seed)
  var pixels: [UInt8] = []
  var labels: [Int] = []
  for i in 0..<n {
    let label = i % 2
    labels.append(label)
    for c in 0..<3 {
      for _ in 0..<(32 * 32) {
        let bright = (c == 0 && label == 0) || (c == 2 && label == 1)
        pixels.append(UInt8(clamping: (bright ? 140 : 90) + rng.below(80)))
      }
    }
  }
  return ImageDataset(
    pixels: pixels, labels: labels, imageShape: [3, 32, 32], classNames: ["left", "right"], description: "tiny")
}

func tinyConfig() -> TrainConfig {
  var c = TrainConfig()
  c.epochs = 8
  c.batchSize = 8
  c.learningRate = 0.05
  c.schedule = "cosine"
  c.holdout = 0
  c.threads = 1
  c.seed = 11
  return c
}

func tempDir(_ name: String) -> String {
  NSTemporaryDirectory() + "/train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}

@Suite(.serialized) struct TrainingTests {
  @Test func lossFallsOnATinyProblem() throws {
    let dir = tempDir("loss")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = tinyDataset(48, seed: 1)
    let trainer = try Trainer(config: tinyConfig(), directory: dir, classNames: data.classNames, resume: false)
    try trainer.train(on: TrainingSet(images: data), validation: tinyDataset(16, seed: 2))
    let log = trainer.history
    #expect(log.count == 8)
    #expect(log[7].trainLoss < 0.3, "final loss \(log[7].trainLoss)")
    #expect(log[7].trainLoss < log[0].trainLoss)
    #expect((log[7].validationAccuracy ?? 0) >= 0.9)
    // The final model and its log are on disk and describe the run.
    let (net, meta) = try ModelCheckpoint.load(trainer.modelPath)
    #expect(net.info.classNames == ["left", "right"])
    #expect(try TrainConfig.from(json: meta["training_config"] ?? "") == tinyConfig())
    let lines = try String(contentsOfFile: trainer.logPath, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 8)
  }

  @Test func resumeReproducesTheUninterruptedRun() throws {
    let data = tinyDataset(24, seed: 3)
    let a = tempDir("a")
    let b = tempDir("b")
    defer {
      try? FileManager.default.removeItem(atPath: a)
      try? FileManager.default.removeItem(atPath: b)
    }
    var config = tinyConfig()
    config.epochs = 2
    let straight = try Trainer(config: config, directory: a, classNames: data.classNames, resume: false)
    try straight.train(on: TrainingSet(images: data), validation: nil)

    let first = try Trainer(config: config, directory: b, classNames: data.classNames, resume: false)
    first.stopAfterEpochs = 1
    try first.train(on: TrainingSet(images: data), validation: nil)
    #expect(first.finishedEpochs == 1)
    // Starting again without --resume refuses to overwrite the run.
    #expect(throws: TrainingError.self) { try Trainer(config: config, directory: b, classNames: data.classNames, resume: false) }
    let second = try Trainer(config: config, directory: b, classNames: data.classNames, resume: true)
    #expect(second.finishedEpochs == 1)
    try second.train(on: TrainingSet(images: data), validation: nil)

    for ((name, x), (_, y)) in zip(straight.network.stateDict(), second.network.stateDict()) {
      #expect(try x.bytes() == y.bytes(), "\(name) differs after resume")
    }
    #expect(straight.history.map(\.trainLoss) == second.history.map(\.trainLoss))

    // A finished run keeps model.safetensors and drops its checkpoint; resuming it loads the final
    // weights and history and trains nothing; starting it again without resume is refused.
    #expect(!FileManager.default.fileExists(atPath: second.checkpointPath))
    #expect(!FileManager.default.fileExists(atPath: straight.checkpointPath))
    let model = try Data(contentsOf: URL(fileURLWithPath: second.modelPath))
    #expect(throws: TrainingError.self) { try Trainer(config: config, directory: b, classNames: data.classNames, resume: false) }
    let done = try Trainer(config: config, directory: b, classNames: data.classNames, resume: true)
    #expect(done.finishedEpochs == 2 && done.history.map(\.trainLoss) == second.history.map(\.trainLoss))
    try done.train(on: TrainingSet(images: data), validation: nil)
    for ((name, x), (_, y)) in zip(straight.network.stateDict(), done.network.stateDict()) {
      #expect(try x.bytes() == y.bytes(), "\(name) differs in the finished run's model")
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: second.modelPath)) == model, "the finished model is not rewritten")
    var longer = config
    longer.epochs = 3
    #expect(throws: TrainingError.self) { try Trainer(config: longer, directory: b, classNames: data.classNames, resume: true) }
  }

  @Test func resumeRefusesDifferentSettings() throws {
    let data = tinyDataset(8, seed: 4)
    let dir = tempDir("c")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var config = tinyConfig()
    config.epochs = 1
    try Trainer(config: config, directory: dir, classNames: data.classNames, resume: false).train(
      on: TrainingSet(images: data), validation: nil)
    config.learningRate = 0.2
    #expect(throws: TrainingError.self) { try Trainer(config: config, directory: dir, classNames: data.classNames, resume: true) }
  }

  @Test func stepScheduleDividesByFiveAtTheMilestones() {
    let c = TrainConfig()
    #expect(c.learningRate(at: 0) == 0.1)
    #expect(Swift.abs(c.learningRate(at: 59.9) - 0.1) < 1e-12)
    #expect(Swift.abs(c.learningRate(at: 60) - 0.02) < 1e-12)
    #expect(Swift.abs(c.learningRate(at: 120) - 0.004) < 1e-12)
    #expect(Swift.abs(c.learningRate(at: 199) - 0.0008) < 1e-12)
  }

  @Test func oneCycleWarmsUpThenAnneals() throws {
    let c = try #require(TrainConfig.preset("fast"))
    #expect(Swift.abs(c.learningRate(at: 0) - 0.01) < 1e-12)
    #expect(Swift.abs(c.learningRate(at: c.warmupEpochs) - 0.1) < 1e-12)
    #expect(c.learningRate(at: Double(c.epochs)) < 1e-12)
    #expect(c.learningRate(at: 20) > c.learningRate(at: 30))
  }

  /// Problems name the setting by its name in `TrainConfig`, and no command-line flag.
  @Test func configProblemsNameTheirSettings() {
    var c = TrainConfig()
    #expect(c.problems().isEmpty)
    c.epochs = 0
    c.learningRate = .nan
    c.schedule = "exp"
    c.holdout = 50_000
    let p = c.problems()
    #expect(p.map(\.setting) == ["epochs", "learningRate", "schedule", "warmupEpochs", "holdout"])
    #expect(p[0].message == "must be at least 1, got 0")
    #expect(!p.contains { $0.description.contains("--") })
    #expect(p[1].named(by: ["learningRate": "--lr"]) == "--lr must be a positive number, got nan")
  }

  func render(_ set: TrainingSet, cropX: Int, cropY: Int, flip: Bool) -> [Float] {
    var out = [Float](repeating: .nan, count: 3 * 32 * 32)
    out.withUnsafeMutableBufferPointer { buf in
      guard let base = buf.baseAddress else { return }
      renderImage(set, 0, normalization: .cifar10, cropX: cropX, cropY: cropY, flip: flip, pad: 4, into: base)
    }
    return out
  }

  @Test func augmentationCropsWithZeroPaddingAndFlips() throws {
    let data = tinyDataset(1, seed: 5)
    let set = TrainingSet(images: data)
    let n = Normalization.cifar10
    let px = Array(data.image(0))
    let plain = render(set, cropX: 4, cropY: 4, flip: false)
    for i in [0, 100, 2000, 3071] { #expect(plain[i] == n.value(px[i], channel: i / 1024)) }
    // Shift by (+2, +3): output (y, x) reads input (y + 3 - 4... ) i.e. cropY 7 -> source row y + 3.
    let shifted = render(set, cropX: 6, cropY: 7, flip: false)
    #expect(shifted[0] == n.value(px[3 * 32 + 2], channel: 0))
    #expect(shifted[31 * 32 + 31] == n.value(0, channel: 0), "outside the image is zero padding (black)")
    let flipped = render(set, cropX: 4, cropY: 4, flip: true)
    #expect(flipped[0] == n.value(px[31], channel: 0))
    #expect(flipped.allSatisfy { !$0.isNaN })
  }

  @Test func maskedPixelsBecomeZeroAfterNormalization() throws {
    let data = tinyDataset(1, seed: 6)
    var mask = [UInt8](repeating: 1, count: 1024)
    mask[0] = 0
    mask[33] = 0
    let out = render(TrainingSet(images: data, masks: mask), cropX: 4, cropY: 4, flip: false)
    for c in 0..<3 {
      #expect(out[c * 1024] == 0)
      #expect(out[c * 1024 + 33] == 0)
      #expect(out[c * 1024 + 1] == Normalization.cifar10.value(data.image(0)[c * 1024 + 1], channel: c))
    }
  }

  /// Augmentation moves the mask with the image: a masked source pixel is 0 wherever the crop and
  /// flip put it, and the pixel now at its old place is not.
  @Test func masksMoveWithTheImageUnderAugmentation() throws {
    let data = tinyDataset(1, seed: 8)
    var mask = [UInt8](repeating: 1, count: 1024)
    mask[10 * 32 + 10] = 0
    let set = TrainingSet(images: data, masks: mask)
    // Crop offsets (6, 5) with padding 4: output (y, x) shows source (y + 1, x + 2).
    let shifted = render(set, cropX: 6, cropY: 5, flip: false)
    let flipped = render(set, cropX: 6, cropY: 5, flip: true)
    for c in 0..<3 {
      #expect(shifted[c * 1024 + 9 * 32 + 8] == 0)
      #expect(shifted[c * 1024 + 10 * 32 + 10] != 0)
      // Flipped: output column x shows source column (31 - x) + 2, so source column 10 lands at 23.
      #expect(flipped[c * 1024 + 9 * 32 + 23] == 0)
      #expect(flipped[c * 1024 + 9 * 32 + 8] != 0)
    }
    #expect(shifted.filter { $0 == 0 }.count == 3)
  }

  @Test func loaderWithoutAugmentationIsTheNormalizedData() throws {
    let data = tinyDataset(10, seed: 7)
    let loader = BatchLoader(
      TrainingSet(images: data), batchSize: 4, shuffle: false, augment: false, normalization: .cifar10, seed: 0, epoch: 0)
    var batches: [Batch] = []
    while let b = loader.next() { batches.append(b) }
    #expect(batches.map(\.count) == [4, 4, 2])
    let expected = try Normalization.cifar10.apply(try data.batch(0..<4)).floats()
    let got = batches[0].pixels
    #expect(zip(got, expected).allSatisfy { Swift.abs($0 - $1) < 1e-6 })
    #expect(batches.flatMap(\.labels) == data.labels.map(Int64.init))
  }
}
