import Analysis
import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Accuracy, confidence, per-class accuracy and confusion matrix of a model or an ensemble.",
    discussion: """
      Several --model options evaluate each model and their ensemble (mean of logits). Models \
      whose names end in a replicate number are summarized as mean ± std across replicates. \
      --attack pgd reports clean accuracy and accuracy under an l-inf PGD attack in pixel space \
      (default PGD-20, eps 8/255, step 2/255, random start), per model.
      """)

  @OptionGroup(title: "Model") var model: ModelOptions
  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  @Option(help: "Images per forward pass.")
  var batchSize: Int = 256

  @Flag(help: "Print one JSON object instead of tables.")
  var json = false

  @Flag(help: "Also print the confusion matrix.")
  var confusion = false

  @Option(
    help:
      "A CIFAR-10-C folder (official or from `data corrupt`): accuracy per corruption and severity, means, and the paper's sample if present."
  )
  var cifar10c: String?

  @Option(help: "pgd: also measure accuracy under an l-inf PGD attack (Madry et al.), in pixel space before normalization.")
  var attack: String?

  @Option(help: "With --attack: the l-inf radius in pixel units, e.g. 8/255.")
  var eps = PixelAmount(8, over: 255)

  @Option(help: "With --attack: the step, e.g. 2/255.")
  var step = PixelAmount(2, over: 255)

  @Option(help: "With --attack: the steps (PGD-20 by default).")
  var steps: Int = 20

  @Option(help: "With --attack: attacks per image from different random starts; robust means none succeeds.")
  var restarts: Int = 1

  @Option(help: "With --attack: the seed of the random starts.")
  var seed: UInt64 = 0

  @Option(
    help:
      "fp32, or bf16 (the BN-folded model in bfloat16, for CPUs with AMX or AVX-512 BF16; elsewhere fp32 is used, with a message). Not with --attack."
  )
  var precision: Precision = .fp32

  func validate() throws {
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    if let a = try parsedAttack(), let problem = a.problems().first {
      throw ValidationError(problem.named(by: Overinterp.settingFlags))
    }
    if precision == .bf16Verify {
      throw ValidationError("--precision for eval is fp32 or bf16 (bf16-verify is for backselect and audit)")
    }
    if precision != .fp32, attack != nil { throw ValidationError("--attack runs in fp32; drop --precision") }
    if precision != .fp32, cifar10c != nil { throw ValidationError("--cifar10c runs in fp32; drop --precision") }
  }

  /// The attack the flags describe (nil without --attack).
  func parsedAttack() throws -> PGDAttack? {
    guard let attack else { return nil }
    guard attack == "pgd" else { throw ValidationError("--attack must be pgd, got '\(attack)'") }
    return pgdAttack(eps: eps, step: step, steps: steps, restarts: restarts)
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    if let cifar10c { return try evaluateCorruptions(cifar10c, device: device) }
    if let attack = try parsedAttack() { return try evaluateRobustness(attack, device: device) }
    let paths = model.models.isEmpty ? ["default"] : model.models
    var networks = try model.loadClassifiers(device: device)
    if effectivePrecision(precision, device: device) == .bf16 { networks = try networks.map(bfloat16Twin) }
    let data = try dataOptions.load(for: networks[0].info)
    let evaluation = try ModelEvaluation(
      networks: Array(zip(paths, networks)).map { (name: $0.0, network: $0.1) }, data: data, batchSize: batchSize, device: device)
    if json {
      print(try jsonText(evaluation.json))
    } else {
      for line in evaluation.lines(confusion: confusion) { print(line) }
    }
  }
}

extension Eval {
  /// Clean and robust accuracy of each model given (and of their ensemble).
  func evaluateRobustness(_ attack: PGDAttack, device: Device) throws {
    let paths = model.models.isEmpty ? ["default"] : model.models
    var classifiers: [(String, any Classifier)] = Array(zip(paths, try model.loadClassifiers(device: device)))
    if classifiers.count > 1 { classifiers.append(("ensemble", try Ensemble(classifiers.map(\.1)))) }
    let data = try dataOptions.load(for: classifiers[0].1.info)
    var rows: [[String: Any]] = []
    if !json { print("data: \(data.description), \(data.count) images; attack: \(attack)") }
    for (name, classifier) in classifiers {
      let r = try RobustnessReport(
        classifier: classifier, data: data, attack: attack, seed: seed, batchSize: batchSize, device: device,
        progressLabel: json ? nil : "attack \(name)")
      rows.append([
        "model": name, "count": r.count, "clean_accuracy": r.cleanAccuracy, "robust_accuracy": r.robustAccuracy,
        "clean_correct": r.cleanCorrect, "robust_correct": r.robustCorrect, "max_perturbation": r.maxPerturbation,
      ])
      if !json {
        print("")
        print("model: \(name)")
        print("  clean accuracy    \(String(format: "%6.2f%%", r.cleanAccuracy * 100))  (\(r.cleanCorrect)/\(r.count))")
        print("  under attack      \(String(format: "%6.2f%%", r.robustAccuracy * 100))  (\(r.robustCorrect)/\(r.count))")
        print(
          "  largest change    \(String(format: "%.4f", r.maxPerturbation)) (\(String(format: "%.2f", r.maxPerturbation * 255))/255)"
        )
      }
    }
    if json {
      let root: [String: Any] = [
        "data": data.description, "images": data.count, "models": rows,
        "attack": [
          "kind": "pgd", "epsilon": attack.epsilon, "step": attack.stepSize, "steps": attack.steps,
          "restarts": attack.restarts, "random_start": attack.randomStart, "seed": seed, "norm": "linf",
          "space": "pixels in [0, 1] before normalization",
        ],
      ]
      print(try jsonText(root))
    }
  }

  /// Accuracy on every corruption file and severity of a CIFAR-10-C folder.
  func evaluateCorruptions(_ folder: String, device: Device) throws {
    let evaluation = try CorruptionEvaluation(
      folder: folder, classifier: try model.load(device: device), limit: dataOptions.limit, batchSize: batchSize, device: device)
    if json {
      print(try jsonText(evaluation.json))
    } else {
      for line in evaluation.lines { print(line) }
    }
  }
}
