import Analysis
import Base
import Datasets
import Foundation
import Models
import Torch

/// One line of `log.jsonl`.
public struct EpochLog: Codable, Sendable {
  public var epoch: Int
  public var trainLoss: Double
  public var trainAccuracy: Double
  public var validationAccuracy: Double?
  /// With adversarial training: accuracy on the first `Trainer.robustValidationCount` validation
  /// images under `PGDAttack.validation(for:)` of the training attack (PGD-10, whatever attack
  /// trains: a one-step attack's own accuracy would hide catastrophic overfitting).
  public var validationRobustAccuracy: Double?
  public var learningRate: Double
  public var seconds: Double
  public var imagesPerSecond: Double
}

/// Trains one network with SGD on a `TrainingSet`, checkpointing atomically after every epoch.
///
/// Files in `directory`:
/// - `config.json`: the resolved `TrainConfig`;
/// - `checkpoint.safetensors`: weights, momentum buffers (`optimizer.momentum_buffer.<name>`) and,
///   in its metadata, the number of finished epochs and the config (what `--resume` reads);
///   removed once the run is finished;
/// - `log.jsonl`: one `EpochLog` per finished epoch;
/// - `model.safetensors`: the final model with its training config and epoch count (written at
///   the end); resuming a finished run reads it and trains nothing.
///
/// Resuming restarts at the first unfinished epoch; since each epoch's order and augmentation
/// derive from (seed, epoch), an interrupted run ends with the same weights as an uninterrupted
/// one, up to libtorch's own determinism on the machine.
public final class Trainer {
  public let config: TrainConfig
  public let directory: String
  public let network: any Network
  public let optimizer: SGD
  public let device: Device
  public private(set) var finishedEpochs = 0
  var log: [EpochLog] = []
  /// Called after every epoch (for progress output).
  public var onEpoch: ((EpochLog) -> Void)?
  /// Stop after this many epochs in this process (for tests of resumption); nil runs to the end.
  public var stopAfterEpochs: Int?
  /// Validation images attacked after each epoch of adversarial training.
  public static let robustValidationCount = 500

  public var checkpointPath: String { directory + "/checkpoint.safetensors" }
  public var modelPath: String { directory + "/model.safetensors" }
  public var logPath: String { directory + "/log.jsonl" }

  /// `inputSize`: the side of the (square) training images, when it is not the architecture's.
  public init(
    config: TrainConfig, directory: String, classNames: [String], inputSize: Int? = nil, device: Device = .cpu, resume: Bool
  ) throws {
    if let problem = config.problems().first { throw problem }
    guard let normalization = Normalization(parsing: config.normalization) else {
      throw SettingProblem("normalization", "must be a preset or mean/std, got '\(config.normalization)'")
    }
    self.config = config
    self.directory = directory
    self.device = device
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // Dropout still draws from the default generator; the initial weights come from the run's own.
    try Runtime.manualSeed(config.seed)
    network = try Generator.seeded(config.seed) {
      try Architecture.named(config.arch).build(
        classNames: classNames, normalization: normalization, inputSize: inputSize, device: device)
    }
    optimizer = try SGD(
      parameters: network.parameters(), learningRate: config.learningRate, momentum: config.momentum,
      weightDecay: config.weightDecay, nesterov: config.nesterov)
    let exists = FileManager.default.fileExists(atPath: checkpointPath)
    // A finished run keeps model.safetensors and drops its checkpoint (see `train`).
    let finished = !exists && FileManager.default.fileExists(atPath: modelPath)
    if (exists || finished) && !resume {
      throw TrainingError("\(directory) already holds a training run", kind: .runExists)
    }
    if exists {
      try restore()
    } else if finished {
      try restoreFinished()
    } else {
      if let file = config.initialWeights { try startFrom(file) }
      try writeAtomically(try config.json() + "\n", to: directory + "/config.json")
    }
  }

  /// Copies the weights of `file` (same architecture and classes) into the network.
  func startFrom(_ file: String) throws {
    if let expected = config.initialWeightsSHA256, try SHA256.hex(file: file) != expected {
      throw TrainingError("\(file) is not the file the run was configured with (its SHA-256 differs)")
    }
    let start = try ModelLoader.load(file, device: device)
    guard start.info.architecture == config.arch, start.info.numClasses == network.info.numClasses else {
      throw TrainingError(
        "\(file) holds a \(start.info.architecture) with \(start.info.numClasses) classes; this run trains a \(config.arch) with \(network.info.numClasses)"
      )
    }
    try network.load(stateDict: start.stateDict(), source: file)
  }

  func restore() throws {
    let (tensors, meta) = try Safetensors.read(checkpointPath)
    guard let saved = meta["training_config"].flatMap({ try? TrainConfig.from(json: $0) }) else {
      throw TrainingError("\(checkpointPath): no training config in its metadata")
    }
    try requireSameSettings(saved, file: checkpointPath)
    let prefix = "optimizer.momentum_buffer."
    try network.load(stateDict: tensors.filter { !$0.0.hasPrefix(prefix) }, source: checkpointPath)
    let buffers = Dictionary(
      tensors.filter { $0.0.hasPrefix(prefix) }.map { (String($0.0.dropFirst(prefix.count)), $0.1) },
      uniquingKeysWith: { a, _ in a })
    for ((name, _), buf) in zip(network.namedParameters(), optimizer.momentumBuffers) {
      guard let saved = buffers[name] else { throw TrainingError("\(checkpointPath): no momentum buffer for \(name)") }
      try buf.copy_(saved)
    }
    finishedEpochs = Int(meta["finished_epochs"] ?? "") ?? 0
    optimizer.hasState = meta["optimizer_has_state"] == "1"
    try readLog()
  }

  /// A finished run (no checkpoint): the final weights from model.safetensors, checked to be this
  /// run's, all epochs finished, the history from log.jsonl.
  func restoreFinished() throws {
    let (tensors, meta) = try Safetensors.read(modelPath)
    guard let saved = meta["training_config"].flatMap({ try? TrainConfig.from(json: $0) }),
      Int(meta["epochs"] ?? "") == saved.epochs
    else {
      throw TrainingError(
        "\(modelPath): not the final model of a training run (no training config or epoch count in its metadata)")
    }
    try requireSameSettings(saved, file: modelPath)
    try network.load(stateDict: tensors, source: modelPath)
    finishedEpochs = saved.epochs
    try readLog()
  }

  /// Refuses to continue a run written with other settings than this one's (the thread count may
  /// differ).
  func requireSameSettings(_ saved: TrainConfig, file: String) throws {
    var mismatch = saved
    mismatch.threads = config.threads
    guard mismatch == config else {
      throw TrainingError("\(file) was written with different settings (\(try saved.json()))", kind: .otherSettings)
    }
  }

  /// The history of the finished epochs from log.jsonl (lines past them are dropped).
  func readLog() throws {
    guard FileManager.default.fileExists(atPath: logPath) else { return }
    let text = try String(contentsOfFile: logPath, encoding: .utf8)
    log = Array(
      text.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochLog.self, from: Data($0.utf8)) }
        .prefix(finishedEpochs))
  }

  func saveCheckpoint() throws {
    var tensors = network.stateDict()
    for ((name, _), buf) in zip(network.namedParameters(), optimizer.momentumBuffers) {
      tensors.append(("optimizer.momentum_buffer." + name, buf))
    }
    try Safetensors.write(
      tensors,
      metadata: [
        "format": "overinterp-training-checkpoint/1", "training_config": try config.json(),
        "finished_epochs": String(finishedEpochs), "optimizer_has_state": optimizer.hasState ? "1" : "0",
        "architecture": config.arch,
      ], to: checkpointPath)
    let lines = try log.map { String(decoding: try JSONEncoder.sorted.encode($0), as: UTF8.self) }
    try writeAtomically(lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n"), to: logPath)
  }

  /// Runs the remaining epochs. `validation` (clean held-out images) is evaluated after each.
  public func train(on set: TrainingSet, validation: ImageDataset?) throws {
    let stepsPerEpoch = (set.images.count + config.batchSize - 1) / config.batchSize
    var epochsThisRun = 0
    while finishedEpochs < config.epochs {
      if let stop = stopAfterEpochs, epochsThisRun >= stop { return }
      let epoch = finishedEpochs
      let start = Progress.now()
      let loader = BatchLoader(
        set, batchSize: config.batchSize, shuffle: true, augment: config.augment, normalization: network.info.normalization,
        seed: config.seed, epoch: epoch)
      var lossSum = 0.0
      var correct = 0
      var seen = 0
      var step = 0
      let progress = Progress(total: set.images.count, label: "epoch \(epoch + 1)/\(config.epochs)")
      while let batch = loader.next() {
        let lr = config.learningRate(at: Double(epoch) + Double(step) / Double(stepsPerEpoch))
        optimizer.learningRate = lr
        let x = try batch.pixels.withUnsafeBytes {
          try Tensor(bytes: $0, shape: [batch.count] + set.images.imageShape, dtype: .float32)
        }.to(device)
        let y = try Tensor(batch.labels, shape: [batch.count]).to(device)
        let input =
          try config.adversarial.map {
            // Each step's random start from (seed, epoch, step): a resumed run draws what an
            // uninterrupted one would.
            try $0.perturb(
              network, x, labels: y, normalization: network.info.normalization,
              seed: SplitMix64(seed: config.seed, stream: UInt64(epoch) << 32 | UInt64(step)).state)
          } ?? x
        let logits = try network.logits(input, training: true)
        let loss = try NN.crossEntropy(logits, targets: y)
        try optimizer.zeroGrad()
        try loss.backward()
        try optimizer.step()
        let l = try loss.item()
        guard l.isFinite else {
          loader.cancel()
          throw TrainingError("training diverged at epoch \(epoch + 1), step \(step): loss is \(l)", kind: .diverged)
        }
        lossSum += l * Double(batch.count)
        correct += try withNoGrad { try logits.argmax(dim: 1).eq(y).sum().item() }.asInt
        seen += batch.count
        step += 1
        progress.advance(
          by: batch.count, extra: "loss \(String(format: "%.3f", lossSum / Double(seen))) lr \(String(format: "%.4f", lr))")
      }
      progress.finish()
      let trainSeconds = Progress.now() - start
      var validationAccuracy: Double?
      if let validation, validation.count > 0 {
        let probs = try predictProbabilities(network, on: validation, batchSize: 500, device: device)
        validationAccuracy =
          ClassificationReport(probabilities: probs, labels: validation.labels, classNames: network.info.classNames).accuracy
      }
      var validationRobustAccuracy: Double?
      if let attack = config.adversarial, let validation, validation.count > 0 {
        let sample = validation.subset(Array(0..<Swift.min(Self.robustValidationCount, validation.count)))
        validationRobustAccuracy =
          try RobustnessReport(
            classifier: network, data: sample, attack: PGDAttack.validation(for: attack), seed: config.seed &+ UInt64(epoch),
            device: device
          ).robustAccuracy
      }
      let entry = EpochLog(
        epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(seen, 1)),
        validationAccuracy: validationAccuracy, validationRobustAccuracy: validationRobustAccuracy,
        learningRate: config.learningRate(at: Double(epoch)),
        seconds: Progress.now() - start, imagesPerSecond: Double(seen) / trainSeconds)
      log.append(entry)
      finishedEpochs += 1
      epochsThisRun += 1
      try saveCheckpoint()
      onEpoch?(entry)
    }
    if !FileManager.default.fileExists(atPath: modelPath) || epochsThisRun > 0 {
      try ModelCheckpoint.save(
        network, to: modelPath, trainingConfig: try config.json(),
        extra: ["validation_accuracy": log.last?.validationAccuracy.map { String($0) } ?? "", "epochs": String(finishedEpochs)])
    }
    // Finished: the model holds the final weights and the checkpoint (twice the model's size, with
    // the momentum buffers) can only resume epochs that are all done.
    try? FileManager.default.removeItem(atPath: checkpointPath)
  }

  public var history: [EpochLog] { log }
}

public struct TrainingError: Error, CustomStringConvertible {
  /// What kind of problem, for a caller that says how to get past it (the CLI names its flags).
  public enum Kind: Sendable { case other, runExists, otherSettings, diverged }
  public let kind: Kind
  public let description: String
  public init(_ d: String, kind: Kind = .other) {
    description = d
    self.kind = kind
  }
}

func writeAtomically(_ text: String, to path: String) throws {
  try writeFileAtomically(Array(text.utf8), to: path)
}

extension JSONEncoder {
  static var sorted: JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return e
  }
}

extension Double {
  var asInt: Int { Int(self) }
}
