import ArgumentParser
import Benchmarks
import Base
import Foundation
import Torch

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmarks that compare overinterp with PyTorch in Python on this machine.",
    subcommands: [BenchInference.self, BenchBackSelect.self, BenchSelection.self, BenchGradient.self, BenchTrain.self])
}

/// Options every benchmark shares: the thread count of both sides and the Python baseline.
struct BaselineOptions: ParsableArguments {
  @Option(help: "Threads for both sides (default: all cores).")
  var threads: Int?

  @Option(help: "Python interpreter with PyTorch for the baseline ('' to skip it).")
  var python: String = "/usr/bin/python3"

  var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

  var settings: Baseline { Baseline(threadCount: threadCount, python: python) }
}
