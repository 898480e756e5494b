import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Batched Gradient BackSelect of MobileNetV2 on ImageNet images against eager PyTorch, in one run.
public func gradientBenchmark(shared: String, batch: Int, k: Int, iterations: Int, baseline: Baseline) throws -> [String] {
  let threadCount = baseline.threadCount
  let python = baseline.python
  var out: [String] = []
  try Runtime.configureAllocator()
  try Runtime.setThreads(threadCount)
  let folder = shared + "/imagenet/val_samples"
  let weights = shared + "/models/imagenet_mobilenet_v2/mobilenet_v2_1.0_224.safetensors"
  let net = try Architecture.mobilenetV2TFSame.build(classNames: (0..<1000).map { "class \($0)" })
  try net.load(stateDict: try Safetensors.read(weights).tensors, source: weights)
  let data = try ImageFolder.load(
    folder, preprocessing: .centralCrop(fraction: 0.875, size: 224), classNames: net.info.classNames)
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
  out.append(
    "Batched Gradient BackSelect, MobileNetV2 (TF 'SAME'), \(batch) ImageNet image(s) of 224x224, k = \(k), \(threadCount) thread(s), score logprob"
  )
  out.append(
    "\(pad("overinterp", 24)) \(pad(fmt(mine), 9, left: true)) s/iteration  (\(fmt(mine * 50176 / Double(k) / Double(batch))) s per image for a whole SIS)"
  )
  guard
    let result = try runPythonBaseline(
      python, ["bench/gradient.py", String(threadCount), String(batch), String(k), String(iterations)]
    ).first,
    let theirs = result["seconds_per_iteration"] as? Double, let blocks = result["first_blocks"] as? [[Int]]
  else { return out }
  let overlap = zip(results, blocks).map { r, b in Set(r.order.prefix(k)).intersection(b).count }
  out.append(
    "\(pad("pytorch-eager-python", 24)) \(pad(fmt(theirs), 9, left: true)) s/iteration  speedup \(fmt(theirs / mine))x")
  out.append(
    "first blocks: \(overlap.reduce(0, +)) of \(k * batch) pixels chosen by both (per image min \(overlap.min() ?? 0))")
  return out
}
