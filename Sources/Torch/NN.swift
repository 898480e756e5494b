import CTorch

/// Functional neural-network operations (PyTorch's `torch.nn.functional` semantics). Shapes are
/// NCHW for images; a channels-last input stays channels-last in the output.
public enum NN {
  public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws(TorchError) -> Tensor {
    try withExtendedLifetime(bias) { () throws(TorchError) -> Tensor in
      try owned(ot_nn_linear(x.handle, weight.handle, bias?.handle))
    }
  }

  public static func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
    groups: Int = 1
  ) throws(TorchError) -> Tensor {
    try conv2d(
      x, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation),
      groups: groups)
  }

  /// 2-D convolution with separate height and width for stride, padding and dilation.
  public static func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int) = (1, 1),
    groups: Int = 1
  ) throws(TorchError) -> Tensor {
    let s: [Int64] = [Int64(stride.0), Int64(stride.1)]
    let p: [Int64] = [Int64(padding.0), Int64(padding.1)]
    let d: [Int64] = [Int64(dilation.0), Int64(dilation.1)]
    return try withExtendedLifetime(bias) { () throws(TorchError) -> Tensor in
      try owned(ot_nn_conv2d(x.handle, weight.handle, bias?.handle, s, p, d, Int64(groups)))
    }
  }

  /// Batch normalization. In training mode the batch statistics are used and the running
  /// statistics are updated in place with `momentum` (PyTorch's convention).
  public static func batchNorm(
    _ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?, training: Bool,
    momentum: Double = 0.1, eps: Double = 1e-5
  ) throws(TorchError) -> Tensor {
    try withExtendedLifetime((weight, bias, runningMean, runningVar)) { () throws(TorchError) -> Tensor in
      try owned(
        ot_nn_batch_norm(
          x.handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle, training ? 1 : 0,
          momentum, eps))
    }
  }

  public static func maxPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false)
    throws(TorchError) -> Tensor
  {
    let k: [Int64] = [Int64(kernel), Int64(kernel)]
    let s: [Int64] = [Int64(stride ?? kernel), Int64(stride ?? kernel)]
    let p: [Int64] = [Int64(padding), Int64(padding)]
    return try owned(ot_nn_max_pool2d(x.handle, k, s, p, ceilMode ? 1 : 0))
  }

  public static func avgPool2d(
    _ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
    countIncludePad: Bool = true
  ) throws(TorchError) -> Tensor {
    let k: [Int64] = [Int64(kernel), Int64(kernel)]
    let s: [Int64] = [Int64(stride ?? kernel), Int64(stride ?? kernel)]
    let p: [Int64] = [Int64(padding), Int64(padding)]
    return try owned(ot_nn_avg_pool2d(x.handle, k, s, p, ceilMode ? 1 : 0, countIncludePad ? 1 : 0))
  }

  public static func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) throws(TorchError) -> Tensor {
    try owned(ot_nn_adaptive_avg_pool2d(x.handle, Int64(outputSize.0), Int64(outputSize.1)))
  }

  public static func dropout(_ x: Tensor, p: Double, training: Bool) throws(TorchError) -> Tensor {
    try owned(ot_nn_dropout(x.handle, p, training ? 1 : 0))
  }

  public static func softmax(_ x: Tensor, dim: Int = -1) throws(TorchError) -> Tensor {
    try owned(ot_nn_softmax(x.handle, Int64(dim)))
  }

  public static func logSoftmax(_ x: Tensor, dim: Int = -1) throws(TorchError) -> Tensor {
    try owned(ot_nn_log_softmax(x.handle, Int64(dim)))
  }

  public enum Reduction: Int32, Sendable { case none = 0, mean = 1, sum = 2 }

  /// Cross-entropy of logits (N, C) against int64 class indices (N).
  public static func crossEntropy(
    _ logits: Tensor, targets: Tensor, reduction: Reduction = .mean, labelSmoothing: Double = 0
  ) throws(TorchError) -> Tensor {
    try owned(ot_nn_cross_entropy(logits.handle, targets.handle, reduction.rawValue, labelSmoothing))
  }

}
