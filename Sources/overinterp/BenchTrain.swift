import ArgumentParser
import Benchmarks
import Base
import Foundation
import Models
import Torch

struct BenchTrain: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "ResNet20 training throughput (batch 128, the paper's SGD) against eager PyTorch in Python, in the same run.",
    discussion:
      "Random inputs of CIFAR-10 shape on both sides, so the model, loss, backward pass and optimizer are what is timed; bench/train.py is the baseline."
  )

  @Option(help: "Seconds to measure each side.")
  var seconds: Double = 20

  @Option(help: "Batch size.")
  var batchSize: Int = 128

  @OptionGroup(title: "Baseline") var baseline: BaselineOptions

  func run() throws {
    for line in try trainBenchmark(seconds: seconds, batchSize: batchSize, baseline: baseline.settings) { print(line) }
  }
}
