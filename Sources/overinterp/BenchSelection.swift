import ArgumentParser
import Audit
import Base
import Benchmarks
import Datasets
import Foundation
import Models
import SIS
import Torch

struct BenchSelection: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selection",
    abstract:
      "The gradient method, the fast method and the hybrid on the same images in one run: time per image and its multiple of the gradient method's.",
    discussion: """
      Takes the first --images images of --data (default: the embedded sample) that the model \
      predicts with confidence >= 0.5, runs each method once over all of them in lockstep (after \
      a warm-up on one image): the gradient method with --k (default 8), the fast method with the \
      selection options, its bfloat16 variant with --bf16 and its variant with the occlusion \
      rankings in bfloat16 with --bf16-rankings (both for CPUs with AMX or AVX-512 BF16), and \
      the hybrid (unless --no-hybrid). Prints seconds and model passes per image and each time as a \
      multiple of the gradient method's, with the machine; with --rounds N every method runs N \
      times, interleaved, and each prints its median time and the median of its N ratios. --reference RUN adds exact BackSelect's \
      cost per image as recorded in a finished exact run (measured there, not here).
      """)

  @OptionGroup(title: "Model") var model: ModelOptions
  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Selection method (for the fast variant)") var methodOptions: MethodOptions

  @Option(help: "Images to time (the first ones with confidence >= 0.5).")
  var images: Int = 8

  @Flag(inversion: .prefixedNo, help: "Time the hybrid too (a minute or more per image).")
  var hybrid = true

  @Flag(help: "Also time the fast method with --precision bf16 (where this CPU runs bfloat16 fast).")
  var bf16 = false

  @Flag(
    help:
      "Also time the fast method with --occlusion-precision bf16 (the occlusion rankings in bfloat16; where this CPU runs bfloat16 fast)."
  )
  var bf16Rankings = false

  @Option(
    help:
      "Rounds: every method runs once per round, the gradient method first; prints each method's median time and the median of its per-round ratios (timings on shared machines move by 30% between runs)."
  )
  var rounds: Int = 1

  @Option(help: "A finished exact run whose cost per image to print beside (e.g. experiments/reference-exact-holdout30/run).")
  var reference: String?

  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  func validate() throws {
    if images < 1 { throw ValidationError("--images must be at least 1, got \(images)") }
    if rounds < 1 { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
  }

  func run() throws {
    try runtime.apply()
    let threads = runtime.threads
    let device = runtime.resolvedDevice
    let classifier = try model.load(device: device)
    let data = try dataOptions.load(for: classifier.info)
    let (positions, description) = try ImageSelection(.confident(threshold: 0.5, correctOnly: false), maxImages: images)
      .select(data, classifier: classifier, device: device, progressLabel: nil)
    guard !positions.isEmpty else {
      throw ValidationFailure("bench selection: no image of \(data.description) is predicted with confidence >= 0.5")
    }
    let sub = data.subset(positions)
    let x = try sub.normalized(0..<sub.count, classifier.info.normalization)
    let flat = try x.floats()
    let size = sub.imageSize
    let inputs = (0..<sub.count).map { Array(flat[($0 * size)..<(($0 + 1) * size)]) }
    let classes = try withInferenceMode { try classifier.logits(try x.to(device)).argmax(dim: 1).ints() }
    let fast = methodOptions.settings(defaultMethod: .fast, defaultGroup: images, precision: .fp32)
    var fastSettings = fast
    fastSettings.method = .fast
    fastSettings = MethodOptions.rankings(of: fastSettings, on: device)
    let gradient = SelectionSettings(score: fast.score, method: .gradient, k: fast.k, group: images)
    var variants: [(String, SelectionSettings)] = [("fast", fastSettings)]
    if bf16, effectivePrecision(.bf16, device: device) == .bf16 {
      var s = fastSettings
      s.precision = .bf16
      variants.append(("fast-bf16", s))
    }
    if bf16Rankings, effectivePrecision(.bf16, device: device, flag: "--bf16-rankings") == .bf16 {
      var s = fastSettings
      s.screening?.occlusionPrecision = .bf16
      variants.append(("fast-bf16-rankings", s))
    }
    if hybrid {
      variants.append(
        (
          "hybrid",
          SelectionSettings(
            score: fast.score, method: .hybrid, k: fast.k,
            hybrid: HybridSettings(exactLast: MethodOptions.hybridExactLast), chunk: fast.chunk, group: images)
        ))
    }
    printError("bench selection: \(positions.count) image(s) of \(data.description) (\(description))")
    let timings = try selectionBenchmark(
      classifier: classifier, images: inputs, classes: classes, inputShape: data.imageShape, gradient: gradient,
      variants: variants, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, rounds: rounds,
      device: device,
      log: { printError($0) })
    for line in selectionBenchmarkLines(timings, machine: machineDescription()) { print(line) }
    if let reference {
      let store = RunStore(directory: reference)
      let manifest = try store.readManifest()
      let costs = Array(store.costs().values)
      let seconds = costs.map { Double($0.seconds) }.filter { $0 > 0 }
      let forward = costs.compactMap(\.forwardPasses).map(Double.init)
      print(
        "\(manifest.label) (\(reference), \(costs.count) image(s), as measured in that run): "
          + "\(fmt(mean(seconds), digits: 1)) s and \(fmt(mean(forward), digits: 0)) forward passes per image")
    }
  }
}
