// Pre-activation ResNet18 for CIFAR-10 (He et al., "Identity Mappings in Deep Residual Networks",
// 2016), the "ResNet18" of the paper: a 3x3 stem with 64 channels, four stages of two
// pre-activation blocks (64/128/256/512 channels, strides 1/2/2/2), 4x4 average pooling and a
// linear classifier; 11.2M parameters. Names follow the widely used kuangliu/pytorch-cifar
// `PreActResNet18` (`layer2.0.shortcut.0.weight` for the 1x1 projection shortcut).
import Datasets
import Torch

/// bn-relu-conv-bn-relu-conv; the projection shortcut (when shapes change) reads the
/// pre-activated input.
final class PreActBlock: Module {
  let bn1: BatchNorm2d
  let conv1: Conv2d
  let bn2: BatchNorm2d
  let conv2: Conv2d
  let shortcut: Conv2d?

  init(_ inPlanes: Int, _ planes: Int, stride: Int, device: Device) throws {
    bn1 = try BatchNorm2d(inPlanes, device: device)
    conv1 = try Conv2d(inPlanes, planes, kernel: 3, stride: stride, padding: 1, bias: false, device: device)
    bn2 = try BatchNorm2d(planes, device: device)
    conv2 = try Conv2d(planes, planes, kernel: 3, padding: 1, bias: false, device: device)
    shortcut =
      (stride != 1 || inPlanes != planes)
      ? try Conv2d(inPlanes, planes, kernel: 1, stride: stride, bias: false, device: device) : nil
  }

  var children: [(String, any Module)] {
    var c: [(String, any Module)] = [("bn1", bn1), ("conv1", conv1), ("bn2", bn2), ("conv2", conv2)]
    if let shortcut { c.append(("shortcut", IndexedModules([(0, shortcut)]))) }
    return c
  }

  func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
    let pre = try bn1(x, training: training).relu()
    let skip = try shortcut.map { try $0(pre) } ?? x
    let out = try conv2(try bn2(try conv1(pre), training: training).relu())
    return try out + skip
  }
}

public final class PreActResNet18: Network {
  let conv1: Conv2d
  let stages: [[PreActBlock]]
  let linear: Linear
  public var info: ModelInfo

  public init(classNames: [String] = CIFAR10.classNames, normalization: Normalization = .cifar10, device: Device = .cpu) throws {
    conv1 = try Conv2d(3, 64, kernel: 3, padding: 1, bias: false, device: device)
    var inPlanes = 64
    var stages: [[PreActBlock]] = []
    for (planes, stride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
      var blocks: [PreActBlock] = []
      for i in 0..<2 {
        blocks.append(try PreActBlock(inPlanes, planes, stride: i == 0 ? stride : 1, device: device))
        inPlanes = planes
      }
      stages.append(blocks)
    }
    self.stages = stages
    linear = try Linear(512, classNames.count, device: device)
    info = ModelInfo(architecture: "resnet18", classNames: classNames, inputShape: [3, 32, 32], normalization: normalization)
  }

  public var children: [(String, any Module)] {
    [("conv1", conv1)] + namedStages(stages) + [("linear", linear)]
  }

  public func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var out = try conv1(x)
    for block in stages.joined() {
      out = try block(out, training: training)
    }
    return try linear(try NN.avgPool2d(out, kernel: 4).flatten(from: 1))
  }
}
