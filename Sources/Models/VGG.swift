// VGG16 with batch normalization for CIFAR-10 (Simonyan & Zisserman, "Very Deep Convolutional
// Networks for Large-Scale Image Recognition", 2015, configuration D), with the fully connected
// head replaced by one Linear(512, classes) as in the CIFAR variant the paper's code uses;
// 14.7M parameters. Names follow that code: `features.<i>` indexes conv, bn, relu and pool layers
// of one nn.Sequential, and the head is `classifier`.
import Datasets
import Torch

public final class VGG16: Network {
  /// Channels per conv layer; 0 marks a 2x2 max pool.
  static let configuration = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]

  enum Layer {
    case conv(Conv2d, BatchNorm2d)
    case pool
  }

  let layers: [Layer]
  let classifier: Linear
  public var info: ModelInfo

  public init(classNames: [String] = CIFAR10.classNames, normalization: Normalization = .cifar10, device: Device = .cpu) throws {
    var layers: [Layer] = []
    var inChannels = 3
    for v in Self.configuration {
      if v == 0 {
        layers.append(.pool)
      } else {
        let conv = try Conv2d(
          inChannels, v, kernel: 3, padding: 1, initializer: .kaimingNormalFanOut, zeroBias: true, device: device)
        layers.append(.conv(conv, try BatchNorm2d(v, device: device)))
        inChannels = v
      }
    }
    self.layers = layers
    classifier = try Linear(512, classNames.count, initializer: .normal(0.01), zeroBias: true, device: device)
    info = ModelInfo(architecture: "vgg16", classNames: classNames, inputShape: [3, 32, 32], normalization: normalization)
  }

  public var children: [(String, any Module)] {
    // PyTorch numbers conv, bn, relu (3 slots) and pool (1 slot) within `features`.
    var entries: [(Int, any Module)] = []
    var index = 0
    for layer in layers {
      switch layer {
      case .conv(let conv, let bn):
        entries += [(index, conv), (index + 1, bn)]
        index += 3
      case .pool:
        index += 1
      }
    }
    return [("features", IndexedModules(entries)), ("classifier", classifier)]
  }

  public func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var out = x
    for layer in layers {
      switch layer {
      case .conv(let conv, let bn): out = try bn(try conv(out), training: training).relu()
      case .pool: out = try NN.maxPool2d(out, kernel: 2)
      }
    }
    return try classifier(try out.flatten(from: 1))
  }
}
