import Analysis
import Base
import Datasets
import Foundation

/// Every setting of a training run. Saved as `config.json` next to the results and inside every
/// checkpoint, so a run is self-describing and `--resume` continues with the same settings.
public struct TrainConfig: Codable, Equatable, Sendable {
  /// Architecture name (see `Architecture`).
  public var arch = "resnet20"
  /// Passes over the training images. The paper (S1): 200.
  public var epochs = 200
  /// Images per SGD step. The paper: 128.
  public var batchSize = 128
  /// Peak learning rate. The paper: 0.1.
  public var learningRate = 0.1
  /// SGD momentum, Nesterov. The paper: 0.9.
  public var momentum = 0.9
  public var nesterov = true
  /// L2 weight decay on every parameter. The paper: 5e-4.
  public var weightDecay = 5e-4
  /// `step` (the paper's: divide by `gamma`⁻¹ at `milestones`), `cosine`, or `onecycle`.
  public var schedule = "step"
  /// Epochs after which a step schedule multiplies the rate by `gamma`. The paper: 60, 120, 160.
  public var milestones = [60, 120, 160]
  /// The paper divides by 5.
  public var gamma = 0.2
  /// Warm-up epochs of the one-cycle schedule (linear from `learningRate / 10`).
  public var warmupEpochs = 0.0
  /// Random crop (zero padding 4) and horizontal flip.
  public var augment = true
  /// Training images held out for validation (the last N of the training set).
  public var holdout = 5000
  /// Input normalization preset or mean/std text.
  public var normalization = "cifar10"
  public var seed: UInt64 = 0
  /// libtorch threads.
  public var threads = 2
  /// Adversarial training (Madry et al.): each batch is replaced by its PGD-perturbed version
  /// before the SGD step. nil: standard training.
  public var adversarial: PGDAttack?
  /// A model file whose weights the run starts from (fine-tuning) instead of a random
  /// initialization, and its SHA-256; nil: random initialization.
  public var initialWeights: String?
  public var initialWeightsSHA256: String?

  public init() {}

  /// Named presets. `paper` is the default recipe of the paper; `fast` is a shorter schedule
  /// measured on the 2-core development machines (see the README for its accuracy).
  public static func preset(_ name: String) -> TrainConfig? {
    var c = TrainConfig()
    switch name {
    case "paper":
      return c
    case "fast":
      c.epochs = 50
      c.schedule = "onecycle"
      c.warmupEpochs = 2
      c.learningRate = 0.1
      return c
    default:
      return nil
    }
  }

  public static let presetNames = ["paper", "fast"]

  /// Learning rate at a fractional epoch position (epoch + step / stepsPerEpoch).
  public func learningRate(at epoch: Double) -> Double {
    switch schedule {
    case "cosine":
      return learningRate * 0.5 * (1 + cos(Double.pi * min(epoch / Double(epochs), 1)))
    case "onecycle":
      if epoch < warmupEpochs {
        let start = learningRate / 10
        return start + (learningRate - start) * epoch / warmupEpochs
      }
      let t = min((epoch - warmupEpochs) / max(Double(epochs) - warmupEpochs, 1e-9), 1)
      return learningRate * 0.5 * (1 + cos(Double.pi * t))
    default:
      let passed = milestones.filter { Double($0) <= epoch }.count
      return learningRate * pow(gamma, Double(passed))
    }
  }

  /// Problems with the settings, each naming its setting.
  public func problems() -> [SettingProblem] {
    var p: [SettingProblem] = []
    if epochs < 1 { p.append(SettingProblem("epochs", "must be at least 1, got \(epochs)")) }
    if batchSize < 1 { p.append(SettingProblem("batchSize", "must be at least 1, got \(batchSize)")) }
    if !(learningRate > 0 && learningRate.isFinite) {
      p.append(SettingProblem("learningRate", "must be a positive number, got \(learningRate)"))
    }
    if !(momentum >= 0 && momentum < 1) { p.append(SettingProblem("momentum", "must be in [0, 1), got \(momentum)")) }
    if nesterov && momentum == 0 { p.append(SettingProblem("nesterov", "needs a momentum above 0")) }
    if !(weightDecay >= 0 && weightDecay.isFinite) { p.append(SettingProblem("weightDecay", "must be >= 0, got \(weightDecay)")) }
    if !["step", "cosine", "onecycle"].contains(schedule) {
      p.append(SettingProblem("schedule", "must be step, cosine or onecycle, got \(schedule)"))
    }
    if !(gamma > 0 && gamma <= 1) { p.append(SettingProblem("gamma", "must be in (0, 1], got \(gamma)")) }
    if !(warmupEpochs >= 0 && warmupEpochs < Double(epochs)) {
      p.append(SettingProblem("warmupEpochs", "must be in [0, epochs), got \(warmupEpochs)"))
    }
    if let problem = CIFAR10.holdoutProblem(holdout) { p.append(problem) }
    if threads < 1 { p.append(SettingProblem("threads", "must be at least 1, got \(threads)")) }
    if let adversarial {
      p += adversarial.problems()
      if adversarial.restarts != 1 {
        p.append(
          SettingProblem("restarts", "must be 1 in adversarial training (one attack per batch), got \(adversarial.restarts)"))
      }
    }
    return p
  }

  public func json() throws -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return String(decoding: try e.encode(self), as: UTF8.self)
  }

  public static func from(json: String) throws -> TrainConfig {
    try JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8))
  }
}
