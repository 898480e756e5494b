// MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018)
// for ImageNet, 224x224, width 1.0: 3.5M parameters. Names follow torchvision's
// `mobilenet_v2` (`features.<i>.conv.<j>...`, `classifier.1`), so torchvision weights load as they
// are. `tfSamePadding` pads the stride-2 convolutions as TensorFlow's 'SAME' does (extra row and
// column at the bottom/right), which weights converted from TensorFlow need.
import Datasets
import Torch

/// Conv-BN-ReLU6 (torchvision's Conv2dNormActivation); `relu` off for the linear projection.
final class ConvBN: Module {
  let conv: Conv2d
  let bn: BatchNorm2d
  let relu: Bool

  init(_ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1, groups: Int = 1, relu: Bool = true, tfSame: Bool, device: Device)
    throws
  {
    conv = try Conv2d(
      inC, outC, kernel: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false,
      initializer: .kaimingNormalFanOut,
      tfSamePadding: tfSame && stride > 1, device: device)
    bn = try BatchNorm2d(outC, device: device)
    self.relu = relu
  }

  var children: [(String, any Module)] { [("0", conv), ("1", bn)] }

  func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
    let y = try bn(try conv(x), training: training)
    return relu ? try y.relu6() : y
  }
}

/// Expand (1x1, unless the ratio is 1), depthwise 3x3, project (1x1, linear); residual when the
/// shape is kept.
final class InvertedResidual: Module {
  let expand: ConvBN?
  let depthwise: ConvBN
  let project: Conv2d
  let projectBN: BatchNorm2d
  let residual: Bool

  init(_ inC: Int, _ outC: Int, stride: Int, ratio: Int, tfSame: Bool, device: Device) throws {
    let hidden = inC * ratio
    expand = ratio != 1 ? try ConvBN(inC, hidden, kernel: 1, tfSame: tfSame, device: device) : nil
    depthwise = try ConvBN(hidden, hidden, kernel: 3, stride: stride, groups: hidden, tfSame: tfSame, device: device)
    project = try Conv2d(hidden, outC, kernel: 1, bias: false, initializer: .kaimingNormalFanOut, device: device)
    projectBN = try BatchNorm2d(outC, device: device)
    residual = stride == 1 && inC == outC
  }

  var children: [(String, any Module)] {
    var layers: [(Int, any Module)] = []
    if let expand { layers.append((0, expand)) }
    layers += [(layers.count, depthwise), (layers.count + 1, project), (layers.count + 2, projectBN)]
    return [("conv", IndexedModules(layers))]
  }

  func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
    var y = x
    if let expand { y = try expand(y, training: training) }
    y = try projectBN(try project(try depthwise(y, training: training)), training: training)
    return residual ? try x + y : y
  }
}

public final class MobileNetV2: Network {
  /// (expansion t, channels c, repeats n, first stride s) per stage, from the paper's Table 2.
  static let settings = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
  ]

  let stem: ConvBN
  let blocks: [InvertedResidual]
  let head: ConvBN
  let classifier: Linear
  public var info: ModelInfo

  public init(
    classNames: [String], normalization: Normalization = .minusOneToOne, tfSamePadding: Bool, inputSize: Int = 224,
    device: Device = .cpu
  ) throws {
    stem = try ConvBN(3, 32, kernel: 3, stride: 2, tfSame: tfSamePadding, device: device)
    var blocks: [InvertedResidual] = []
    var inC = 32
    for (t, c, n, s) in Self.settings {
      for i in 0..<n {
        blocks.append(try InvertedResidual(inC, c, stride: i == 0 ? s : 1, ratio: t, tfSame: tfSamePadding, device: device))
        inC = c
      }
    }
    self.blocks = blocks
    head = try ConvBN(320, 1280, kernel: 1, tfSame: tfSamePadding, device: device)
    classifier = try Linear(1280, classNames.count, initializer: .normal(0.01), zeroBias: true, device: device)
    info = ModelInfo(
      architecture: tfSamePadding ? "mobilenet_v2_tfsame" : "mobilenet_v2", classNames: classNames,
      inputShape: [3, inputSize, inputSize], normalization: normalization,
      preprocessing: tfSamePadding
        ? .centralCrop(fraction: 0.875, size: inputSize) : .resizeCenterCrop(resize: inputSize * 8 / 7, size: inputSize))
  }

  public var children: [(String, any Module)] {
    var features: [(Int, any Module)] = [(0, stem)]
    for (i, b) in blocks.enumerated() { features.append((i + 1, b)) }
    features.append((blocks.count + 1, head))
    return [("features", IndexedModules(features)), ("classifier", IndexedModules([(1, classifier)]))]
  }

  public func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var y = try stem(x, training: training)
    for b in blocks { y = try b(y, training: training) }
    y = try head(y, training: training)
    let pooled = try NN.adaptiveAvgPool2d(y, outputSize: (1, 1)).flatten(from: 1)
    return try classifier(try NN.dropout(pooled, p: 0.2, training: training))
  }
}
