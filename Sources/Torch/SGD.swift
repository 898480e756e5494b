import CTorch

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, with the
/// update rule of `torch.optim.SGD` (so state dicts and trajectories match PyTorch's).
public final class SGD {
  public var learningRate: Double
  public let momentum: Double
  public let dampening: Double
  public let weightDecay: Double
  public let nesterov: Bool
  public let parameters: [Tensor]
  /// One momentum buffer per parameter, same shape (PyTorch's `momentum_buffer`).
  public let momentumBuffers: [Tensor]
  /// Whether the buffers hold state yet (false until the first step or a restored state).
  public var hasState: Bool

  public init(
    parameters: [Tensor], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
    weightDecay: Double = 0, nesterov: Bool = false
  ) throws(TorchError) {
    if nesterov && (momentum <= 0 || dampening != 0) {
      throw TorchError("Nesterov momentum requires a momentum > 0 and zero dampening")
    }
    self.parameters = parameters
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.weightDecay = weightDecay
    self.nesterov = nesterov
    var buffers: [Tensor] = []
    for p in parameters {
      buffers.append(try Tensor.zeros(p.shape, dtype: p.dtype, device: p.device))
    }
    self.momentumBuffers = buffers
    self.hasState = false
  }

  /// Applies one update from the parameters' accumulated gradients.
  public func step() throws(TorchError) {
    let p: [OpaquePointer?] = parameters.map { $0.handle }
    let b: [OpaquePointer?] = momentumBuffers.map { $0.handle }
    try withExtendedLifetime((parameters, momentumBuffers)) { () throws(TorchError) in
      try checked(
        ot_optim_sgd_step(
          p, b, Int32(p.count), learningRate, momentum, dampening, weightDecay, nesterov ? 1 : 0, hasState ? 0 : 1))
    }
    hasState = true
  }

  /// Drops every parameter's gradient.
  public func zeroGrad() throws(TorchError) {
    for p in parameters { try p.zeroGrad() }
  }
}
