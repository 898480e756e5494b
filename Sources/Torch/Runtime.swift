import CTorch

/// Process-wide libtorch settings.
public enum Runtime {
  /// Keeps freed memory inside the process (glibc would otherwise unmap large blocks after every
  /// batch; measured 2-4x slower at batch 1024 on the development machines). Call once at start.
  public static func configureAllocator() throws(TorchError) { try checked(ot_runtime_configure_allocator()) }

  /// libtorch's intra-op thread count (it defaults to 1 on some machines; set it explicitly).
  public static var threads: Int { Int(ot_runtime_get_threads()) }

  public static func setThreads(_ n: Int) throws(TorchError) { try checked(ot_runtime_set_threads(Int32(n))) }

  /// Seeds libtorch's default generators (CPU and CUDA).
  public static func manualSeed(_ seed: UInt64) throws(TorchError) { try checked(ot_runtime_manual_seed(seed)) }

  /// Number of CUDA devices the linked libtorch can use (0 for a CPU-only build).
  public static var cudaDeviceCount: Int { Swift.max(0, Int(ot_runtime_cuda_device_count())) }

  /// GPU arithmetic: TF32 (10-bit mantissa inputs to convolutions and matmuls on Ampere and later)
  /// on or off, cuDNN deterministic and not benchmarking. Without a call libtorch uses TF32 for
  /// cuDNN convolutions; the CLI turns it off unless `--tf32` is given.
  public static func setCUDAMath(allowTF32: Bool) throws(TorchError) {
    try checked(ot_runtime_set_cuda_math(allowTF32 ? 1 : 0))
  }

  /// Whether TF32 is allowed for cuDNN convolutions now.
  public static var tf32Allowed: Bool { ot_runtime_tf32_allowed() == 1 }

  /// Whether the linked libtorch was built with CUDA (a device may still be missing).
  public static var hasCUDA: Bool { ot_runtime_has_cuda() == 1 }

  /// "libtorch 2.13.0, CPU only (built without CUDA)" or "libtorch 2.11.0, CUDA, 1 device(s) visible".
  public static var summary: String {
    "libtorch \(libtorchVersion), "
      + (hasCUDA ? "CUDA, \(cudaDeviceCount) device(s) visible" : "CPU only (built without CUDA)")
  }

  /// The version of the linked libtorch.
  public static var libtorchVersion: String { String(cString: ot_runtime_version()) }
}
