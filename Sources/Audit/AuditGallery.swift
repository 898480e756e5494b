import Analysis
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Stage 3's pictures: the SIS gallery and, for an ensemble, its members' SIS beside its own.
extension Audit {
  /// A seeded sample of up to two images per class: image | SIS at τ | the SIS alone (Figure 1).
  @discardableResult
  func writeGallery(records: [ImageRecord], data: ImageDataset, manifest: RunManifest, threshold: Double) throws -> [ImageRecord]
  {
    var shown: [ImageRecord] = []
    let layout = try FeatureLayout(parsing: manifest.features, inputShape: manifest.inputShape)
    var rng = SplitMix64(seed: settings.seed, stream: 1)
    var byClass: [Int: [ImageRecord]] = [:]
    for r in records where r.sis(at: threshold).features != nil { byClass[r.predicted, default: []].append(r) }
    for c in byClass.keys.sorted() {
      var list = byClass[c] ?? []
      list.shuffle(using: &rng)
      for r in list.prefix(2) {
        try drawSIS(
          data: data, position: r.position, features: r.sis(at: threshold).features ?? [], layout: layout,
          to: resultsFolder + "/gallery-class\(c)-position\(r.position).png")
        shown.append(r)
      }
    }
    return shown
  }

  /// Each member's backward selection of the gallery images, and one row per image: the image,
  /// the ensemble's SIS, then each member's SIS at `threshold` (an empty tile where a member's
  /// confidence is below it).
  func writeMemberComparison(
    gallery: [ImageRecord], members: [(file: ModelFile, network: any Classifier)], data: ImageDataset, manifest: RunManifest,
    threshold: Double, device: Device
  ) throws {
    guard !gallery.isEmpty else { return }
    let layout = try FeatureLayout(parsing: manifest.features, inputShape: manifest.inputShape)
    var settings = selectionSettings
    settings.group = Swift.max(1, Swift.min(gallery.count, settings.group))
    var memberSIS: [[Int: [Int]]] = []
    let fm = FileManager.default
    let hasRun = { (folder: String) in fm.fileExists(atPath: folder + "/manifest.json") }
    for (i, member) in members.enumerated() {
      // An interim snapshot's gallery is drawn from the images finished so far, so its members'
      // runs go beside it (interim/members/). A later gallery may hold other images: the earlier
      // run is moved aside (`.old`) and the new one copies the images they share.
      let target = (interim ? folder + "/interim" : folder) + "/members/member-\(i)"
      let old = target + ".old"
      var job = try BackSelectJob(
        classifier: member.network, models: [member.file], data: data,
        dataRecord: manifest.data, positions: gallery.map(\.position), selection: "the audit's gallery", layout: layout,
        maskValue: .mean, settings: settings, device: device, out: target, version: manifest.overinterpVersion)
      if hasRun(target), !(try RunStore(directory: target).readManifest().differences(from: job.manifest)).isEmpty {
        try? fm.removeItem(atPath: old)
        try fm.moveItem(atPath: target, toPath: old)
      }
      for source in [old, folder + "/interim/members/member-\(i)"] where source != target && hasRun(source) {
        _ = try? job.reuse([source])  // only saves time: the images are selected otherwise
      }
      try job.prepare(resume: true)
      try job.run()
      try? fm.removeItem(atPath: old)
      let records = try job.store.records()
      memberSIS.append(
        Dictionary(records.map { ($0.position, $0.sis(at: threshold).features ?? []) }, uniquingKeysWith: { a, _ in a }))
    }
    for r in gallery {
      let rows = [r.sis(at: threshold).features ?? []] + memberSIS.map { $0[r.position] ?? [] }
      try drawSISComparison(
        data: data, position: r.position, sis: rows, layout: layout, to: resultsFolder + "/ensemble-position\(r.position).png")
    }
  }
}
