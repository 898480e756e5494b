import ArgumentParser
import Analysis
import Audit
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Threads and device, shared by every command that runs a model.
struct RuntimeOptions: ParsableArguments {
  @Option(help: "Threads libtorch may use (default: all cores).")
  var threads: Int?

  @Option(help: "Device: cpu, cuda or cuda:N (needs a CUDA build of libtorch).")
  var device: Device = .cpu

  @Flag(
    help:
      "On a GPU, let convolutions and matmuls use TF32 (faster on Ampere and later, about 3 decimal digits): off by default, since backward selection compares scores that differ in the 8th digit."
  )
  var tf32 = false

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
  }

  var resolvedDevice: Device { device }

  /// Applies allocator, thread and device settings. Call before any tensor work.
  func apply() throws {
    try Runtime.configureAllocator()
    try Runtime.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
    try Runtime.setCUDAMath(allowTF32: tf32)
    // Fails before any work, naming the linked libtorch, when this build cannot use the device.
    if case .cuda(let i) = resolvedDevice, i >= Runtime.cudaDeviceCount {
      throw ValidationFailure(
        "--device \(device): this build links \(Runtime.summary)"
          + (Runtime.hasCUDA
            ? "; no such device"
            : "; build against a CUDA libtorch: scripts/torch-pypi.sh build with a CUDA torch wheel (docs/development.md)")
      )
    }
  }
}

/// The precision to run on `device`: the bfloat16 ones fall back to fp32 on a CPU without fast
/// bfloat16 (neither AMX nor AVX-512 BF16; said on stderr), where bfloat16 is slower than
/// float32, unless OVERINTERP_FORCE_BF16=1.
func effectivePrecision(_ precision: Precision, device: Device, flag: String = "--precision") -> Precision {
  guard precision != .fp32, device == .cpu, !cpuHasFastBF16 else { return precision }
  if ProcessInfo.processInfo.environment["OVERINTERP_FORCE_BF16"] == "1" {
    printError(
      "\(flag) \(precision.rawValue): this CPU has neither AMX nor AVX-512 BF16; running bfloat16 anyway (OVERINTERP_FORCE_BF16=1)"
    )
    return precision
  }
  printError(
    "\(flag) \(precision.rawValue): this CPU has neither AMX nor AVX-512 BF16 (no amx_bf16 or avx512_bf16 in /proc/cpuinfo), where bfloat16 is slower than float32; using fp32 (OVERINTERP_FORCE_BF16=1 forces bfloat16)"
  )
  return .fp32
}
