import Base
import Datasets
import Foundation
import Models
import Torch

/// Projected gradient descent under an l-infinity bound (Madry et al., 2018), in pixel space:
/// the perturbation lives on pixels scaled to [0, 1] before normalization, so `epsilon` = 8/255
/// means 8 intensity levels whatever the model's normalization, and perturbed images stay valid
/// images (clipped to [0, 1]).
///
/// Each step takes the gradient of the cross-entropy of the true label with respect to the
/// perturbation, moves `stepSize` along its sign, and projects back onto the epsilon ball and the
/// valid pixel range. With `randomStart` the perturbation starts uniform in the ball, drawn from
/// a `SplitMix64` stream of the caller's seed (not libtorch's global generator, which other
/// threads may draw from), so an attack is repeatable. The model runs in eval
/// mode (batch-norm running statistics, as the `robustness` library does during training too).
public struct PGDAttack: Equatable, Sendable, Codable, CustomStringConvertible {
  /// The l-infinity radius in pixel units of [0, 1].
  public var epsilon: Double
  /// The step, in the same units.
  public var stepSize: Double
  public var steps: Int
  public var randomStart: Bool
  /// Attacks per image; an image counts as robust only if none succeeds (evaluation only).
  public var restarts: Int

  public init(
    epsilon: Double = 8.0 / 255, stepSize: Double = 2.0 / 255, steps: Int = 7, randomStart: Bool = true, restarts: Int = 1
  ) {
    self.epsilon = epsilon
    self.stepSize = stepSize
    self.steps = steps
    self.randomStart = randomStart
    self.restarts = restarts
  }

  /// The attack adversarial training validates with: PGD-10 with step eps/4 and a random start,
  /// at the training radius.
  public static func validation(for training: PGDAttack) -> PGDAttack {
    PGDAttack(epsilon: training.epsilon, stepSize: training.epsilon / 4, steps: 10)
  }

  /// Problems with the settings, each naming its setting.
  public func problems() -> [SettingProblem] {
    var p: [SettingProblem] = []
    if !(epsilon > 0 && epsilon <= 1) {
      p.append(SettingProblem("epsilon", "must be in (0, 1] (pixel units, e.g. 8/255), got \(epsilon)"))
    }
    if !(stepSize > 0 && stepSize <= 1) {
      p.append(SettingProblem("stepSize", "must be in (0, 1] (pixel units, e.g. 2/255), got \(stepSize)"))
    }
    if steps < 1 { p.append(SettingProblem("steps", "must be at least 1, got \(steps)")) }
    if restarts < 1 { p.append(SettingProblem("restarts", "must be at least 1, got \(restarts)")) }
    return p
  }

  /// "PGD-7, eps 8/255, step 2/255, random start".
  public var description: String {
    "PGD-\(steps), eps \(Self.fractionText(epsilon)), step \(Self.fractionText(stepSize))"
      + (randomStart ? ", random start" : "") + (restarts > 1 ? ", \(restarts) restarts" : "")
  }

  /// 8/255 for 0.0313..., the decimal otherwise.
  public static func fractionText(_ v: Double) -> String {
    let k = (v * 255).rounded()
    return Swift.abs(k / 255 - v) < 1e-12 ? "\(Int(k))/255" : "\(v)"
  }

  /// A value written "8/255" or "0.0314" (nil otherwise).
  public static func parseFraction(_ text: String) -> Double? {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    if parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]), b != 0 { return a / b }
    if parts.count == 1, let v = Double(text) { return v }
    return nil
  }

  /// Adversarial versions of the normalized batch `x` (N, C, H, W) against `labels` (N, int64):
  /// within `epsilon` of `x` in pixel space, valid images, normalized like `x`. Runs with gradients
  /// enabled whatever the caller's mode; the result has no gradient history. `seed` picks the
  /// random start.
  public func perturb(
    _ classifier: any Classifier, _ x: Tensor, labels: Tensor, normalization: Normalization, seed: UInt64 = 0
  ) throws -> Tensor {
    let channels = normalization.mean.count
    let device = x.device
    let mean = try Tensor(normalization.mean.map { Float($0) }, shape: [1, channels, 1, 1]).to(device)
    let std = try Tensor(normalization.std.map { Float($0) }, shape: [1, channels, 1, 1]).to(device)
    return try withGrad {
      let pixels = try (x.detach() * std + mean).clamped(0, 1)
      // Bounds of the perturbation: the epsilon ball intersected with [0, 1] - pixels.
      let lower = try (pixels * -1).maximum(-epsilon)
      let upper = try (pixels * -1 + 1).minimum(epsilon)
      var delta: Tensor
      if randomStart {
        var rng = SplitMix64(seed: seed, stream: 0x5047_4400)
        // 24 random bits per value: uniform on a grid of 2^-23 in [-1, 1).
        let noise = (0..<x.count).map { _ in Float(Int64(rng.next() >> 40) - (1 << 23)) / Float(1 << 23) }
        delta = try (Tensor(noise, shape: x.shape).to(device) * epsilon).clamped(lower, upper)
      } else {
        delta = try Tensor.zeros(x.shape, device: device)
      }
      for _ in 0..<steps {
        try delta.setRequiresGrad(true)
        let logits = try classifier.logits((pixels + delta - mean) / std, training: false)
        let loss = try NN.crossEntropy(logits, targets: labels, reduction: .sum)
        guard let g = try Autograd.gradients(of: loss, withRespectTo: [delta])[0] else {
          throw ModelError.badCheckpoint(
            path: classifier.info.architecture, message: "the model's output does not depend on its input (no gradient)")
        }
        delta = try (delta.detach() + g.sign() * stepSize).clamped(lower, upper)
      }
      return try ((pixels + delta - mean) / std).detach()
    }
  }
}

/// Clean and robust accuracy of a classifier under a `PGDAttack` (`overinterp eval --attack pgd`).
public struct RobustnessReport: Sendable {
  public let attack: PGDAttack
  public let count: Int
  public let cleanCorrect: Int
  /// Images classified correctly under every restart of the attack.
  public let robustCorrect: Int
  /// The largest l-infinity distance in pixel units between an image and its attacked version
  /// (checks the projection: at most epsilon).
  public let maxPerturbation: Double

  public var cleanAccuracy: Double { Double(cleanCorrect) / Double(Swift.max(count, 1)) }
  public var robustAccuracy: Double { Double(robustCorrect) / Double(Swift.max(count, 1)) }

  public init(count: Int, cleanCorrect: Int, robustCorrect: Int, maxPerturbation: Double, attack: PGDAttack) {
    self.count = count
    self.cleanCorrect = cleanCorrect
    self.robustCorrect = robustCorrect
    self.maxPerturbation = maxPerturbation
    self.attack = attack
  }

  /// Attacks every image of `data` (`seed` seeds the random starts: each batch and restart draws
  /// its own stream).
  public init(
    classifier: any Classifier, data: ImageDataset, attack: PGDAttack, seed: UInt64 = 0, batchSize: Int = 128,
    device: Device = .cpu, progressLabel: String? = nil
  ) throws {
    guard data.imageShape == classifier.info.inputShape else {
      throw ModelError.badCheckpoint(
        path: classifier.info.architecture,
        message: "model takes images of shape \(classifier.info.inputShape), the data has \(data.imageShape)")
    }
    let problems = attack.problems()
    if let problem = problems.first { throw problem }
    let progress = progressLabel.map { Progress(total: data.count, label: $0) }
    defer { progress?.finish() }
    let normalization = classifier.info.normalization
    let channels = normalization.std.count
    let std = try Tensor(normalization.std.map { Float($0) }, shape: [1, channels, 1, 1]).to(device)
    var clean = 0
    var robust = 0
    var worst = 0.0
    var start = 0
    while start < data.count {
      let end = Swift.min(start + batchSize, data.count)
      let x = try data.normalized(start..<end, normalization, device: device)
      let labels = Array(data.labels[start..<end])
      let y = try Tensor(labels.map { Int64($0) }, shape: [labels.count]).to(device)
      let cleanPredicted: [Int] = try withNoGrad { try classifier.logits(x).argmax(dim: 1).to(.cpu).ints() }
      var stillCorrect = zip(cleanPredicted, labels).map { $0 == $1 }
      clean += stillCorrect.filter { $0 }.count
      for restart in 0..<attack.restarts {
        let adversarial = try attack.perturb(
          classifier, x, labels: y, normalization: normalization,
          seed: SplitMix64(seed: seed, stream: UInt64(start) &* 1_000_003 &+ UInt64(restart)).state)
        let predicted: [Int] = try withNoGrad { try classifier.logits(adversarial).argmax(dim: 1).to(.cpu).ints() }
        for (i, p) in predicted.enumerated() where p != labels[i] { stillCorrect[i] = false }
        // Distance in pixel units: |difference| times the channel's std.
        worst = Swift.max(worst, try ((adversarial - x).abs() * std).max().item())
      }
      robust += stillCorrect.filter { $0 }.count
      progress?.advance(by: end - start)
      start = end
    }
    self.init(count: data.count, cleanCorrect: clean, robustCorrect: robust, maxPerturbation: worst, attack: attack)
  }
}
