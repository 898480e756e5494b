// ResNet for CIFAR-10 (He et al., "Deep Residual Learning for Image Recognition", 2016, section 4.2):
// a 3x3 stem with 16 channels, three stages of basic blocks with 16/32/64 channels, global
// average pooling and a linear classifier. Downsampling shortcuts are "option A": subsample by 2
// and zero-pad the new channels, with no parameters. Names follow akamaster/pytorch_resnet_cifar10
// (also used by the paper's code), so its pretrained files load as they are.
import Datasets
import Torch

/// A basic residual block: conv-bn-relu-conv-bn, plus the (option A) shortcut, then relu.
final class BasicBlock: Module {
  let conv1: Conv2d
  let bn1: BatchNorm2d
  let conv2: Conv2d
  let bn2: BatchNorm2d
  /// Channels added on each side by the option-A shortcut (0 when the shortcut is the identity).
  let shortcutPad: Int
  let stride: Int

  init(_ inPlanes: Int, _ planes: Int, stride: Int, device: Device) throws {
    conv1 = try Conv2d(
      inPlanes, planes, kernel: 3, stride: stride, padding: 1, bias: false, initializer: .kaimingNormalFanIn, device: device)
    bn1 = try BatchNorm2d(planes, device: device)
    conv2 = try Conv2d(planes, planes, kernel: 3, padding: 1, bias: false, initializer: .kaimingNormalFanIn, device: device)
    bn2 = try BatchNorm2d(planes, device: device)
    shortcutPad = (stride != 1 || inPlanes != planes) ? planes / 4 : 0
    self.stride = stride
  }

  var children: [(String, any Module)] { [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)] }

  func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
    let out = try bn2(try conv2(try bn1(try conv1(x), training: training).relu()), training: training)
    var shortcut = x
    if shortcutPad > 0 {
      // x[:, :, ::2, ::2] with planes/4 zero channels on each side.
      let sub = try x.slice(dim: 2, 0, x.shape[2], step: 2).slice(dim: 3, 0, x.shape[3], step: 2)
      shortcut = try sub.pad([0, 0, 0, 0, shortcutPad, shortcutPad])
    }
    return try (out + shortcut).relu()
  }
}

public final class ResNetCIFAR: Network {
  /// Blocks per stage; depth = 6n + 2.
  public enum Depth: String, CaseIterable, Sendable {
    case resnet20, resnet32, resnet44, resnet56, resnet110

    public var blocksPerStage: Int {
      switch self {
      case .resnet20: return 3
      case .resnet32: return 5
      case .resnet44: return 7
      case .resnet56: return 9
      case .resnet110: return 18
      }
    }
  }

  let conv1: Conv2d
  let bn1: BatchNorm2d
  let stages: [[BasicBlock]]
  let linear: Linear
  public var info: ModelInfo

  /// `inputSize` is the image height and width; the network is fully convolutional up to a
  /// global average pool, so any size of at least 4x4 works (32 for CIFAR-10).
  public init(
    depth: Depth, classNames: [String] = CIFAR10.classNames, normalization: Normalization = .cifar10,
    inputSize: Int = 32, device: Device = .cpu
  ) throws {
    conv1 = try Conv2d(3, 16, kernel: 3, padding: 1, bias: false, initializer: .kaimingNormalFanIn, device: device)
    bn1 = try BatchNorm2d(16, device: device)
    var inPlanes = 16
    var stages: [[BasicBlock]] = []
    for (stage, planes) in [16, 32, 64].enumerated() {
      var blocks: [BasicBlock] = []
      for i in 0..<depth.blocksPerStage {
        let stride = (stage > 0 && i == 0) ? 2 : 1
        blocks.append(try BasicBlock(inPlanes, planes, stride: stride, device: device))
        inPlanes = planes
      }
      stages.append(blocks)
    }
    self.stages = stages
    linear = try Linear(64, classNames.count, initializer: .kaimingNormalFanIn, device: device)
    info = ModelInfo(
      architecture: depth.rawValue, classNames: classNames, inputShape: [3, inputSize, inputSize], normalization: normalization)
  }

  public var children: [(String, any Module)] {
    [("conv1", conv1), ("bn1", bn1)] + namedStages(stages) + [("linear", linear)]
  }

  public func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var out = try bn1(try conv1(x), training: training).relu()
    for block in stages.joined() {
      out = try block(out, training: training)
    }
    let pooled = try NN.adaptiveAvgPool2d(out, outputSize: (1, 1)).flatten(from: 1)
    return try linear(pooled)
  }
}
