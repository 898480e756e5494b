import Datasets
import Torch

/// The architectures overinterp can build by name.
public enum Architecture: String, CaseIterable, Sendable {
  case resnet20, resnet32, resnet44, resnet56, resnet110
  /// Pre-activation ResNet18 (the paper's "ResNet18").
  case resnet18
  /// VGG16 with batch norm, CIFAR head.
  case vgg16

  /// Builds a freshly initialized network (seed libtorch first for repeatable weights).
  public func build(classNames: [String] = ModelInfo.cifar10Classes, normalization: Normalization = .cifar10,
    device: Device = .cpu) throws -> any Network
  {
    switch self {
    case .resnet20, .resnet32, .resnet44, .resnet56, .resnet110:
      // Every ResNetCIFAR depth shares its raw value with an Architecture case.
      guard let depth = ResNetCIFAR.Depth(rawValue: rawValue) else { throw ModelError.unknownArchitecture(rawValue, known: []) }
      return try ResNetCIFAR(depth: depth, classNames: classNames, normalization: normalization, device: device)
    case .resnet18:
      return try PreActResNet18(classNames: classNames, normalization: normalization, device: device)
    case .vgg16:
      return try VGG16(classNames: classNames, normalization: normalization, device: device)
    }
  }

  public static func named(_ name: String) throws -> Architecture {
    guard let a = Architecture(rawValue: name) else {
      throw ModelError.unknownArchitecture(name, known: allCases.map(\.rawValue))
    }
    return a
  }
}
