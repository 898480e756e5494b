import ArgumentParser
import Benchmarks
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

struct BenchGradient: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gradient",
    abstract:
      "Batched Gradient BackSelect of MobileNetV2 on ImageNet images against the same algorithm in eager PyTorch, in the same run.",
    discussion: """
      Times --iterations iterations of gradientBackSelect (k pixels masked per iteration, score \
      logprob) on a batch of --batch ImageNet images (the shared validation images, repeated if \
      needed), then bench/gradient.py doing the same in PyTorch, and prints seconds per iteration, \
      the ratio, and how many pixels of each image's first block the two agree on (they differ \
      only by the decoders' and resamplers' one-level pixel differences and float noise). A whole \
      SIS at k = 100 is about 502 iterations per 224x224 image.
      """)

  @Option(help: "The project's shared data folder (MobileNetV2 weights and ImageNet images).")
  var shared: String = "../shared/data"

  @Option(help: "Images per batch.")
  var batch: Int = 32

  @Option(help: "Pixels masked per iteration.")
  var k: Int = 100

  @Option(help: "Iterations to time (after one warm-up iteration).")
  var iterations: Int = 3

  @OptionGroup(title: "Baseline") var baseline: BaselineOptions

  func validate() throws {
    if batch < 1 || k < 1 || iterations < 1 { throw ValidationError("--batch, --k and --iterations must be at least 1") }
  }

  func run() throws {
    let lines = try gradientBenchmark(shared: shared, batch: batch, k: k, iterations: iterations, baseline: baseline.settings)
    for line in lines { print(line) }
  }
}
