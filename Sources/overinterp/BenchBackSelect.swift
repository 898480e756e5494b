import ArgumentParser
import Benchmarks
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

struct BenchBackSelect: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "backselect",
    abstract: "Exact BackSelect of ResNet20 on CIFAR-10 images against the paper's Python procedure, in the same run.",
    discussion: """
      Times overinterp's exact BackSelect (score prob, the reference behaviour) in several \
      evaluator configurations, with every step evaluating every candidate (full-steps, as the \
      paper's procedure) and with saturated steps ended early (the default), and bench/backselect.py (numpy masks, PyTorch batches of 128) on \
      the same images, one after the other, checks that the orders agree (up to float-noise \
      ties), and prints seconds per image and the ratios. --window W frees only a central WxW \
      window of pixels (the rest starts masked) for quicker runs; 32 is a full exact BackSelect \
      (524,801 forward passes per image).
      """)

  @Option(help: "The project's shared data folder (akamaster ResNet20 and CIFAR-10).")
  var shared: String = "../shared/data"

  @Option(help: "Test images to run.")
  var images: String = "0"

  @Option(help: "Side of the central window of free pixels (32 = the whole image).")
  var window: Int = 32

  @OptionGroup(title: "Baseline") var baseline: BaselineOptions

  @Option(help: "Chunk sizes to try for the optimized evaluator.")
  var chunks: String = "64,128"

  @Option(
    help:
      "bf16-verify variants to time, one per --verify-top value (comma-separated; `none` for none). Default: 4,8 on a CPU with AMX or AVX-512 BF16, none elsewhere (bfloat16 is slow there)."
  )
  var verifyTops: String?

  @Flag(help: "Also time plain bfloat16 (every candidate in bf16, no verification).")
  var bf16 = false

  func run() throws {
    let tops: [Int] =
      verifyTops.map { $0 == "none" ? [] : $0.split(separator: ",").compactMap { Int($0) } } ?? (cpuHasFastBF16 ? [4, 8] : [])
    if let verifyTops, verifyTops != "none", tops.isEmpty || tops.contains(where: { $0 < 1 }) {
      throw ValidationError("--verify-tops must be positive integers separated by commas, or none, got '\(verifyTops)'")
    }
    let lines = try backSelectBenchmark(
      shared: shared, images: images, window: window, chunks: chunks, baseline: baseline.settings, verifyTops: tops, bf16: bf16)
    for line in lines { print(line) }
  }
}
