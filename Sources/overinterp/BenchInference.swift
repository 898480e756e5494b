import ArgumentParser
import Benchmarks
import Base
import Datasets
import Foundation
import Models
import Torch

struct BenchInference: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inference",
    abstract: "ResNet20 forward throughput (eval mode) against PyTorch in Python, in the same run.",
    discussion: """
      Runs overinterp's ResNet20 (NCHW and channels-last) at each batch size, then \
      bench/inference.py with the given Python (eager and a frozen, optimized TorchScript graph), \
      one after the other so they do not compete for cores, and prints images/s and the ratio of \
      the best overinterp variant to the best Python variant.
      """)

  @Option(help: "Comma-separated batch sizes.")
  var batches: String = "1,64,256,1024"

  @Option(help: "Seconds to measure each variant at each batch size.")
  var seconds: Double = 3

  @OptionGroup(title: "Baseline") var baseline: BaselineOptions

  @Option(help: "The baseline script.")
  var script: String = "bench/inference.py"

  func run() throws {
    for line in try inferenceBenchmark(batches: batches, seconds: seconds, script: script, baseline: baseline.settings) {
      print(line)
    }
  }
}
