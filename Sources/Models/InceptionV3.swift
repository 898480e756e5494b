// Inception-v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
// CVPR 2016), the ImageNet model of the paper's section 4.1.1, 299x299 inputs. Names and
// structure follow torchvision's `inception_v3` (`Conv2d_1a_3x3.conv.weight`,
// `Mixed_5b.branch1x1.bn.running_mean`, `AuxLogits.fc.weight`, `fc.weight`), so its state dict
// loads as it is; 27,161,264 parameters with the auxiliary classifier, as torchvision's.
// torchvision's pretrained weights expect `transform_input`: inputs normalized to [-1, 1],
// which is this model's default normalization.
import Datasets
import Torch

/// Conv (no bias) - BN (eps 0.001) - ReLU.
final class BasicConv: Module {
  let conv: Conv2d
  let bn: BatchNorm2d

  init(_ i: Int, _ o: Int, kernel: Int, stride: Int = 1, padding: Int = 0, device: Device) throws {
    conv = try Conv2d(
      i, o, kernel: kernel, stride: stride, padding: padding, bias: false, initializer: .normal(0.1), device: device)
    bn = try BatchNorm2d(o, eps: 0.001, device: device)
  }

  init(_ i: Int, _ o: Int, kernelSize: (Int, Int), padding: (Int, Int), device: Device) throws {
    conv = try Conv2d(i, o, kernelSize: kernelSize, padding: padding, bias: false, initializer: .normal(0.1), device: device)
    bn = try BatchNorm2d(o, eps: 0.001, device: device)
  }

  var children: [(String, any Module)] { [("conv", conv), ("bn", bn)] }

  func callAsFunction(_ x: Tensor, _ training: Bool) throws -> Tensor { try bn(try conv(x), training: training).relu() }
}

/// A block of named branches whose outputs are concatenated along channels.
final class InceptionBlock: Module {
  /// A branch: optional pooling first, then convolutions in order; `split` ends with two convs
  /// applied in parallel to the same input and concatenated (the E blocks).
  struct Branch {
    enum Pool { case none, avg3, max3s2 }
    var pool: Pool = .none
    var convs: [(String, BasicConv)]
    var split: [(String, BasicConv)] = []
  }

  let branches: [Branch]

  init(_ branches: [Branch]) { self.branches = branches }

  var children: [(String, any Module)] { branches.flatMap { $0.convs + $0.split }.map { ($0.0, $0.1 as any Module) } }

  func callAsFunction(_ x: Tensor, _ training: Bool) throws -> Tensor {
    var outs: [Tensor] = []
    for b in branches {
      var y = x
      switch b.pool {
      case .none: break
      case .avg3: y = try NN.avgPool2d(y, kernel: 3, stride: 1, padding: 1)
      case .max3s2: y = try NN.maxPool2d(y, kernel: 3, stride: 2)
      }
      for (_, c) in b.convs { y = try c(y, training) }
      if b.split.isEmpty {
        outs.append(y)
      } else {
        outs.append(try Tensor.cat(try b.split.map { try $0.1(y, training) }, dim: 1))
      }
    }
    return try Tensor.cat(outs, dim: 1)
  }
}

public final class InceptionV3: Network {
  let stem: [(String, BasicConv)]
  let mixed: [(String, InceptionBlock)]
  let auxConv0: BasicConv
  let auxConv1: BasicConv
  let auxFC: Linear
  let fc: Linear
  public var info: ModelInfo

  public init(classNames: [String], normalization: Normalization = .minusOneToOne, device: Device = .cpu) throws {
    func c(_ i: Int, _ o: Int, _ k: Int, s: Int = 1, p: Int = 0) throws -> BasicConv {
      try BasicConv(i, o, kernel: k, stride: s, padding: p, device: device)
    }
    func r(_ i: Int, _ o: Int, _ kh: Int, _ kw: Int) throws -> BasicConv {
      try BasicConv(i, o, kernelSize: (kh, kw), padding: ((kh - 1) / 2, (kw - 1) / 2), device: device)
    }
    stem = [
      ("Conv2d_1a_3x3", try c(3, 32, 3, s: 2)), ("Conv2d_2a_3x3", try c(32, 32, 3)), ("Conv2d_2b_3x3", try c(32, 64, 3, p: 1)),
      ("Conv2d_3b_1x1", try c(64, 80, 1)), ("Conv2d_4a_3x3", try c(80, 192, 3)),
    ]
    typealias B = InceptionBlock.Branch
    func a(_ i: Int, _ pool: Int) throws -> InceptionBlock {
      InceptionBlock([
        B(convs: [("branch1x1", try c(i, 64, 1))]),
        B(convs: [("branch5x5_1", try c(i, 48, 1)), ("branch5x5_2", try c(48, 64, 5, p: 2))]),
        B(convs: [
          ("branch3x3dbl_1", try c(i, 64, 1)), ("branch3x3dbl_2", try c(64, 96, 3, p: 1)),
          ("branch3x3dbl_3", try c(96, 96, 3, p: 1)),
        ]),
        B(pool: .avg3, convs: [("branch_pool", try c(i, pool, 1))]),
      ])
    }
    func b(_ i: Int) throws -> InceptionBlock {
      InceptionBlock([
        B(convs: [("branch3x3", try c(i, 384, 3, s: 2))]),
        B(convs: [
          ("branch3x3dbl_1", try c(i, 64, 1)), ("branch3x3dbl_2", try c(64, 96, 3, p: 1)),
          ("branch3x3dbl_3", try c(96, 96, 3, s: 2)),
        ]),
        B(pool: .max3s2, convs: []),
      ])
    }
    func cBlock(_ i: Int, _ c7: Int) throws -> InceptionBlock {
      InceptionBlock([
        B(convs: [("branch1x1", try c(i, 192, 1))]),
        B(convs: [("branch7x7_1", try c(i, c7, 1)), ("branch7x7_2", try r(c7, c7, 1, 7)), ("branch7x7_3", try r(c7, 192, 7, 1))]),
        B(convs: [
          ("branch7x7dbl_1", try c(i, c7, 1)), ("branch7x7dbl_2", try r(c7, c7, 7, 1)), ("branch7x7dbl_3", try r(c7, c7, 1, 7)),
          ("branch7x7dbl_4", try r(c7, c7, 7, 1)), ("branch7x7dbl_5", try r(c7, 192, 1, 7)),
        ]),
        B(pool: .avg3, convs: [("branch_pool", try c(i, 192, 1))]),
      ])
    }
    func d(_ i: Int) throws -> InceptionBlock {
      InceptionBlock([
        B(convs: [("branch3x3_1", try c(i, 192, 1)), ("branch3x3_2", try c(192, 320, 3, s: 2))]),
        B(convs: [
          ("branch7x7x3_1", try c(i, 192, 1)), ("branch7x7x3_2", try r(192, 192, 1, 7)), ("branch7x7x3_3", try r(192, 192, 7, 1)),
          ("branch7x7x3_4", try c(192, 192, 3, s: 2)),
        ]),
        B(pool: .max3s2, convs: []),
      ])
    }
    func e(_ i: Int) throws -> InceptionBlock {
      InceptionBlock([
        B(convs: [("branch1x1", try c(i, 320, 1))]),
        B(
          convs: [("branch3x3_1", try c(i, 384, 1))],
          split: [("branch3x3_2a", try r(384, 384, 1, 3)), ("branch3x3_2b", try r(384, 384, 3, 1))]),
        B(
          convs: [("branch3x3dbl_1", try c(i, 448, 1)), ("branch3x3dbl_2", try c(448, 384, 3, p: 1))],
          split: [("branch3x3dbl_3a", try r(384, 384, 1, 3)), ("branch3x3dbl_3b", try r(384, 384, 3, 1))]),
        B(pool: .avg3, convs: [("branch_pool", try c(i, 192, 1))]),
      ])
    }
    mixed = [
      ("Mixed_5b", try a(192, 32)), ("Mixed_5c", try a(256, 64)), ("Mixed_5d", try a(288, 64)), ("Mixed_6a", try b(288)),
      ("Mixed_6b", try cBlock(768, 128)), ("Mixed_6c", try cBlock(768, 160)), ("Mixed_6d", try cBlock(768, 160)),
      ("Mixed_6e", try cBlock(768, 192)), ("Mixed_7a", try d(768)), ("Mixed_7b", try e(1280)), ("Mixed_7c", try e(2048)),
    ]
    auxConv0 = try c(768, 128, 1)
    auxConv1 = try c(128, 768, 5)
    auxFC = try Linear(768, classNames.count, initializer: .normal(0.001), device: device)
    fc = try Linear(2048, classNames.count, initializer: .normal(0.1), device: device)
    info = ModelInfo(
      architecture: "inception_v3", classNames: classNames, inputShape: [3, 299, 299], normalization: normalization,
      preprocessing: .resizeCenterCrop(resize: 342, size: 299))
  }

  /// The auxiliary classifier (state dict names only; it is used when training with its loss).
  final class Aux: Module {
    let owner: InceptionV3
    init(_ owner: InceptionV3) { self.owner = owner }
    var children: [(String, any Module)] { [("conv0", owner.auxConv0), ("conv1", owner.auxConv1), ("fc", owner.auxFC)] }
  }

  public var children: [(String, any Module)] {
    var out: [(String, any Module)] = stem.map { ($0.0, $0.1) }
    for (name, block) in mixed {
      if name == "Mixed_7a" { out.append(("AuxLogits", Aux(self))) }
      out.append((name, block))
    }
    out.append(("fc", fc))
    return out
  }

  public func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    var y = x
    for (i, (_, conv)) in stem.enumerated() {
      y = try conv(y, training)
      if i == 2 || i == 4 { y = try NN.maxPool2d(y, kernel: 3, stride: 2) }
    }
    for (_, block) in mixed { y = try block(y, training) }
    let pooled = try NN.adaptiveAvgPool2d(y, outputSize: (1, 1)).flatten(from: 1)
    return try fc(try NN.dropout(pooled, p: 0.5, training: training))
  }
}
