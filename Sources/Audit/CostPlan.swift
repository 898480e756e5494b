import Analysis
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// What a backward-selection run will cost before it starts: model passes per image and in all,
/// the forward throughput measured on this machine, and the wall time on one process and on N
/// tasks of the same speed.
public struct CostPlan: Sendable {
  public var images: Int
  public var forwardPerImage: Int
  public var gradientPerImage: Int
  /// Forward passes per second of single images in batches, measured here.
  public var forwardPerSecond: Double
  public var tasks: Int
  public var label: String
  public var method: SelectionMethod
  let settings: SelectionSettings

  /// Times forward passes of up to 256 images of `data` (after a warm-up pass).
  public static func measureThroughput(_ classifier: any Classifier, data: ImageDataset, device: Device) throws -> Double {
    let n = Swift.min(256, data.count)
    guard n > 0 else { return 0 }
    _ = try predictProbabilities(classifier, on: data.subset(Array(0..<Swift.min(n, 16))), device: device)
    let start = Progress.now()
    _ = try predictProbabilities(classifier, on: data.subset(Array(0..<n)), batchSize: 128, device: device)
    return Double(n) / Swift.max(Progress.now() - start, 1e-6)
  }

  /// Where the per-image numbers come from: the method's formula, a pilot of the hybrid's
  /// gradient phase, or the images of this run that are finished.
  public enum Basis: Sendable, Equatable {
    case formula
    /// Pixels left to the exact phase, per pilot image.
    case pilot(exactPhase: [Int])
    /// Finished images: how many, their mean wall time per image.
    case finished(images: Int, secondsPerImage: Double)
  }
  public var basis: Basis

  /// The plan from the method's formula (`SelectionSettings.passesPerImage`), from a pilot of the hybrid's
  /// gradient phase (`exactPhase`: the pixels it left to the exact phase, per pilot image), or,
  /// best, from what the finished images of the run cost (`finished`, from `timings.jsonl`): their
  /// model passes and their wall time per image, measured on the machine that ran them.
  public init(
    settings: SelectionSettings, pixels: Int, images: Int, forwardPerSecond: Double, tasks: Int, exactPhase: [Int]? = nil,
    finished: [ImageCost] = []
  ) {
    // A pilot measures where the gradient phase ends; the occlusion phase's end is known.
    let piloted =
      [.hybrid, .fast].contains(settings.method) && settings.occlusionPhasePasses(pixels: pixels) == nil
      ? exactPhase.flatMap { $0.isEmpty ? nil : $0 } : nil
    let passes = settings.passesPerImage(pixels: pixels, exactPhase: piloted)
    self.settings = settings
    self.images = images
    forwardPerImage = passes.forward
    gradientPerImage = passes.gradient
    basis = piloted.map { .pilot(exactPhase: $0) } ?? .formula
    let forward = finished.compactMap(\.forwardPasses)
    if !forward.isEmpty { forwardPerImage = forward.reduce(0, +) / forward.count }
    let gradient = finished.compactMap(\.gradientPasses)
    if !gradient.isEmpty { gradientPerImage = gradient.reduce(0, +) / gradient.count }
    let timed = finished.map { Double($0.seconds) }.filter { $0 > 0 }
    if !timed.isEmpty { basis = .finished(images: timed.count, secondsPerImage: timed.reduce(0, +) / Double(timed.count)) }
    self.forwardPerSecond = forwardPerSecond
    self.tasks = Swift.max(tasks, 1)
    label = settings.label
    method = settings.method
  }

  /// Seconds on one process: the finished images' mean wall time per image where there are
  /// some, else the passes at the measured throughput, a gradient pass (forward and backward)
  /// counting as three forward passes.
  public var seconds: Double {
    if case .finished(_, let perImage) = basis { return Double(images) * perImage }
    return Double(images) * (Double(forwardPerImage) + 3 * Double(gradientPerImage)) / Swift.max(forwardPerSecond, 1e-9)
  }

  /// Progress units (candidates decided) per image as `BackSelectRunner` reports them, at the
  /// exact-phase sizes this plan expects (`SelectionSettings.progressUnits`).
  public func candidatesPerImage(pixels p: Int) -> Int {
    if case .pilot(let r) = basis { return settings.progressUnits(pixels: p, exactPhase: r) }
    return settings.progressUnits(pixels: p)
  }

  public var text: String {
    let total = Double(images) * Double(forwardPerImage)
    let source: String
    switch basis {
    case .formula:
      if (settings.screening?.occlusionShare ?? 0) > 0 && method == .fast {
        source = "when no occlusion block dips below {switchAt} "
      } else {
        source =
          method == .hybrid || method == .fast
          ? "at least, when the exact phase starts at {exactLast} pixels (a dip below {switchAt} starts it earlier) "
          : ""
      }
    case .pilot(let r):
      source =
        "on average, the exact phase measured on a pilot of \(r.count) image(s) (gradient phase only): "
        + "\(fmt(Double(r.reduce(0, +)) / Double(r.count), digits: 0)) pixels (\(r.min() ?? 0)-\(r.max() ?? 0)) "
    case .finished(let n, _):
      source = "on average over the \(n) finished image(s) "
    }
    let pace: String
    if case .finished(_, let perImage) = basis {
      pace = "\(fmt(perImage, digits: 1)) s per finished image; estimated \(Progress.duration(seconds)) for the rest at that pace"
    } else {
      pace = "\(Int(forwardPerSecond)) forward passes/s measured here; estimated \(Progress.duration(seconds)) on one process"
    }
    return SettingNames.render(
      "plan: \(images) image(s), \(label): \(forwardPerImage) forward + \(gradientPerImage) gradient passes per image "
        + source
        + "(\(fmt(total, digits: 0)) forward passes in all; exact steps that saturate end early under {score} prob, so this is an upper bound there); "
        + pace
        + (tasks > 1 ? ", \(Progress.duration(seconds / Double(tasks))) on \(tasks) tasks as fast as this machine" : ""))
  }
}
