import Base
import Datasets
import Models
import Torch

/// Runs a classifier over a dataset in eval mode and returns softmax probabilities (N x classes).
public func predictProbabilities(
  _ classifier: any Classifier, on data: ImageDataset, batchSize: Int = 256, device: Device = .cpu, progressLabel: String? = nil
) throws -> [[Float]] {
  guard data.imageShape == classifier.info.inputShape else {
    throw ModelError.badCheckpoint(
      path: classifier.info.architecture,
      message: "model takes images of shape \(classifier.info.inputShape), the data has \(data.imageShape)")
  }
  let progress = progressLabel.map { Progress(total: data.count, label: $0) }
  defer { progress?.finish() }
  var out: [[Float]] = []
  out.reserveCapacity(data.count)
  let classes = classifier.info.numClasses
  try withInferenceMode {
    var start = 0
    while start < data.count {
      let end = Swift.min(start + batchSize, data.count)
      let x = try data.normalized(start..<end, classifier.info.normalization, device: device)
      let p = try classifier.probabilities(x).floats()
      for i in 0..<(end - start) { out.append(Array(p[(i * classes)..<((i + 1) * classes)])) }
      progress?.advance(by: end - start)
      start = end
    }
  }
  return out
}

/// Accuracy, confidence, per-class accuracy and confusion matrix of one set of predictions.
public struct ClassificationReport: Sendable {
  public let count: Int
  public let correct: Int
  public let meanConfidence: Double
  public let classNames: [String]
  /// confusion[true][predicted]
  public let confusion: [[Int]]
  public let predictions: [Int]
  public let confidences: [Float]
  /// Images whose label is among the five most probable classes.
  public let top5Correct: Int

  public init(probabilities: [[Float]], labels: [Int], classNames: [String]) {
    precondition(probabilities.count == labels.count, "one probability row per label")
    var confusion = [[Int]](repeating: [Int](repeating: 0, count: classNames.count), count: classNames.count)
    var predictions: [Int] = []
    var confidences: [Float] = []
    var correct = 0
    var top5 = 0
    var confidenceSum = 0.0
    for (p, y) in zip(probabilities, labels) {
      if y < p.count {
        let above = p.indices.filter { $0 != y && (p[$0] > p[y] || (p[$0] == p[y] && $0 < y)) }.count
        if above < 5 { top5 += 1 }
      }
      let best = argmax(p) ?? 0
      predictions.append(best)
      confidences.append(p[best])
      confidenceSum += Double(p[best])
      if best == y { correct += 1 }
      if y < classNames.count { confusion[y][best] += 1 }
    }
    self.count = labels.count
    self.correct = correct
    self.meanConfidence = labels.isEmpty ? 0 : confidenceSum / Double(labels.count)
    self.classNames = classNames
    self.confusion = confusion
    self.predictions = predictions
    self.confidences = confidences
    self.top5Correct = top5
  }

  public var top5Accuracy: Double { count == 0 ? 0 : Double(top5Correct) / Double(count) }

  public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

  /// Accuracy per true class (nil for a class with no images).
  public var perClassAccuracy: [Double?] {
    confusion.enumerated().map { (k, row) in
      let n = row.reduce(0, +)
      return n == 0 ? nil : Double(row[k]) / Double(n)
    }
  }
}
