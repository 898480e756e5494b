import ArgumentParser
import Analysis
import Audit
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Where the images come from.
struct DataOptions: ParsableArguments {
  @Option(
    help:
      "Dataset: a CIFAR-10 binary folder, the lossless test subset folder, a CIFAR-10.1 folder, a .bin batch or an .npy of images (default: the embedded sample)."
  )
  var data: String?

  @Option(help: "Split of a CIFAR-10 binary folder: \(Split.allCases.map(\.rawValue).joined(separator: ", ")).")
  var split: Split = .test

  @Option(help: "Training images held out for validation (the last N of the training set).")
  var holdout: Int = 5000

  @Option(help: "Labels .npy for an .npy of images.")
  var labels: String?

  @Option(help: "Use only the first N images.")
  var limit: Int?

  @Option(help: "In a CIFAR-10-C folder: the corruption file to use.")
  var corruption: String?

  @Option(help: "In a CIFAR-10-C folder: the severity (1-5).")
  var severity: Int?

  func validate() throws {
    if let problem = CIFAR10.holdoutProblem(holdout) { throw ValidationError(problem.named(by: Overinterp.settingFlags)) }
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
    if let severity, !(1...5).contains(severity) { throw ValidationError("--severity must be 1-5, got \(severity)") }
  }

  /// Loads the data; image folders are decoded and preprocessed as `model` expects.
  func load(for model: ModelInfo? = nil) throws -> ImageDataset {
    var d: ImageDataset
    if let data {
      let source = DataSource(
        path: data, split: split, holdout: holdout, labelsPath: labels, corruption: corruption, severity: severity)
      if ImageFolder.isImageFolder(data) {
        guard let model else { throw ValidationFailure("\(data): an image folder needs a model to know its preprocessing") }
        d = try source.load(preprocessing: model.preprocessing, classNames: model.classNames)
      } else {
        d = try model.map { try source.load(preprocessing: $0.preprocessing, classNames: $0.classNames) } ?? source.load()
      }
    } else {
      d = try EmbeddedSample.load(directory: try Resources.path("sample"))
    }
    if let limit, limit < d.count { d = d.subset(Array(0..<limit)) }
    return d
  }

  /// How a run records this data (the description is the loaded dataset's).
  func record(_ loaded: ImageDataset) -> DataRecord {
    DataRecord(
      path: data.map(absolutePath) ?? DataRecord.embeddedSamplePath, labels: labels.map(absolutePath), split: split,
      holdout: holdout,
      description: loaded.description)
  }
}
