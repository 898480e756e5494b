import Analysis
import Base
import Datasets
import Foundation
import Testing

@testable import Models
@testable import Torch
@testable import Training

/// logits = W x (x flattened): a model whose input gradient is known by hand. For two classes and
/// true class 0, the cross-entropy's gradient with respect to x is p1 (w1 - w0), so each PGD step
/// moves every pixel by the step along sign(w1 - w0).
final class LinearClassifier: Classifier {
  let weight: Tensor
  let info: ModelInfo

  init(_ rows: [[Float]], shape: [Int], normalization: Normalization) throws {
    weight = try Tensor(rows.flatMap { $0 }, shape: [rows.count, rows[0].count])
    info = ModelInfo(
      architecture: "linear", classNames: (0..<rows.count).map { "c\($0)" }, inputShape: shape, normalization: normalization)
  }

  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    try x.flatten(from: 1).matmul(try weight.permute([1, 0]))
  }
}

@Suite struct AdversarialTests {
  let normalization = Normalization(mean: [0.5], std: [0.25])
  /// w1 - w0 = (+1, -1, 0, +2) on a 1 x 2 x 2 image.
  let rows: [[Float]] = [[0, 1, 0, -1], [1, 0, 0, 1]]

  func normalized(_ pixels: [Double]) throws -> Tensor {
    try Tensor(pixels.map { Float(($0 - 0.5) / 0.25) }, shape: [1, 1, 2, 2])
  }

  func pixels(_ x: Tensor) throws -> [Double] { try x.floats().map { Double($0) * 0.25 + 0.5 } }

  @Test func oneStepMovesEachPixelByTheStepAlongTheGradientSign() throws {
    let model = try LinearClassifier(rows, shape: [1, 2, 2], normalization: normalization)
    // Pixel 0 at the top of the range stays there; pixel 1 at the bottom stays there; pixel 2
    // has no gradient; pixel 3 moves up by the step.
    let x = try normalized([1.0, 0.0, 0.5, 0.5])
    let y = try Tensor([Int64(0)], shape: [1])
    let attack = PGDAttack(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 1, randomStart: false)
    let adv = try pixels(try attack.perturb(model, x, labels: y, normalization: normalization))
    let expected = [1.0, 0.0, 0.5, 0.5 + 2.0 / 255]
    for (a, e) in zip(adv, expected) { #expect(Swift.abs(a - e) < 1e-6, "\(adv) vs \(expected)") }

    // Many steps: every pixel with a gradient ends on the epsilon ball (or the range's edge).
    let long = PGDAttack(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 10, randomStart: false)
    let far = try pixels(try long.perturb(model, try normalized([0.2, 0.2, 0.5, 0.99]), labels: y, normalization: normalization))
    let bound = [0.2 + 8.0 / 255, 0.2 - 8.0 / 255, 0.5, 1.0]
    for (a, e) in zip(far, bound) { #expect(Swift.abs(a - e) < 1e-6, "\(far) vs \(bound)") }
  }

  @Test func randomStartStaysInTheBallAndTheRange() throws {
    let net = try Generator.seeded(3) { try Architecture.resnet20.build(inputSize: 8) }
    var rng = SplitMix64(seed: 9)
    let u8 = (0..<(4 * 3 * 64)).map { _ in UInt8(rng.below(256)) }
    let x = try Normalization.cifar10.apply(try Tensor(u8, shape: [4, 3, 8, 8]))
    let y = try Tensor([Int64(0), 1, 2, 3], shape: [4])
    let attack = PGDAttack(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 3)
    let adv = try attack.perturb(net, x, labels: y, normalization: .cifar10)
    let std = Normalization.cifar10.std
    let mean = Normalization.cifar10.mean
    let (a, b) = (try adv.floats(), try x.floats())
    var moved = 0
    for k in a.indices {
      let c = (k / 64) % 3
      let (pa, pb) = (Double(a[k]) * std[c] + mean[c], Double(b[k]) * std[c] + mean[c])
      #expect(pa >= -1e-6 && pa <= 1 + 1e-6)
      #expect(Swift.abs(pa - pb) <= 8.0 / 255 + 1e-6)
      if Swift.abs(pa - pb) > 1e-4 { moved += 1 }
    }
    #expect(moved > a.count / 2, "the attack changes most pixels")
    #expect(try !adv.requiresGrad)
  }

  /// For a linear model PGD finds the best l-inf attack: an image of class 0 survives exactly when
  /// its logit margin exceeds eps * sum |w0 - w1| / std (here 8/255 * 4 / 0.25 = 0.502).
  @Test func robustAccuracyOfALinearModelIsTheHandComputedOne() throws {
    let model = try LinearClassifier(rows, shape: [1, 2, 2], normalization: normalization)
    // margin = (w0 - w1) . x = -x0 + x1 - 2 x3 in normalized units; pixel 2 carries no weight.
    // Images (pixels): margins 2.8 (survives), 0.4 (falls), -0.8 (wrong already), 1.2 (survives);
    // the attack moves pixels 0 and 3 up and pixel 1 down, away from the range's edges.
    let images: [[Double]] = [[0.3, 0.8, 0.5, 0.4], [0.5, 0.7, 0.1, 0.55], [0.6, 0.5, 0.5, 0.55], [0.5, 0.9, 0.5, 0.55]]
    let u8 = images.flatMap { $0.map { UInt8(($0 * 255).rounded()) } }
    let data = ImageDataset(
      pixels: u8, labels: [0, 0, 0, 0], imageShape: [1, 2, 2], classNames: ["c0", "c1"], description: "d")
    let report = try RobustnessReport(
      classifier: model, data: data, attack: PGDAttack(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 20), seed: 1)
    #expect(report.count == 4)
    #expect(report.cleanCorrect == 3)
    #expect(report.robustCorrect == 2)
    #expect(Swift.abs(report.maxPerturbation - 8.0 / 255) < 1e-5)
  }

  @Test func adversarialTrainingLogsRobustAccuracyAndResumesExactly() throws {
    let data = tinyDataset(16, seed: 3)
    let a = tempDir("adv-a")
    let b = tempDir("adv-b")
    defer {
      try? FileManager.default.removeItem(atPath: a)
      try? FileManager.default.removeItem(atPath: b)
    }
    var config = tinyConfig()
    config.epochs = 2
    config.adversarial = PGDAttack(epsilon: 8.0 / 255, stepSize: 4.0 / 255, steps: 2)
    #expect(try TrainConfig.from(json: try config.json()) == config)
    #expect(try TrainConfig.from(json: try tinyConfig().json()).adversarial == nil, "standard runs are unchanged")
    let validation = tinyDataset(8, seed: 4)
    let straight = try Trainer(config: config, directory: a, classNames: data.classNames, resume: false)
    try straight.train(on: TrainingSet(images: data), validation: validation)
    #expect(straight.history.allSatisfy { $0.validationRobustAccuracy != nil })

    let first = try Trainer(config: config, directory: b, classNames: data.classNames, resume: false)
    first.stopAfterEpochs = 1
    try first.train(on: TrainingSet(images: data), validation: validation)
    let second = try Trainer(config: config, directory: b, classNames: data.classNames, resume: true)
    try second.train(on: TrainingSet(images: data), validation: validation)
    for ((name, x), (_, y)) in zip(straight.network.stateDict(), second.network.stateDict()) {
      #expect(try x.bytes() == y.bytes(), "\(name) differs after resume")
    }
    // Another attack is another run.
    var other = config
    other.adversarial?.steps = 3
    #expect(throws: TrainingError.self) { try Trainer(config: other, directory: b, classNames: data.classNames, resume: true) }
  }

  /// Fine-tuning (`train --initialize MODEL`): the run starts from the file's weights, checked by
  /// architecture, classes and hash.
  @Test func runsStartFromAnotherModelsWeights() throws {
    let dir = tempDir("init")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let source = try Generator.seeded(21) { try Architecture.resnet20.build(classNames: ["left", "right"]) }
    let file = dir + "-source.safetensors"
    defer { try? FileManager.default.removeItem(atPath: file) }
    try ModelCheckpoint.save(source, to: file)
    var config = tinyConfig()
    config.initialWeights = file
    config.initialWeightsSHA256 = try SHA256.hex(file: file)
    let trainer = try Trainer(config: config, directory: dir, classNames: ["left", "right"], resume: false)
    for ((name, x), (_, y)) in zip(source.stateDict(), trainer.network.stateDict()) {
      #expect(try x.bytes() == y.bytes(), "\(name) is not the source's")
    }
    var wrongHash = config
    wrongHash.initialWeightsSHA256 = String(repeating: "0", count: 64)
    #expect(throws: TrainingError.self) {
      try Trainer(config: wrongHash, directory: dir + "-2", classNames: ["left", "right"], resume: false)
    }
    try? FileManager.default.removeItem(atPath: dir + "-2")
    var wrongArch = config
    wrongArch.arch = "resnet32"
    wrongArch.initialWeightsSHA256 = nil
    let e = #expect(throws: TrainingError.self) {
      try Trainer(config: wrongArch, directory: dir + "-3", classNames: ["left", "right"], resume: false)
    }
    #expect("\(e!)".contains("resnet20"))
    try? FileManager.default.removeItem(atPath: dir + "-3")
  }

  @Test func attackSettingsNameTheirSettings() {
    #expect(PGDAttack().problems().isEmpty)
    #expect(PGDAttack(epsilon: 0).problems().map(\.setting) == ["epsilon"])
    #expect(PGDAttack(stepSize: -1).problems().map(\.setting) == ["stepSize"])
    #expect(PGDAttack(steps: 0, restarts: 0).problems().map(\.setting) == ["steps", "restarts"])
    #expect(PGDAttack.parseFraction("8/255") == 8.0 / 255)
    #expect(PGDAttack.parseFraction("0.5") == 0.5)
    #expect(PGDAttack.parseFraction("8/0") == nil)
    #expect(PGDAttack.parseFraction("eight") == nil)
    #expect(
      PGDAttack(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 7).description == "PGD-7, eps 8/255, step 2/255, random start")
  }
}
