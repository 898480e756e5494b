import CTorch

extension Tensor {
  /// Whether autograd records operations on this tensor.
  public var requiresGrad: Bool {
    get throws(TorchError) {
      let flag = ot_tensor_requires_grad(handle)
      try checked(flag)
      return flag == 1
    }
  }

  /// Marks a leaf tensor as a parameter whose gradient autograd accumulates into `grad`.
  public func setRequiresGrad(_ flag: Bool) throws(TorchError) {
    try checked(ot_tensor_set_requires_grad(handle, flag ? 1 : 0))
  }

  /// Backpropagates from a one-element tensor, accumulating into the leaves' `grad`.
  public func backward() throws(TorchError) { try checked(ot_tensor_backward(handle)) }

  /// The accumulated gradient, or nil when none has been computed.
  public func grad() throws(TorchError) -> Tensor? {
    var out: OpaquePointer?
    try checked(ot_tensor_grad(handle, &out))
    return out.map { Tensor(owning: $0) }
  }

  /// Drops the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
  public func zeroGrad() throws(TorchError) { try checked(ot_tensor_zero_grad(handle)) }
}

/// Autograd scopes and functional gradients.
public enum Autograd {
  /// Gradients of sum(`output`) with respect to each input, without touching their `grad`.
  /// An input that `output` does not depend on gets nil.
  public static func gradients(of output: Tensor, withRespectTo inputs: [Tensor]) throws(TorchError) -> [Tensor?] {
    let handles: [OpaquePointer?] = inputs.map { $0.handle }
    var out = [OpaquePointer?](repeating: nil, count: inputs.count)
    try withExtendedLifetime(inputs) { () throws(TorchError) in
      try checked(ot_autograd_grad(output.handle, handles, Int32(handles.count), &out))
    }
    return out.map { $0.map { Tensor(owning: $0) } }
  }
}

/// Runs `body` with gradient recording off (PyTorch's `torch.no_grad()`), restoring the previous
/// state afterwards on this thread.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
  let previous = ot_grad_set_enabled(0)
  defer { _ = ot_grad_set_enabled(previous == 0 ? 0 : 1) }
  return try body()
}

/// Runs `body` with gradient recording on, e.g. inside an outer `withNoGrad`.
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
  let previous = ot_grad_set_enabled(1)
  defer { _ = ot_grad_set_enabled(previous == 0 ? 0 : 1) }
  return try body()
}

/// Runs `body` in libtorch's inference mode (faster than no-grad; tensors made inside cannot
/// later be used in autograd).
public func withInferenceMode<R>(_ body: () throws -> R) throws -> R {
  guard let guardHandle = ot_guard_inference_mode() else { throw TorchError.last() }
  defer { ot_guard_free(guardHandle) }
  return try body()
}

/// Whether autograd records operations on this thread.
public var isGradEnabled: Bool { ot_grad_is_enabled() == 1 }
