import Base
import Torch

/// Per-channel input normalization: a uint8 pixel v becomes (v / 255 - mean[c]) / std[c].
///
/// The masked value of SIS ("the dataset mean") is 0 after this normalization.
public struct Normalization: Equatable, Sendable, CustomStringConvertible {
  public var mean: [Double]
  public var std: [Double]

  public init(mean: [Double], std: [Double]) {
    self.mean = mean
    self.std = std
  }

  /// CIFAR-10 training-set statistics, as used by the paper's code (gifford-lab/overinterpretation).
  public static let cifar10 = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010])
  /// ImageNet statistics (torchvision); also what the akamaster CIFAR ResNets were trained with.
  public static let imagenet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
  /// Maps [0, 1] to [-1, 1] (TensorFlow-style MobileNet preprocessing: x / 127.5 - 1).
  public static let minusOneToOne = Normalization(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
  /// Pixels / 255 with no centering.
  public static let unit = Normalization(mean: [0, 0, 0], std: [1, 1, 1])

  public static let presets: [(String, Normalization)] = [
    ("cifar10", .cifar10), ("imagenet", .imagenet), ("minus-one-to-one", .minusOneToOne), ("unit", .unit),
  ]

  /// A preset name, or `mean1,mean2,mean3/std1,std2,std3`.
  public init?(parsing text: String) {
    if let preset = Self.presets.first(where: { $0.0 == text }) {
      self = preset.1
      return
    }
    let parts = text.split(separator: "/")
    guard parts.count == 2 else { return nil }
    let m = parts[0].split(separator: ",").compactMap { Double($0) }
    let s = parts[1].split(separator: ",").compactMap { Double($0) }
    guard m.count == s.count, !m.isEmpty, s.allSatisfy({ $0 > 0 && $0.isFinite }), m.allSatisfy(\.isFinite) else { return nil }
    self.init(mean: m, std: s)
  }

  public var name: String { Self.presets.first { $0.1 == self }?.0 ?? "custom" }

  /// `mean/std` in the text form `init(parsing:)` accepts.
  public var description: String {
    mean.map { "\($0)" }.joined(separator: ",") + "/" + std.map { "\($0)" }.joined(separator: ",")
  }

  /// Normalizes a uint8 NCHW batch into float32 NCHW, on the batch's device.
  public func apply(_ uint8Batch: Tensor) throws(TorchError) -> Tensor {
    if self == .minusOneToOne {
      // TensorFlow's own formula for this preset, x / 127.5 - 1, for float32 agreement with it.
      return try uint8Batch.to(.float32) / 127.5 - 1
    }
    let c = mean.count
    // The constants live where the batch does (a CPU constant of this shape does not broadcast
    // against a CUDA batch).
    let device = uint8Batch.device
    let m = try Tensor(mean.map { Float($0) }, shape: [1, c, 1, 1]).to(device)
    let s = try Tensor(std.map { Float($0) }, shape: [1, c, 1, 1]).to(device)
    // The same order of float32 operations as torchvision's ToTensor + Normalize.
    let unit = try uint8Batch.to(.float32) / 255
    return try (unit - m) / s
  }

  /// Normalizes one uint8 pixel value of channel `channel` (for building buffers in Swift).
  @inline(__always)
  public func value(_ pixel: UInt8, channel: Int) -> Float {
    if mean == [0.5, 0.5, 0.5] && std == [0.5, 0.5, 0.5] { return Float(pixel) / 127.5 - 1 }
    return (Float(pixel) / 255 - Float(mean[channel])) / Float(std[channel])
  }
}

extension Normalization {
  /// The dataset mean as uint8 RGB: the colour of a masked pixel (0 after normalization).
  public var meanColor: [UInt8] { mean.map { UInt8(($0 * 255).rounded()) } }
}
