import Base
import Datasets
import Foundation
import SIS

/// Writes the k% pixel subsets of a backward-selection run as a dataset (`PixelSubsets`): the last
/// k% of each image's removal order, or, with `.random`, k% of its pixels drawn uniformly at
/// random (the paper's control), for the same images.
public struct SubsetsJob {
  public let store: RunStore
  public let fraction: Double
  public let kind: PixelSubsets.Kind
  public let seed: UInt64
  public let withImages: Bool

  public init(run: String, fraction: Double, kind: PixelSubsets.Kind, seed: UInt64 = 0, withImages: Bool = true) {
    store = RunStore(directory: run)
    self.fraction = fraction
    self.kind = kind
    self.seed = seed
    self.withImages = withImages
  }

  /// Writes the folder and returns its description. `embeddedSample`: the folder of the embedded
  /// sample, for runs made on it; `maskColor`: the model's dataset mean as uint8.
  @discardableResult
  public func write(to folder: String, embeddedSample: String?, maskColor: [UInt8], version: String) throws -> PixelSubsets.Info {
    let manifest = try store.readManifest()
    guard manifest.features == "pixel" else {
      throw AuditError(
        "\(store.directory): pixel subsets need a run over pixel features, this one used \(manifest.features)")
    }
    guard fraction > 0, fraction <= 1 else { throw AuditError("the fraction must be in (0, 1], got \(fraction)") }
    let records = try store.records()
    guard !records.isEmpty else { throw AuditError("\(store.directory): no finished images yet") }
    if records.count < manifest.positions.count {
      printError("subsets: \(store.directory) has \(records.count) of \(manifest.positions.count) images finished; writing those")
    }
    let data = try manifest.loadData(embeddedSample: embeddedSample)
    let p = manifest.featureCount
    let k = Swift.min(p, Int((fraction * Double(p)).rounded(.up)))
    let kept: [[Int]] = records.map { r in
      switch kind {
      case .backselect: return r.subset(fraction: fraction)
      case .random: return PixelSubsets.randomPixels(count: k, of: p, seed: seed, sourceIndex: r.sourceIndex)
      }
    }
    let info = PixelSubsets.Info(
      kind: kind, fraction: fraction, seed: kind == .random ? seed : nil, count: records.count, keptPerImage: k,
      imageShape: manifest.inputShape, classNames: data.classNames, sourcePath: manifest.data.path,
      sourceSplit: manifest.data.split.rawValue, sourceHoldout: manifest.data.holdout, sourceLabels: manifest.data.labels,
      sourceDescription: manifest.data.description, run: store.directory, runLabel: manifest.label,
      modelPaths: manifest.modelPaths,
      modelSHA256: manifest.modelSHA256, maskColor: maskColor, overinterpVersion: version)
    try PixelSubsets.write(
      info: info, source: data, positions: records.map(\.position), kept: kept, predicted: records.map(\.predicted),
      withImages: withImages, to: folder)
    return info
  }
}
