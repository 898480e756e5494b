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
  public var secondsPerImage: Double
  public var cost: SelectionCost
  public var images: Int
}

/// The selection methods on the same images in one run: the gradient method (the baseline),
/// each variant in `variants` (the fast method, the hybrid, ...), each run once over all images
/// in lockstep, as `backselect --group` runs them. Prints, per method, seconds and model passes
/// per image and the time as a multiple of the gradient method's.
///
/// - Parameters:
///   - images: normalized C x H x W float32 images; `classes`: the class each is scored toward.
///   - variants: (name, settings) of each method to time after the gradient baseline.
public func selectionBenchmark(
  classifier: any Classifier, images: [[Float]], classes: [Int], inputShape: [Int], gradient: SelectionSettings,
  variants: [(String, SelectionSettings)], threads: Int, device: Device = .cpu, log: (String) -> Void = { _ in }
) throws -> [SelectionTiming] {
  try Runtime.configureAllocator()
  try Runtime.setThreads(threads)
  let layout = FeatureLayout.pixels(inputShape)
  var out: [SelectionTiming] = []
  let twin = variants.contains { $0.1.precision != .fp32 } ? try bfloat16Twin(classifier) : nil
  // A warm-up pass of every code path (allocations, oneDNN kernels) on one image.
  for (_, settings) in [("gradient", gradient)] + variants {
    var s = settings
    s.hybrid?.exactLast = 16
    let selector = try Selector(settings: s, classifier: classifier, fast: twin, layout: layout, device: device)
    _ = try selector.select(images: [images[0]], classes: [classes[0]])
  }
  for (name, settings) in [("gradient", gradient)] + variants {
    let selector = try Selector(settings: settings, classifier: classifier, fast: twin, layout: layout, device: device)
    let start = Progress.now()
    let (_, cost) = try selector.select(images: images, classes: classes)
    let seconds = (Progress.now() - start) / Double(images.count)
    out.append(
      SelectionTiming(name: name, label: settings.label, secondsPerImage: seconds, cost: cost, images: images.count))
    log("\(name): \(fmt(seconds, digits: 2)) s per image")
  }
  return out
}

/// The benchmark's table: one line per method with its time as a multiple of the first's.
public func selectionBenchmarkLines(_ timings: [SelectionTiming], machine: String) -> [String] {
  guard let base = timings.first else { return [] }
  var lines = [
    "selection methods on the same \(base.images) image(s), one lockstep group each, \(machine)",
    "method | s per image | x gradient | forward passes per image | gradient passes per image | settings",
  ]
  for t in timings {
    let n = Swift.max(t.images, 1)
    let bf16 = t.cost.bf16Passes > 0 ? " (+ \(t.cost.bf16Passes / n) bf16)" : ""
    lines.append(
      "\(t.name) | \(fmt(t.secondsPerImage, digits: 3)) | \(fmt(t.secondsPerImage / Swift.max(base.secondsPerImage, 1e-9), digits: 1))x | "
        + "\(t.cost.forwardPasses / n)\(bf16) | \(t.cost.gradientPasses / n) | \(t.label)")
  }
  return lines
}
