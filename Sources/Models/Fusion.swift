import Datasets
import Torch

/// Networks that can produce a faster, inference-only twin: batch norm folded into the
/// preceding convolution (W' = W * g / sqrt(v + eps) per output channel, b' = beta + (b - mu) * g /
/// sqrt(v + eps)) and, optionally, weights in channels-last layout. The twin computes the same
/// function up to float rounding; its fidelity is measured by the tests and benchmarks.
public protocol InferenceOptimizable: Network {
  func optimizedForInference(channelsLast: Bool) throws -> any Classifier
}

/// A convolution with its batch norm folded in.
struct FusedConv {
  let weight: Tensor
  let bias: Tensor
  let stride: Int
  let padding: (Int, Int)

  init(_ conv: Conv2d, _ bn: BatchNorm2d, channelsLast: Bool) throws {
    let (w, b) = try withNoGrad { () throws -> (Tensor, Tensor) in
      let scale = try bn.weight / (bn.runningVar + bn.eps).sqrt()
      let w = try conv.weight.detach() * scale.reshape([-1, 1, 1, 1])
      let convBias = try conv.bias?.detach() ?? Tensor.zeros([conv.weight.shape[0]], device: conv.weight.device)
      let b = try bn.bias.detach() + (convBias - bn.runningMean) * scale
      return (w, b)
    }
    weight = try w.contiguous(channelsLast: channelsLast)
    bias = try b.contiguous()
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
  let info: ModelInfo

  init(_ net: ResNetCIFAR, channelsLast: Bool) throws {
    stem = try FusedConv(net.conv1, net.bn1, channelsLast: channelsLast)
    blocks = try net.stages.joined().map {
      Block(
        conv1: try FusedConv($0.conv1, $0.bn1, channelsLast: channelsLast),
        conv2: try FusedConv($0.conv2, $0.bn2, channelsLast: channelsLast), shortcutPad: $0.shortcutPad)
    }
    linearWeight = try net.linear.weight.detach()
    linearBias = try net.linear.bias?.detach()
    self.channelsLast = channelsLast
    info = net.info
  }

  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var out = try stem(try x.contiguous(channelsLast: channelsLast)).relu()
    for b in blocks {
      let y = try b.conv2(try b.conv1(out).relu())
      var shortcut = out
      if b.shortcutPad > 0 {
        let sub = try out.slice(dim: 2, 0, out.shape[2], step: 2).slice(dim: 3, 0, out.shape[3], step: 2)
        shortcut = try sub.pad([0, 0, 0, 0, b.shortcutPad, b.shortcutPad])
      }
      out = try (y + shortcut).relu()
    }
    let pooled = try NN.adaptiveAvgPool2d(out, outputSize: (1, 1)).flatten(from: 1)
    return try NN.linear(pooled, weight: linearWeight, bias: linearBias)
  }
}

extension ResNetCIFAR: InferenceOptimizable {
  public func optimizedForInference(channelsLast: Bool) throws -> any Classifier {
    try FusedResNetCIFAR(self, channelsLast: channelsLast)
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
  let info: ModelInfo

  init(_ net: VGG16, channelsLast: Bool) throws {
    layers = try net.layers.map {
      switch $0 {
      case .conv(let c, let bn): return .conv(try FusedConv(c, bn, channelsLast: channelsLast))
      case .pool: return .pool
      }
    }
    classifierWeight = try net.classifier.weight.detach()
    classifierBias = try net.classifier.bias?.detach()
    self.channelsLast = channelsLast
    info = net.info
  }

  func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var out = try x.contiguous(channelsLast: channelsLast)
    for layer in layers {
      switch layer {
      case .conv(let c): out = try c(out).relu()
      case .pool: out = try NN.maxPool2d(out, kernel: 2)
      }
    }
    return try NN.linear(try out.flatten(from: 1), weight: classifierWeight, bias: classifierBias)
  }
}

extension VGG16: InferenceOptimizable {
  public func optimizedForInference(channelsLast: Bool) throws -> any Classifier {
    try FusedVGG16(self, channelsLast: channelsLast)
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
