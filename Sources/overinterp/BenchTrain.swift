import ArgumentParser
import Base
import Foundation
import Models
import Torch

struct BenchTrain: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "ResNet20 training throughput (batch 128, the paper's SGD) against eager PyTorch in Python, in the same run.",
    discussion: "Random inputs of CIFAR-10 shape on both sides, so the model, loss, backward pass and optimizer are what is timed; bench/train.py is the baseline.")

  @Option(help: "Seconds to measure each side.")
  var seconds: Double = 20

  @Option(help: "Batch size.")
  var batchSize: Int = 128

  @OptionGroup var baseline: BaselineOptions

  func run() throws {
    let threadCount = baseline.threadCount
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
    let theirs = try runPythonBaseline(baseline.python, ["bench/train.py", String(threadCount), String(seconds), String(batchSize)])
      .compactMap { $0["images_per_s"] as? Double }.last
    print("ResNet20 training steps, batch \(batchSize), SGD Nesterov + weight decay, \(threadCount) thread(s), libtorch \(Runtime.libtorchVersion)")
    print("overinterp     \(fmt(ours, digits: 0)) images/s")
    if let theirs {
      print("python-eager   \(fmt(theirs, digits: 0)) images/s")
      print("ratio          \(fmt(ours / theirs))x")
    }
  }
}
