import Base
import Foundation
import Models
import Torch

/// ResNet20 training throughput (the paper's SGD) against eager PyTorch in Python, in one run.
public func trainBenchmark(seconds: Double, batchSize: Int, baseline: Baseline) throws -> [String] {
  let threadCount = baseline.threadCount
  let python = baseline.python
  var out: [String] = []
  try Runtime.configureAllocator()
  try Runtime.setThreads(threadCount)
  try Runtime.manualSeed(0)
  let net = try Architecture.resnet20.build()
  let opt = try SGD(parameters: net.parameters(), learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
  let xs = try (0..<4).map { _ in try Tensor.randn([batchSize, 3, 32, 32]) }
  let ys = try (0..<4).map { _ in try Tensor.randint(0, 10, [batchSize]) }
  func step(_ i: Int) throws {
    let loss = try NN.crossEntropy(try net.logits(xs[i % 4], training: true), targets: ys[i % 4])
    try opt.zeroGrad()
    try loss.backward()
    try opt.step()
    _ = try loss.item()
  }
  for i in 0..<3 { try step(i) }
  var n = 0
  let start = Progress.now()
  while Progress.now() - start < seconds || n < 3 {
    try step(n)
    n += 1
  }
  let ours = Double(n * batchSize) / (Progress.now() - start)
  let theirs = try runPythonBaseline(python, ["bench/train.py", String(threadCount), String(seconds), String(batchSize)])
    .compactMap { $0["images_per_s"] as? Double }.last
  out.append(
    "ResNet20 training steps, batch \(batchSize), SGD Nesterov + weight decay, \(threadCount) thread(s), libtorch \(Runtime.libtorchVersion)"
  )
  out.append("overinterp     \(fmt(ours, digits: 0)) images/s")
  if let theirs {
    out.append("python-eager   \(fmt(theirs, digits: 0)) images/s")
    out.append("ratio          \(fmt(ours / theirs))x")
  }
  return out
}
