import Datasets
import Torch

/// What a classifier expects and produces, saved in checkpoint metadata.
public struct ModelInfo: Equatable, Sendable {
  public var architecture: String
  public var classNames: [String]
  /// Channels, height, width of one input image.
  public var inputShape: [Int]
  /// The preprocessing that maps uint8 pixels to the model's input.
  public var normalization: Normalization
  /// How images of other sizes (image folders) are cropped and resized first.
  public var preprocessing: Preprocessing

  public init(
    architecture: String, classNames: [String], inputShape: [Int], normalization: Normalization,
    preprocessing: Preprocessing = .none
  ) {
    self.architecture = architecture
    self.classNames = classNames
    self.inputShape = inputShape
    self.normalization = normalization
    self.preprocessing = preprocessing
  }

  public var numClasses: Int { classNames.count }
}

/// Anything that maps a batch of normalized images to class logits: a single network or an
/// ensemble.
public protocol Classifier: AnyObject {
  var info: ModelInfo { get }
  /// Logits (N, classes) for a float32 batch (N, C, H, W) already normalized with
  /// `info.normalization`. `training` selects batch statistics and dropout.
  func logits(_ x: Tensor, training: Bool) throws -> Tensor
}

extension Classifier {
  /// Eval-mode logits.
  public func logits(_ x: Tensor) throws -> Tensor { try logits(x, training: false) }

  /// Softmax probabilities in eval mode.
  public func probabilities(_ x: Tensor) throws -> Tensor { try NN.softmax(try logits(x), dim: 1) }
}

/// A single trainable network: a module tree that classifies.
public protocol Network: Module, Classifier {
  var info: ModelInfo { get set }
}

/// The mean of its members' logits (the paper's ensembles, section 3.2). All members must take
/// the same input shape and normalization and predict the same classes.
public final class Ensemble: Classifier {
  public let members: [any Classifier]
  public let info: ModelInfo

  public init(_ members: [any Classifier]) throws {
    guard let first = members.first else {
      throw ModelError.badCheckpoint(path: "ensemble", message: "an ensemble needs at least one member")
    }
    for m in members.dropFirst() {
      guard m.info.inputShape == first.info.inputShape, m.info.normalization == first.info.normalization,
        m.info.classNames == first.info.classNames
      else {
        throw ModelError.badCheckpoint(
          path: "ensemble",
          message:
            "members disagree: \(first.info.architecture) takes \(first.info.inputShape) normalized with \(first.info.normalization.name), \(m.info.architecture) takes \(m.info.inputShape) with \(m.info.normalization.name) (or their classes differ)"
        )
      }
    }
    self.members = members
    var info = first.info
    info.architecture = "ensemble(" + members.map(\.info.architecture).joined(separator: ",") + ")"
    self.info = info
  }

  public func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    try Self.mean(of: members) { try $0.logits(x, training: training) }
  }

  /// The mean over `members` (at least one) of `logits`.
  static func mean<Member>(of members: [Member], _ logits: (Member) throws -> Tensor) throws -> Tensor {
    var sum = try logits(members[0])
    for m in members.dropFirst() {
      sum = try sum + logits(m)
    }
    return try sum / Double(members.count)
  }
}
