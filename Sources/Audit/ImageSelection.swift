import Analysis
import Base
import Datasets
import Models
import Torch

/// Which images of a dataset an analysis works on. The paper's rule is `.confident`: images whose
/// predicted class has probability at least τ (0.99 on CIFAR-10, 0.9 on ImageNet), optionally only
/// the correctly classified ones.
public struct ImageSelection: Equatable, Sendable {
  public enum Rule: Equatable, Sendable {
    /// These positions of the dataset, in this order.
    case indices([Int], text: String)
    /// Every image whose predicted class has probability >= threshold.
    case confident(threshold: Double, correctOnly: Bool)
    /// Every image.
    case all
  }

  public var rule: Rule
  /// At most this many of the selected images (the first ones).
  public var maxImages: Int?

  public init(_ rule: Rule, maxImages: Int? = nil) {
    self.rule = rule
    self.maxImages = maxImages
  }

  /// Positions selected, in dataset order (or the order given), and a description for manifests
  /// and reports ("confident >= 0.99, correct, first 20"). Only `.confident` runs the model.
  public func select(_ data: ImageDataset, classifier: any Classifier, device: Device = .cpu, progressLabel: String? = "select")
    throws -> (positions: [Int], description: String)
  {
    var positions: [Int]
    var description: String
    switch rule {
    case .indices(let list, let text):
      if let bad = list.first(where: { $0 < 0 || $0 >= data.count }) {
        throw SelectionError("{indices}: position \(bad) is outside the dataset's 0..<\(data.count)")
      }
      positions = list
      description = "indices \(text)"
    case .confident(let threshold, let correctOnly):
      let probs = try predictProbabilities(classifier, on: data, device: device, progressLabel: progressLabel)
      positions = probs.indices.filter { i in
        guard let best = argmax(probs[i]) else { return false }
        return Double(probs[i][best]) >= threshold && (!correctOnly || best == data.labels[i])
      }
      description = "confident >= \(threshold)" + (correctOnly ? ", correct" : "")
    case .all:
      positions = Array(0..<data.count)
      description = "all"
    }
    if let maxImages, positions.count > maxImages {
      positions = Array(positions.prefix(maxImages))
      description += ", first \(maxImages)"
    }
    return (positions, description)
  }
}

/// A selection that cannot be made (a position outside the dataset); the message names the flag.
public struct SelectionError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = SettingNames.render(description) }
}
