import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// One method's line in `selectionBenchmark`.
public struct SelectionTiming: Sendable {
  public var name: String
  public var label: String
  /// The median over the rounds.
  public var secondsPerImage: Double
  public var cost: SelectionCost
  public var images: Int
  /// Per round: the time as a multiple of the gradient method's in the same round.
  public var ratios: [Double] = []
}

/// The selection methods on the same images in one run: the gradient method (the baseline),
/// each variant in `variants` (the fast method, the hybrid, ...), each run over all images in
/// lockstep, as `backselect --group` runs them. With `rounds` > 1 every method runs once per round,
/// the gradient method first, so each ratio compares times taken minutes apart at most; a method's
/// time is its median over the rounds, its ratios one per round.
///
/// - Parameters:
///   - images: normalized C x H x W float32 images; `classes`: the class each is scored toward.
///   - variants: (name, settings) of each method to time after the gradient baseline.
public func selectionBenchmark(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], gradient: SelectionSettings,
  variants: [(String, SelectionSettings)], threads: Int, rounds: Int = 1, device: Device = .cpu,
  log: (String) -> Void = { _ in }
) throws -> [SelectionTiming] {
  guard rounds >= 1 else { throw BenchmarkError("the rounds must be at least 1, got \(rounds)") }
  try Runtime.configureAllocator()
  try Runtime.setThreads(threads)
  let layout = FeatureLayout.pixels(inputShape)
  var out: [SelectionTiming] = []
  let twin = variants.contains { $0.1.needsBFloat16Twin } ? try bfloat16Twin(classifier) : nil
  // A warm-up pass of every code path (allocations, oneDNN kernels) on one image.
  for (_, settings) in [("gradient", gradient)] + variants {
    var s = settings
    s.hybrid?.exactLast = 16
    let selector = try Selector(settings: s, classifier: classifier, fast: twin, layout: layout, device: device)
    _ = try selector.select(images: [images[0]], classes: [classes[0]])
  }
  let methods = [("gradient", gradient)] + variants
  var seconds = [[Double]](repeating: [], count: methods.count)
  for round in 0..<rounds {
    for (m, (name, settings)) in methods.enumerated() {
      let selector = try Selector(settings: settings, classifier: classifier, fast: twin, layout: layout, device: device)
      let start = Progress.now()
      let (_, cost) = try selector.select(images: images, classes: classes)
      let perImage = (Progress.now() - start) / Double(images.count)
      seconds[m].append(perImage)
      if round == 0 {
        out.append(
          SelectionTiming(name: name, label: settings.label, secondsPerImage: perImage, cost: cost, images: images.count))
      }
      log("\(name)\(rounds > 1 ? " (round \(round + 1) of \(rounds))" : ""): \(fmt(perImage, digits: 2)) s per image")
    }
  }
  for m in out.indices {
    out[m].secondsPerImage = median(seconds[m]) ?? out[m].secondsPerImage
    out[m].ratios = zip(seconds[m], seconds[0]).map { $0 / Swift.max($1, 1e-9) }
  }
  return out
}

/// The benchmark's table: one line per method with its time as a multiple of the first's.
public func selectionBenchmarkLines(_ timings: [SelectionTiming], machine: String) -> [String] {
  guard let base = timings.first else { return [] }
  let rounds = base.ratios.count
  var lines = [
    "selection methods on the same \(base.images) image(s), one lockstep group each, \(machine)"
      + (rounds > 1 ? "; \(rounds) rounds, each method once per round: median time, median of the per-round ratios" : ""),
    "method | s per image | x gradient | forward passes per image | gradient passes per image | settings"
      + (rounds > 1 ? " | x gradient per round" : ""),
  ]
  for t in timings {
    let n = Swift.max(t.images, 1)
    let bf16 = t.cost.bf16Passes > 0 ? " (+ \(t.cost.bf16Passes / n) bf16)" : ""
    let ratio = t.ratios.isEmpty ? t.secondsPerImage / Swift.max(base.secondsPerImage, 1e-9) : median(t.ratios) ?? 0
    lines.append(
      "\(t.name) | \(fmt(t.secondsPerImage, digits: 3)) | \(fmt(ratio, digits: 1))x | "
        + "\(t.cost.forwardPasses / n)\(bf16) | \(t.cost.gradientPasses / n) | \(t.label)"
        + (rounds > 1 ? " | " + t.ratios.map { fmt($0, digits: 1) }.joined(separator: ", ") : ""))
  }
  return lines
}
