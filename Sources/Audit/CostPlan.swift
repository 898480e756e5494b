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

  /// Times forward passes of up to 256 images of `data` (after a warm-up pass).
  public static func measureThroughput(_ classifier: any Classifier, data: ImageDataset, device: Device) throws -> Double {
    let n = Swift.min(256, data.count)
    guard n > 0 else { return 0 }
    _ = try predictProbabilities(classifier, on: data.subset(Array(0..<Swift.min(n, 16))), device: device)
    let start = Progress.now()
    _ = try predictProbabilities(classifier, on: data.subset(Array(0..<n)), batchSize: 128, device: device)
    return Double(n) / Swift.max(Progress.now() - start, 1e-6)
  }

  public init(settings: SelectionSettings, pixels: Int, images: Int, forwardPerSecond: Double, tasks: Int) {
    let passes = Audit.passesPerImage(settings, pixels: pixels)
    self.images = images
    forwardPerImage = passes.forward
    gradientPerImage = passes.gradient
    self.forwardPerSecond = forwardPerSecond
    self.tasks = Swift.max(tasks, 1)
    label = settings.label
    method = settings.method
  }

  /// Seconds on one process; a gradient pass (forward and backward) counts as three forward passes.
  public var seconds: Double {
    Double(images) * (Double(forwardPerImage) + 3 * Double(gradientPerImage)) / Swift.max(forwardPerSecond, 1e-9)
  }

  public var text: String {
    let total = Double(images) * Double(forwardPerImage)
    return "plan: \(images) image(s), \(label): \(forwardPerImage) forward + \(gradientPerImage) gradient passes per image "
      + (method == .hybrid ? "at most, when the exact phase starts at --exact-last pixels " : "")
      + "(\(fmt(total, digits: 0)) forward passes in all; exact steps that saturate end early under --score prob, so this is an upper bound there); "
      + "\(Int(forwardPerSecond)) forward passes/s measured here; estimated \(Progress.duration(seconds)) on one process"
      + (tasks > 1 ? ", \(Progress.duration(seconds / Double(tasks))) on \(tasks) tasks as fast as this machine" : "")
  }
}
