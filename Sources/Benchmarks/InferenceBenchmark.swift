import Base
import Datasets
import Foundation
import Models
import Torch

/// ResNet20 forward throughput (eval mode) of overinterp variants against PyTorch in Python, in one run.
public func inferenceBenchmark(batches: String, seconds: Double, script: String = "bench/inference.py", baseline: Baseline) throws
  -> [String]
{
  let threadCount = baseline.threadCount
  let python = baseline.python
  /// Calls per second.
  func measure(_ body: () throws -> Void) throws -> Double {
    for _ in 0..<3 { try body() }
    var n = 0
    let start = Progress.now()
    var elapsed = 0.0
    repeat {
      try body()
      n += 1
      elapsed = Progress.now() - start
    } while elapsed < seconds || n < 3
    return Double(n) / elapsed
  }

  var out: [String] = []
  try Runtime.configureAllocator()
  try Runtime.setThreads(threadCount)
  let sizes = batches.split(separator: ",").compactMap { Int($0) }
  guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }) else { throw BenchmarkError("{batches} must list positive integers") }
  try Runtime.manualSeed(0)
  let net = try ResNetCIFAR(depth: .resnet20)
  let fused = try net.optimizedForInference(channelsLast: false)
  let fusedCL = try net.optimizedForInference(channelsLast: true)
  var results: [String: [Int: Double]] = [:]
  try withInferenceMode {
    for b in sizes {
      let x = try Tensor.randn([b, 3, 32, 32])
      let xl = try x.contiguous(channelsLast: true)
      results["overinterp-bn-folded", default: [:]][b] = Double(b) * (try measure { _ = try fused.logits(x) })
      results["overinterp-bn-folded-cl", default: [:]][b] = Double(b) * (try measure { _ = try fusedCL.logits(xl) })
      results["overinterp-eager", default: [:]][b] = Double(b) * (try measure { _ = try net.logits(x) })
      results["overinterp-channels-last", default: [:]][b] = Double(b) * (try measure { _ = try net.logits(xl) })
    }
  }
  let lines = try runPythonBaseline(
    python, [script, String(threadCount), sizes.map(String.init).joined(separator: ","), String(seconds)])
  for obj in lines {
    guard let v = obj["variant"] as? String, let b = obj["batch"] as? Int, let r = obj["images_per_s"] as? Double else {
      continue
    }
    results[v, default: [:]][b] = r
  }
  let variants = results.keys.sorted()
  out.append(
    "ResNet20 forward, eval mode, random input, \(threadCount) thread(s), libtorch \(Runtime.libtorchVersion); images/s")
  out.append(pad("variant", 28) + sizes.map { pad("b=\($0)", 10, left: true) }.joined())
  for v in variants {
    out.append(pad(v, 28) + sizes.map { b in pad(results[v]?[b].map { fmt($0, digits: 0) } ?? "-", 10, left: true) }.joined())
  }
  let ours = variants.filter { $0.hasPrefix("overinterp") }
  let theirs = variants.filter { $0.hasPrefix("python") }
  if !theirs.isEmpty {
    let ratios = sizes.map { b -> String in
      let best = ours.compactMap { results[$0]?[b] }.max() ?? 0
      let base = theirs.compactMap { results[$0]?[b] }.max() ?? 0
      return pad(base > 0 ? fmt(best / base) + "x" : "-", 10, left: true)
    }
    out.append(pad("best overinterp / best python", 28) + ratios.joined())
  }
  return out
}
