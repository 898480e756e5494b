import Analysis
import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import Torch
import Training

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train CIFAR-10 classifiers with the paper's recipe (S1), resumably.",
    discussion: """
      Defaults are the paper's: SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 128, \
      learning rate 0.1 divided by 5 after epochs 60, 120 and 160, 200 epochs, random crop \
      (padding 4) and horizontal flip. --preset fast is a shorter one-cycle schedule for small \
      machines. The last --holdout training images are held out for validation; the final \
      report also gives accuracy on the test split, labelled with its provenance. A checkpoint is \
      written atomically after every epoch; --resume continues an interrupted run.
      """)

  @OptionGroup(title: "Model") var model: TrainModelOptions
  @OptionGroup(title: "Data") var input: TrainDataOptions
  @OptionGroup(title: "Optimization") var optimizer: OptimizerOptions
  @OptionGroup(title: "Adversarial training") var attack: AdversarialTrainingOptions
  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  @Option(help: "Output folder (one sub-folder per replicate when --replicates > 1).")
  var out: String
  @Option(help: "Seed of the first replicate; replicate i uses seed + i.") var seed: UInt64 = 0
  @Option(help: "Independent replicates to train.") var replicates: Int = 1
  @Flag(help: "Continue the runs in --out from their last finished epoch.") var resume = false

  func resolvedConfig() throws -> TrainConfig {
    guard var c = TrainConfig.preset(optimizer.preset) else {
      throw ValidationError(
        "--preset must be one of \(TrainConfig.presetNames.joined(separator: ", ")), got '\(optimizer.preset)'")
    }
    c.arch = model.arch.rawValue
    if let epochs = optimizer.epochs { c.epochs = epochs }
    if let batchSize = optimizer.batchSize { c.batchSize = batchSize }
    if let learningRate = optimizer.learningRate { c.learningRate = learningRate }
    if let momentum = optimizer.momentum { c.momentum = momentum }
    if let nesterov = optimizer.nesterov { c.nesterov = nesterov }
    if let weightDecay = optimizer.weightDecay { c.weightDecay = weightDecay }
    if let schedule = optimizer.schedule { c.schedule = schedule }
    if let milestones = optimizer.milestones {
      let values = milestones.split(separator: ",").compactMap { Int($0) }
      guard values.count == milestones.split(separator: ",").count else {
        throw ValidationError("--milestones must be comma-separated integers, got '\(milestones)'")
      }
      c.milestones = values
    }
    if let gamma = optimizer.gamma { c.gamma = gamma }
    if let warmupEpochs = optimizer.warmupEpochs { c.warmupEpochs = warmupEpochs }
    if let augment = input.augment { c.augment = augment }
    if let holdout = input.holdout { c.holdout = holdout }
    if let normalization = model.normalization { c.normalization = normalization.text }
    c.threads = runtime.threads ?? ProcessInfo.processInfo.activeProcessorCount
    if let initialize = model.initialize {
      let file = initialize == "default" ? try Resources.path("default-model.safetensors") : initialize
      guard FileManager.default.fileExists(atPath: file) else {
        throw ValidationError("--initialize: no such model file \(file)")
      }
      c.initialWeights = file == initialize ? absolutePath(file) : file
      c.initialWeightsSHA256 = try SHA256.hex(file: file)
    }
    if let adversarial = attack.adversarial {
      guard adversarial == "pgd" else { throw ValidationError("--adversarial must be pgd, got '\(adversarial)'") }
      c.adversarial = pgdAttack(eps: attack.eps, step: attack.step, steps: attack.steps)
    }
    return c
  }

  func validate() throws {
    if replicates < 1 { throw ValidationError("--replicates must be at least 1, got \(replicates)") }
    let c = try resolvedConfig()
    if let first = c.problems().first { throw ValidationError(first.named(by: Overinterp.settingFlags)) }
  }

  func run() throws {
    let base = try resolvedConfig()
    try runtime.apply()
    // A pixel-subset folder is all training data; validation and test data then come from flags.
    let data = input.data
    let subsets = PixelSubsets.isSubsetFolder(data)
    let trainSet = try DataSource(path: data, split: .train, holdout: base.holdout).load()
    let validation =
      try input.validation.map { try DataSource(path: $0, split: .holdout, holdout: base.holdout).load() }
      ?? (base.holdout > 0 && !subsets ? try DataSource(path: data, split: .holdout, holdout: base.holdout).load() : nil)
    let testSet =
      try input.test.map { try DataSource(path: $0).load() } ?? (subsets ? nil : try? DataSource(path: data, split: .test).load())
    printError(
      "training on \(trainSet.description), \(trainSet.count) images; validating on \(validation?.count ?? 0) held-out images"
        + (base.adversarial.map { "; adversarial training with \($0)" } ?? ""))
    var finals: [Double] = []
    for r in 0..<replicates {
      var config = base
      config.seed = seed + UInt64(r)
      let dir = replicates == 1 ? out : out + "/replicate-\(r)"
      let trainer = try Trainer(
        config: config, directory: dir, classNames: trainSet.classNames, inputSize: trainSet.imageShape[1],
        device: runtime.device,
        resume: resume)
      if trainer.finishedEpochs > 0 { printError("\(dir): resuming after epoch \(trainer.finishedEpochs)") }
      trainer.onEpoch = { e in
        let v = e.validationAccuracy.map { String(format: "%.2f%%", $0 * 100) } ?? "-"
        let robust = e.validationRobustAccuracy.map { String(format: "  val under attack %.2f%%", $0 * 100) } ?? ""
        print(
          "epoch \(pad(String(e.epoch), 3, left: true))  loss \(String(format: "%.4f", e.trainLoss))  train \(String(format: "%.2f%%", e.trainAccuracy * 100))  val \(v)\(robust)  lr \(String(format: "%.5f", e.learningRate))  \(Int(e.imagesPerSecond)) img/s  \(Int(e.seconds))s"
        )
        fflush(nil)
      }
      try trainer.train(on: TrainingSet(images: trainSet), validation: validation)
      let final = trainer.history.last?.validationAccuracy ?? 0
      finals.append(final * 100)
      print(
        "\(dir)/model.safetensors: held-out accuracy \(String(format: "%.2f%%", final * 100)) after \(trainer.finishedEpochs) epochs"
      )
      if let test = testSet {
        let acc = try ModelEvaluation(
          networks: [(dir, trainer.network)], data: test, batchSize: 500, device: runtime.device, progress: false
        ).entries[0]
          .report.accuracy
        print("\(dir): test accuracy \(String(format: "%.2f%%", acc * 100)) on \(test.description)")
      }
    }
    if replicates > 1 {
      print("replicates: held-out accuracy \(replicateSummary(finals)) % over \(replicates) models")
    }
    // The test data of the run: --test, else a CIFAR-10 folder's test batch (a subset folder has none).
    let evalData = input.test.map { "--data \($0)" } ?? (PixelSubsets.isSubsetFolder(data) ? nil : "--data \(data) --split test")
    if let evalData {
      print(
        "evaluate on the test data with: overinterp eval --model \(out)\(replicates > 1 ? "/replicate-*" : "")/model.safetensors \(evalData)"
      )
    }
  }
}

struct TrainModelOptions: ParsableArguments {
  @Option(help: "Architecture.")
  var arch: Architecture = .resnet20
  @Option(help: "Input normalization: \(Normalization.presets.map(\.0).joined(separator: ", ")) or mean/std.") var normalization:
    NormalizationArgument?
  @Option(help: "Start from this model's weights (same architecture; `default`: the embedded model) instead of random ones.")
  var initialize: String?
}

struct TrainDataOptions: ParsableArguments {
  @Option(
    help: "Data: a CIFAR-10 binary folder (training images and test batch), or a pixel-subset folder from `overinterp subsets`.")
  var data: String
  @Option(help: "Training images held out for validation (CIFAR-10 binary data).") var holdout: Int?
  @Option(
    help:
      "Validation data (any --data path, e.g. the pixel subsets of held-out images); default: the held-out images of a CIFAR-10 folder."
  )
  var validation: String?
  @Option(help: "Test data evaluated at the end (any --data path); default: the test batch of a CIFAR-10 folder.") var test:
    String?
  @Flag(inversion: .prefixedNo, help: "Random crop and horizontal flip (--no-augment for pixel-subset datasets).") var augment:
    Bool?
}

struct OptimizerOptions: ParsableArguments {
  @Option(help: "Start from a preset (\(TrainConfig.presetNames.joined(separator: ", "))); other flags override it.")
  var preset: String = "paper"
  @Option(help: "Epochs.") var epochs: Int?
  @Option(help: "Batch size.") var batchSize: Int?
  @Option(name: .customLong("lr"), help: "Peak learning rate.") var learningRate: Double?
  @Option(help: "SGD momentum.") var momentum: Double?
  @Flag(inversion: .prefixedNo, help: "Nesterov momentum.") var nesterov: Bool?
  @Option(help: "Weight decay.") var weightDecay: Double?
  @Option(help: "Learning-rate schedule: step, cosine, onecycle.") var schedule: String?
  @Option(help: "Comma-separated epochs after which a step schedule multiplies the rate by --gamma.") var milestones: String?
  @Option(help: "Factor applied at each milestone.") var gamma: Double?
  @Option(help: "Warm-up epochs (onecycle).") var warmupEpochs: Double?
}

struct AdversarialTrainingOptions: ParsableArguments {
  @Option(
    help:
      "Adversarial training: pgd (Madry et al.; l-inf, random start, in pixel space before normalization); each batch is replaced by its attacked version."
  )
  var adversarial: String?
  @Option(help: "With --adversarial: the l-inf radius in pixel units, e.g. 8/255.") var eps = PixelAmount(8, over: 255)
  @Option(help: "With --adversarial: the attack's step, e.g. 2/255.") var step = PixelAmount(2, over: 255)
  @Option(help: "With --adversarial: the attack's steps.") var steps: Int = 7
}
