import Torch

/// How a new layer's weights are drawn.
public enum WeightInit: Sendable {
  /// PyTorch's default for Conv2d/Linear: kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  case pytorchDefault
  /// kaiming_normal_ (fan_in, ReLU gain): N(0, 2 / fan_in).
  case kaimingNormalFanIn
  /// N(0, 2 / fan_out) with fan_out = k*k*out_channels (the VGG code's convolution init).
  case kaimingNormalFanOut
  /// N(0, std).
  case normal(Double)
}

func makeParameter(_ shape: [Int], fanIn: Int, fanOut: Int, initializer: WeightInit, device: Device) throws -> Tensor {
  let t: Tensor
  switch initializer {
  case .pytorchDefault:
    let bound = 1 / Double(fanIn).squareRoot()
    t = try Tensor.rand(shape, device: device, generator: Generator.current) * (2 * bound) - bound
  case .kaimingNormalFanIn:
    t = try Tensor.randn(shape, device: device, generator: Generator.current) * (2 / Double(fanIn)).squareRoot()
  case .kaimingNormalFanOut:
    t = try Tensor.randn(shape, device: device, generator: Generator.current) * (2 / Double(fanOut)).squareRoot()
  case .normal(let std):
    t = try Tensor.randn(shape, device: device, generator: Generator.current) * std
  }
  let leaf = try t.detach()
  try leaf.setRequiresGrad(true)
  return leaf
}

func makeBias(_ n: Int, fanIn: Int, zero: Bool, device: Device) throws -> Tensor {
  let t: Tensor
  if zero {
    t = try Tensor.zeros([n], device: device)
  } else {
    let bound = 1 / Double(fanIn).squareRoot()
    t = try (Tensor.rand([n], device: device, generator: Generator.current) * (2 * bound) - bound).detach()
  }
  try t.setRequiresGrad(true)
  return t
}

/// 2-D convolution (PyTorch `nn.Conv2d`; names `weight`, `bias`).
///
/// `tfSamePadding` pads right/bottom by one before a stride-2 convolution with padding 0, as
/// TensorFlow's 'SAME' padding does for even inputs (needed by weights converted from TF).
public final class Conv2d: Module {
  public let weight: Tensor
  public let bias: Tensor?
  public let stride: Int
  /// Zero padding of the height and the width.
  public let padding: (Int, Int)
  public let groups: Int
  public let tfSamePadding: Bool

  public init(
    _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
    bias: Bool = true, initializer: WeightInit = .pytorchDefault, zeroBias: Bool = false, tfSamePadding: Bool = false,
    device: Device = .cpu
  ) throws {
    let fanIn = inChannels / groups * kernel * kernel
    weight = try makeParameter(
      [outChannels, inChannels / groups, kernel, kernel], fanIn: fanIn, fanOut: outChannels * kernel * kernel,
      initializer: initializer, device: device)
    self.bias = bias ? try makeBias(outChannels, fanIn: fanIn, zero: zeroBias, device: device) : nil
    self.stride = stride
    self.padding = (padding, padding)
    self.groups = groups
    self.tfSamePadding = tfSamePadding
  }

  /// A convolution with a rectangular kernel (kh x kw) and per-dimension padding.
  public init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: Int = 1, padding: (Int, Int), bias: Bool = true,
    initializer: WeightInit = .pytorchDefault, device: Device = .cpu
  ) throws {
    let fanIn = inChannels * kernelSize.0 * kernelSize.1
    weight = try makeParameter(
      [outChannels, inChannels, kernelSize.0, kernelSize.1], fanIn: fanIn, fanOut: outChannels * kernelSize.0 * kernelSize.1,
      initializer: initializer, device: device)
    self.bias = bias ? try makeBias(outChannels, fanIn: fanIn, zero: false, device: device) : nil
    self.stride = stride
    self.padding = padding
    self.groups = 1
    self.tfSamePadding = false
  }

  public var ownParameters: [(String, Tensor)] {
    bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
  }

  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    if tfSamePadding {
      let k = weight.shape[2]
      let size = x.shape[2]
      let out = (size + stride - 1) / stride
      let total = Swift.max((out - 1) * stride + k - size, 0)
      let before = total / 2
      let padded = try x.pad([before, total - before, before, total - before])
      return try NN.conv2d(padded, weight: weight, bias: bias, stride: stride, padding: 0, groups: groups)
    }
    return try NN.conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: padding, groups: groups)
  }
}

/// Batch normalization over channels (PyTorch `nn.BatchNorm2d`; names `weight`, `bias`,
/// `running_mean`, `running_var`, `num_batches_tracked`).
public final class BatchNorm2d: Module {
  public let weight: Tensor
  public let bias: Tensor
  public let runningMean: Tensor
  public let runningVar: Tensor
  public let numBatchesTracked: Tensor
  public let momentum: Double
  public let eps: Double

  public init(_ channels: Int, momentum: Double = 0.1, eps: Double = 1e-5, device: Device = .cpu) throws {
    weight = try Tensor.ones([channels], device: device)
    bias = try Tensor.zeros([channels], device: device)
    try weight.setRequiresGrad(true)
    try bias.setRequiresGrad(true)
    runningMean = try Tensor.zeros([channels], device: device)
    runningVar = try Tensor.ones([channels], device: device)
    numBatchesTracked = try Tensor.zeros([], dtype: .int64, device: device)
    self.momentum = momentum
    self.eps = eps
  }

  public var ownParameters: [(String, Tensor)] { [("weight", weight), ("bias", bias)] }
  public var ownBuffers: [(String, Tensor)] {
    [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
  }

  public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
    if training {
      try withNoGrad { try numBatchesTracked.add_(try Tensor.ones([], dtype: .int64, device: numBatchesTracked.device)) }
    }
    return try NN.batchNorm(
      x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, training: training,
      momentum: momentum, eps: eps)
  }
}

/// Fully connected layer (PyTorch `nn.Linear`; names `weight`, `bias`).
public final class Linear: Module {
  public let weight: Tensor
  public let bias: Tensor?

  public init(
    _ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, initializer: WeightInit = .pytorchDefault,
    zeroBias: Bool = false, device: Device = .cpu
  ) throws {
    weight = try makeParameter(
      [outFeatures, inFeatures], fanIn: inFeatures, fanOut: outFeatures, initializer: initializer, device: device)
    self.bias = bias ? try makeBias(outFeatures, fanIn: inFeatures, zero: zeroBias, device: device) : nil
  }

  public var ownParameters: [(String, Tensor)] {
    bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
  }

  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try NN.linear(x, weight: weight, bias: bias)
  }
}

/// A list of child modules named "0", "1", … (PyTorch `nn.Sequential` / `nn.ModuleList` naming).
/// Index gaps are allowed, for the parameter-free layers (ReLU, pooling) PyTorch also numbers.
public final class IndexedModules: Module {
  public let entries: [(Int, any Module)]

  public init(_ entries: [(Int, any Module)]) { self.entries = entries }

  public var children: [(String, any Module)] { entries.map { (String($0.0), $0.1) } }
}

/// Stages of blocks named `layer1`, `layer2`, … with blocks `0`, `1`, … (torchvision's ResNet naming).
func namedStages(_ stages: [[any Module]]) -> [(String, any Module)] {
  stages.enumerated().map { ("layer\($0.offset + 1)", IndexedModules($0.element.enumerated().map { ($0.offset, $0.element) })) }
}
