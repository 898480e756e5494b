import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

struct BenchGradient: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gradient",
    abstract: "Batched Gradient BackSelect of MobileNetV2 on ImageNet images against the same algorithm in eager PyTorch, in the same run.",
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

  @OptionGroup var baseline: BaselineOptions

  func validate() throws {
    if batch < 1 || k < 1 || iterations < 1 { throw ValidationError("--batch, --k and --iterations must be at least 1") }
  }

  func run() throws {
    let threadCount = baseline.threadCount
    try Runtime.configureAllocator()
    try Runtime.setThreads(threadCount)
    let folder = shared + "/imagenet/val_samples"
    let weights = shared + "/models/imagenet_mobilenet_v2/mobilenet_v2_1.0_224.safetensors"
    let net = try Architecture.mobilenetV2TFSame.build(classNames: (0..<1000).map { "class \($0)" })
    try net.load(stateDict: try Safetensors.read(weights).tensors, source: weights)
    let data = try ImageFolder.load(folder, preprocessing: .centralCrop(fraction: 0.875, size: 224), classNames: net.info.classNames)
    let sub = data.subset((0..<batch).map { $0 % data.count })
    let x = try net.info.normalization.apply(try sub.batch(0..<sub.count))
    let flat = try x.floats()
    let size = sub.imageSize
    let images = (0..<sub.count).map { Array(flat[($0 * size)..<(($0 + 1) * size)]) }
    let classes = try withInferenceMode { try net.logits(x).argmax(dim: 1).ints() }
    func timed(_ n: Int) throws -> (Double, [BackSelectResult]) {
      let start = Progress.now()
      let r = try gradientBackSelect(
        classifier: net, images: images, classes: classes, inputShape: [3, 224, 224], k: k, score: .logprob, maxIterations: n)
      return (Progress.now() - start, r)
    }
    _ = try timed(1)
    let (seconds, results) = try timed(iterations)
    let mine = seconds / Double(iterations)
    printError("overinterp: \(fmt(mine)) s per iteration")
    print("Batched Gradient BackSelect, MobileNetV2 (TF 'SAME'), \(batch) ImageNet image(s) of 224x224, k = \(k), \(threadCount) thread(s), score logprob")
    print("\(pad("overinterp", 24)) \(pad(fmt(mine), 9, left: true)) s/iteration  (\(fmt(mine * 50176 / Double(k) / Double(batch))) s per image for a whole SIS)")
    guard let baseline = try runPythonBaseline(baseline.python, ["bench/gradient.py", String(threadCount), String(batch), String(k), String(iterations)]).first,
      let theirs = baseline["seconds_per_iteration"] as? Double, let blocks = baseline["first_blocks"] as? [[Int]]
    else { return }
    let overlap = zip(results, blocks).map { r, b in Set(r.order.prefix(k)).intersection(b).count }
    print("\(pad("pytorch-eager-python", 24)) \(pad(fmt(theirs), 9, left: true)) s/iteration  speedup \(fmt(theirs / mine))x")
    print("first blocks: \(overlap.reduce(0, +)) of \(k * batch) pixels chosen by both (per image min \(overlap.min() ?? 0))")
  }
}
