import CTorch

/// A TorchScript module (a file written by `torch.jit.save`, from `torch.jit.trace` or
/// `torch.jit.script`), loaded and run by libtorch's JIT.
///
/// Unlike every other model file overinterp reads, a TorchScript file holds code, and loading it
/// runs that code (its unpickler resolves the file's own classes, and `forward` is the file's
/// program). Load one only when the user said they trust it; the CLI asks for `--trust-code`.
public final class ScriptModule: @unchecked Sendable {
  let handle: OpaquePointer
  /// The file it was loaded from.
  public let path: String

  /// Loads `path` onto `device`, in eval mode.
  public init(path: String, device: Device = .cpu) throws(TorchError) {
    guard let h = ot_script_load(path, device.code) else {
      let e = TorchError.last()
      throw TorchError("\(path): libtorch could not load it as TorchScript: \(e.message)")
    }
    handle = h
    self.path = path
  }

  deinit { ot_script_free(handle) }

  /// The module's `forward` on one tensor; it must return a tensor.
  public func forward(_ x: Tensor) throws(TorchError) -> Tensor {
    guard let h = ot_script_forward(handle, x.handle) else {
      let e = TorchError.last()
      throw TorchError("\(path): \(e.message)")
    }
    return Tensor(owning: h)
  }
}
