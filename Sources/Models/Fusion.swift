import Datasets
import Torch

/// Networks that can produce a faster, inference-only twin: batch norm folded into the
/// preceding convolution (W' = W * g / sqrt(v + eps) per output channel, b' = beta + (b - mu) * g /
/// sqrt(v + eps)) and, optionally, weights in channels-last layout. The twin computes the same
/// function up to float rounding; its fidelity is measured by the tests and benchmarks.
public protocol InferenceOptimizable: Network {
  /// `dtype` is the type the twin computes in (float32 or bfloat16); it takes and returns float32.
  func optimizedForInference(channelsLast: Bool, dtype: DType) throws -> any Classifier
}

extension InferenceOptimizable {
  public func optimizedForInference(channelsLast: Bool) throws -> any Classifier {
    try optimizedForInference(channelsLast: channelsLast, dtype: .float32)
  }
}

/// A convolution with its batch norm folded in.
struct FusedConv {
  let weight: Tensor
  let bias: Tensor
  let stride: Int
  let padding: (Int, Int)

  init(_ conv: Conv2d, _ bn: BatchNorm2d, channelsLast: Bool, dtype: DType) throws {
    let (w, b) = try withNoGrad { () throws -> (Tensor, Tensor) in
      let scale = try bn.weight / (bn.runningVar + bn.eps).sqrt()
      let w = try conv.weight.detach() * scale.reshape([-1, 1, 1, 1])
      let convBias = try conv.bias?.detach() ?? Tensor.zeros([conv.weight.shape[0]], device: conv.weight.device)
      let b = try bn.bias.detach() + (convBias - bn.runningMean) * scale
      return (w, b)
    }
    weight = try w.to(dtype).contiguous(channelsLast: channelsLast)
    bias = try b.to(dtype).contiguous()
    stride = conv.stride
    padding = conv.padding
  }

  func callAsFunction(_ x: Tensor) throws -> Tensor {
    try NN.conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: padding)
  }
}

/// ResNetCIFAR with folded batch norm.
final class FusedResNetCIFAR: Classifier {
  struct Block {
    let conv1: FusedConv
    let conv2: FusedConv
    let shortcutPad: Int
  }

  let stem: FusedConv
  let blocks: [Block]
  let linearWeight: Tensor
  let linearBias: Tensor?
  let channelsLast: Bool
  let dtype: DType
  let info: ModelInfo

  init(_ net: ResNetCIFAR, channelsLast: Bool, dtype: DType) throws {
    stem = try FusedConv(net.conv1, net.bn1, channelsLast: channelsLast, dtype: dtype)
    blocks = try net.stages.joined().map {
      Block(
        conv1: try FusedConv($0.conv1, $0.bn1, channelsLast: channelsLast, dtype: dtype),
        conv2: try FusedConv($0.conv2, $0.bn2, channelsLast: channelsLast, dtype: dtype), shortcutPad: $0.shortcutPad)
    }
    linearWeight = try net.linear.weight.detach().to(dtype)
    linearBias = try net.linear.bias?.detach().to(dtype)
    self.channelsLast = channelsLast
    self.dtype = dtype
    info = net.info
  }

  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    try head(try stem(try x.to(dtype).contiguous(channelsLast: channelsLast)).relu(), from: 0)
  }

  /// The logits from the stem's output (`from` 0) or the output of block `from - 1`: the blocks
  /// from `from` on, the pooling and the classifier.
  func head(_ x: Tensor, from: Int) throws -> Tensor {
    var out = x
    for b in blocks[from...] {
      let y = try b.conv2(try b.conv1(out).relu())
      var shortcut = out
      if b.shortcutPad > 0 {
        let sub = try out.slice(dim: 2, 0, out.shape[2], step: 2).slice(dim: 3, 0, out.shape[3], step: 2)
        shortcut = try sub.pad([0, 0, 0, 0, b.shortcutPad, b.shortcutPad])
      }
      out = try (y + shortcut).relu()
    }
    let pooled = try NN.adaptiveAvgPool2d(out, outputSize: (1, 1)).flatten(from: 1)
    return try NN.linear(pooled, weight: linearWeight, bias: linearBias).to(.float32)
  }
}

extension ResNetCIFAR: InferenceOptimizable {
  public func optimizedForInference(channelsLast: Bool, dtype: DType) throws -> any Classifier {
    try FusedResNetCIFAR(self, channelsLast: channelsLast, dtype: dtype)
  }
}

/// VGG16 with folded batch norm.
final class FusedVGG16: Classifier {
  enum Layer {
    case conv(FusedConv)
    case pool
  }

  let layers: [Layer]
  let classifierWeight: Tensor
  let classifierBias: Tensor?
  let channelsLast: Bool
  let dtype: DType
  let info: ModelInfo

  init(_ net: VGG16, channelsLast: Bool, dtype: DType) throws {
    layers = try net.layers.map {
      switch $0 {
      case .conv(let c, let bn): return .conv(try FusedConv(c, bn, channelsLast: channelsLast, dtype: dtype))
      case .pool: return .pool
      }
    }
    classifierWeight = try net.classifier.weight.detach().to(dtype)
    classifierBias = try net.classifier.bias?.detach().to(dtype)
    self.channelsLast = channelsLast
    self.dtype = dtype
    info = net.info
  }

  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var out = try x.to(dtype).contiguous(channelsLast: channelsLast)
    for layer in layers {
      switch layer {
      case .conv(let c): out = try c(out).relu()
      case .pool: out = try NN.maxPool2d(out, kernel: 2)
      }
    }
    return try NN.linear(try out.flatten(from: 1), weight: classifierWeight, bias: classifierBias).to(.float32)
  }
}

extension VGG16: InferenceOptimizable {
  public func optimizedForInference(channelsLast: Bool, dtype: DType) throws -> any Classifier {
    try FusedVGG16(self, channelsLast: channelsLast, dtype: dtype)
  }
}

/// The fastest inference form of any classifier: folded twins for the networks that have one,
/// ensembles of such twins, and the classifier itself otherwise.
public func optimizedForInference(_ classifier: any Classifier, channelsLast: Bool = true) throws -> any Classifier {
  if let n = classifier as? any InferenceOptimizable { return try n.optimizedForInference(channelsLast: channelsLast) }
  if let e = classifier as? Ensemble {
    return try Ensemble(try e.members.map { try optimizedForInference($0, channelsLast: channelsLast) })
  }
  return classifier
}

/// The bfloat16 twin of a classifier (BN folded, channels-last, weights and activations in
/// bfloat16; float32 in and out), or of each member of an ensemble. Only the networks with a
/// folded twin have one (`ResNetCIFAR`, `VGG16`); others throw, naming the architecture.
public func bfloat16Twin(_ classifier: any Classifier) throws -> any Classifier {
  if let n = classifier as? any InferenceOptimizable { return try n.optimizedForInference(channelsLast: true, dtype: .bfloat16) }
  if let e = classifier as? Ensemble { return try Ensemble(try e.members.map(bfloat16Twin)) }
  throw ModelError.badCheckpoint(
    path: classifier.info.architecture,
    message:
      "bfloat16 inference exists for the CIFAR ResNets (resnet20-110) and vgg16, not for \(classifier.info.architecture); use {precision} fp32"
  )
}
