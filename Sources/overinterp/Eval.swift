import Analysis
import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import Torch

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Accuracy, confidence, per-class accuracy and confusion matrix of a model or an ensemble.",
    discussion: """
      Several --model options evaluate each model and their ensemble (mean of logits). Models \
      whose names end in a replicate number are summarized as mean ± std across replicates.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var runtime: RuntimeOptions

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

  func validate() throws {
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    if let cifar10c { return try evaluateCorruptions(cifar10c, device: device) }
    let paths = model.models.isEmpty ? ["default"] : model.models
    let networks = try model.loadClassifiers(device: device)
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
