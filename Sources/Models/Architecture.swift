import Datasets
import Torch

/// The architectures overinterp can build by name.
public enum Architecture: String, CaseIterable, Sendable {
  case resnet20, resnet32, resnet44, resnet56, resnet110
  /// Pre-activation ResNet18 (the paper's "ResNet18").
  case resnet18
  /// VGG16 with batch norm, CIFAR head.
  case vgg16
  /// MobileNetV2 for ImageNet (torchvision), with PyTorch's symmetric padding.
  case mobilenetV2 = "mobilenet_v2"
  /// MobileNetV2 with TensorFlow 'SAME' padding at the stride-2 convolutions (weights from TF).
  case mobilenetV2TFSame = "mobilenet_v2_tfsame"
  /// Inception-v3 for ImageNet (torchvision names), 299x299.
  case inceptionV3 = "inception_v3"

  /// Image side the architecture is built for by default.
  public var defaultInputSize: Int {
    switch self {
    case .mobilenetV2, .mobilenetV2TFSame: return 224
    case .inceptionV3: return 299
    default: return 32
    }
  }

  /// Builds a freshly initialized network (seed libtorch first for repeatable weights).
  /// `inputSize` (height = width) other than 32 is for the fully convolutional CIFAR ResNets only.
  /// The normalization the architecture's usual weights expect: CIFAR-10 statistics for the
  /// CIFAR models, [-1, 1] for the TensorFlow-converted MobileNetV2, ImageNet statistics for
  /// torchvision's.
  public var defaultNormalization: Normalization {
    switch self {
    case .mobilenetV2TFSame, .inceptionV3: return .minusOneToOne
    case .mobilenetV2: return .imagenet
    default: return .cifar10
    }
  }

  public func build(
    classNames: [String] = CIFAR10.classNames, normalization: Normalization? = nil,
    inputSize: Int? = nil, device: Device = .cpu
  ) throws -> any Network {
    let inputSize = inputSize ?? defaultInputSize
    let normalization = normalization ?? defaultNormalization
    if inputSize != defaultInputSize && (self == .resnet18 || self == .vgg16 || self == .inceptionV3) {
      throw ModelError.badCheckpoint(
        path: rawValue,
        message: "\(rawValue) takes \(defaultInputSize)x\(defaultInputSize) images only, not \(inputSize)x\(inputSize)")
    }
    guard inputSize >= 4 else { throw ModelError.badCheckpoint(path: rawValue, message: "input size must be at least 4") }
    switch self {
    case .resnet20, .resnet32, .resnet44, .resnet56, .resnet110:
      // Every ResNetCIFAR depth shares its raw value with an Architecture case.
      guard let depth = ResNetCIFAR.Depth(rawValue: rawValue) else { throw ModelError.unknownArchitecture(rawValue, known: []) }
      return try ResNetCIFAR(
        depth: depth, classNames: classNames, normalization: normalization, inputSize: inputSize, device: device)
    case .resnet18:
      return try PreActResNet18(classNames: classNames, normalization: normalization, device: device)
    case .vgg16:
      return try VGG16(classNames: classNames, normalization: normalization, device: device)
    case .inceptionV3:
      return try InceptionV3(classNames: classNames, normalization: normalization, device: device)
    case .mobilenetV2, .mobilenetV2TFSame:
      return try MobileNetV2(
        classNames: classNames, normalization: normalization, tfSamePadding: self == .mobilenetV2TFSame, inputSize: inputSize,
        device: device)
    }
  }

  public static func named(_ name: String) throws -> Architecture {
    guard let a = Architecture(rawValue: name) else {
      throw ModelError.unknownArchitecture(name, known: allCases.map(\.rawValue))
    }
    return a
  }
}
