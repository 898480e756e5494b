import Base
import Datasets
import Foundation
import Models
import Testing
import Torch

@testable import SIS

func tinyData(_ n: Int, size: Int = 6, seed: UInt64) -> ImageDataset {
  var state = seed
  let px = (0..<(n * 3 * size * size)).map { _ -> UInt8 in
    state = state &* 6364136223846793005 &+ 1442695040888963407
    return UInt8(truncatingIfNeeded: state >> 56)
  }
  return ImageDataset(
    pixels: px, labels: (0..<n).map { $0 % 10 }, imageShape: [3, size, size], classNames: (0..<10).map { "c\($0)" },
    description: "tiny")
}

func manifest(
  _ data: ImageDataset, positions: [Int], score: SelectionScore, group: Int, method: SelectionMethod = .exact, k: Int? = nil,
  hybrid: HybridSettings? = nil, shard: Shard = .whole
) -> RunManifest {
  RunManifest(
    modelPaths: ["m"], modelSHA256: ["0"], architecture: "resnet20",
    data: DataRecord(path: "tiny", split: .test, holdout: 0, description: "tiny"), selection: "test", positions: positions,
    sourceIndices: positions, inputShape: data.imageShape, features: "pixel",
    featureCount: data.imageShape[1] * data.imageShape[2],
    settings: SelectionSettings(score: score, method: method, k: k, hybrid: hybrid, chunk: 16, group: group), shard: shard,
    overinterpVersion: "test", libtorchVersion: "test", device: "cpu")
}

@Suite(.serialized) struct StoreTests {
  /// Gradient and hybrid runs record what they cost, like exact runs: on 6x6 images with k = 8 a
  /// gradient run takes ceil(36 / 8) = 5 gradient passes and one closing forward pass per image;
  /// a hybrid run whose switch level (1.0) is above every probability switches at once, after one
  /// gradient pass, and its exact phase costs 36 * 37 / 2 forward passes.
  @Test func gradientAndHybridRunsRecordTheirCost() throws {
    let net = try Generator.seeded(1) { try Architecture.resnet20.build(inputSize: 6) }
    let data = tinyData(4, seed: 5)
    func timings(method: SelectionMethod, switchProbability: Double?) throws -> [Substring] {
      let dir = NSTemporaryDirectory() + "/store-cost-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let m = manifest(
        data, positions: [0, 1, 2], score: .logprob, group: 3, method: method, k: 8,
        hybrid: switchProbability.map { HybridSettings(switchAt: $0, exactLast: 0, onDip: .switch, switchCap: .none) })
      let runner = try BackSelectRunner(
        classifier: net, dataset: data, manifest: m, store: RunStore(directory: dir), layout: .pixels([3, 6, 6]), maskValue: nil,
        device: .cpu)
      try runner.prepare(resume: false)
      try runner.run()
      return try String(contentsOfFile: dir + "/timings.jsonl", encoding: .utf8).split(separator: "\n")
    }
    let gradient = try timings(method: .gradient, switchProbability: nil)
    #expect(gradient.count == 1)
    #expect(gradient[0].contains("\"forward_passes_per_image\": 1, \"gradient_passes_per_image\": 5"), "\(gradient)")
    let hybrid = try timings(method: .hybrid, switchProbability: 1.0)
    #expect(hybrid.count == 1)
    #expect(hybrid[0].contains("\"forward_passes_per_image\": 666, \"gradient_passes_per_image\": 1"), "\(hybrid)")
  }

  /// A manifest naming a method, score or dip policy this version does not know is refused when
  /// read, with the file and the values it knows (an unknown method once ran as exact).
  @Test func manifestWithAnUnknownMethodIsRefused() throws {
    let data = tinyData(1, seed: 2)
    for (field, value, known) in [
      ("method", "gradiant", "exact, gradient, hybrid"), ("score", "logit", "prob, logprob, margin"),
      ("onDip", "skip", "switch, set-aside"), ("switchCap", "half", "none, confidence"),
    ] {
      let dir = NSTemporaryDirectory() + "/store-bad-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
      defer { try? FileManager.default.removeItem(atPath: dir) }
      // A valid hybrid manifest with one recorded value replaced by an unknown one.
      let m = manifest(data, positions: [0], score: .logprob, group: 1, method: .hybrid, k: 8, hybrid: HybridSettings())
      let store = RunStore(directory: dir)
      try store.writeManifest(m)
      var json = try #require(
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: store.manifestPath))) as? [String: Any])
      json[field] = value
      try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: store.manifestPath))
      #expect {
        try store.readManifest()
      } throws: { error in
        let text = "\(error)"
        return text.contains(store.manifestPath) && text.contains("'\(value)'") && text.contains(known)
      }
    }
  }

  @Test func storedRunsGiveTheSameSISAsDirectComputation() throws {
    let net = try Generator.seeded(1) { try Architecture.resnet20.build(inputSize: 6) }
    let data = tinyData(5, seed: 3)
    let dir = NSTemporaryDirectory() + "/store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let m = manifest(data, positions: [4, 0, 2], score: .logprob, group: 2)
    let runner = try BackSelectRunner(
      classifier: net, dataset: data, manifest: m, store: RunStore(directory: dir), layout: .pixels([3, 6, 6]), maskValue: nil,
      device: .cpu)
    try runner.prepare(resume: false)
    try runner.run()
    let records = try RunStore(directory: dir).records()
    #expect(records.map(\.position) == [4, 0, 2])
    // logprob of a random 10-class network stays well below its ceiling: every step evaluates
    // every candidate, 36 * 37 / 2 forward passes per image, recorded beside the wall time.
    let timings = try String(contentsOfFile: dir + "/timings.jsonl", encoding: .utf8).split(separator: "\n")
    #expect(timings.count == 2)
    #expect(timings.allSatisfy { $0.contains("\"forward_passes_per_image\": 666") }, "\(timings)")

    // Direct: one image at a time, straight from the algorithm.
    for r in records {
      let x = try net.info.normalization.apply(try data.subset([r.position]).batch(0..<1))
      let probs = try withNoGrad { try net.probabilities(x).floats() }
      let c = probs.indices.max { probs[$0] < probs[$1] } ?? 0
      #expect(c == r.predicted)
      #expect(Swift.abs(probs[c] - r.confidence) < 1e-6)
      let scorer = try ClassifierScorer(
        classifier: net, images: [try x.floats()], classes: [c], layout: .pixels([3, 6, 6]), score: .logprob, chunk: 16)
      let direct = try backSelect(problems: 1, featureCount: 36, scorer: scorer)[0]
      #expect(direct.order == r.order)
      for tau: Float in [0.1, 0.2, 0.3] {
        #expect(
          findSIS(order: direct.order, values: direct.values, fullInput: probs[c], threshold: tau)
            == findSIS(order: r.order, values: r.values, fullInput: r.confidence, threshold: tau))
      }
    }
  }

  @Test func ensemblesRunThroughTheSamePipeline() throws {
    let a = try Generator.seeded(2) { try Architecture.resnet20.build(inputSize: 6) }
    let b = try Generator.seeded(3) { try Architecture.resnet20.build(inputSize: 6) }
    let ensemble = try Ensemble([a, b])
    let data = tinyData(2, seed: 9)
    let x = try ensemble.info.normalization.apply(try data.batch(0..<2))
    let flat = try x.floats()
    let images = [Array(flat[0..<108]), Array(flat[108..<216])]
    let classes = try withNoGrad { try ensemble.logits(x).argmax(dim: 1).ints() }
    let scorer = try ClassifierScorer(
      classifier: ensemble, images: images, classes: classes, layout: .pixels([3, 6, 6]), score: .prob, chunk: 10)
    let results = try backSelect(problems: 2, featureCount: 36, scorer: scorer)
    // The last recorded value is f on the fully masked image: the ensemble's softmax of the mean logits.
    let blank = try Tensor.zeros([1, 3, 6, 6])
    let meanLogits = try withNoGrad { try (a.logits(blank) + b.logits(blank)) / 2 }
    let p = try NN.softmax(meanLogits, dim: 1).floats()
    for k in 0..<2 {
      #expect(Swift.abs((results[k].values.last ?? -1) - p[classes[k]]) < 1e-6)
      #expect(Set(results[k].order) == Set(0..<36))
    }
  }

  @Test func mergeRefusesDisagreeingManifests() throws {
    let data = tinyData(2, seed: 4)
    let base = NSTemporaryDirectory() + "/merge-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: base) }
    try RunStore(directory: base + "/a").writeManifest(
      manifest(data, positions: [0, 1], score: .prob, group: 1, shard: Shard(index: 0, count: 2)))
    try RunStore(directory: base + "/b").writeManifest(
      manifest(data, positions: [0, 1], score: .logprob, group: 1, shard: Shard(index: 1, count: 2)))
    do {
      _ = try RunStore.merge(
        [RunStore(directory: base + "/a"), RunStore(directory: base + "/b")], into: RunStore(directory: base + "/out"))
      Issue.record("merged runs with different scores")
    } catch let e as SISError {
      #expect(e.description.contains("score"))
    }
  }

  /// A run resumed with the data path spelled another way (relative where it was absolute) is the
  /// same run: its description (prose with the path as typed) is not compared; the path, split and
  /// holdout are.
  @Test func resumeComparesTheDataNotItsDescription() {
    let data = tinyData(2, seed: 5)
    let a = manifest(data, positions: [0, 1], score: .logprob, group: 1)
    var b = a
    b.data.description = "tiny (../tiny)"
    #expect(a.differences(from: b).isEmpty)
    b.data.holdout = 7
    #expect(a.differences(from: b) == ["data.holdout (\(a.data.holdout) vs 7)"])
  }

  /// New runs record the model's normalization (the masked pixels' colour for a TorchScript
  /// model, whose file says nothing about it); a run started before that resumes, and two
  /// recorded normalizations that differ are a difference.
  @Test func manifestRecordsTheNormalization() throws {
    let data = tinyData(2, seed: 5)
    var old = manifest(data, positions: [0, 1], score: .logprob, group: 1)
    var new = old
    new.normalization = Normalization.imagenet.description
    let decoded = try JSONDecoder().decode(RunManifest.self, from: try JSONEncoder().encode(new))
    #expect(decoded.normalization == Normalization.imagenet.description)
    #expect(decoded == new)
    #expect(try JSONDecoder().decode(RunManifest.self, from: try JSONEncoder().encode(old)).normalization == nil)
    #expect(new.differences(from: old).isEmpty && old.differences(from: new).isEmpty)
    old.normalization = Normalization.cifar10.description
    #expect(new.differences(from: old).map { $0.hasPrefix("input.normalization") } == [true])
    var bad = new
    bad.normalization = "1,2/3"
    #expect(throws: SISError.self) { try JSONDecoder().decode(RunManifest.self, from: try JSONEncoder().encode(bad)) }
  }
}

/// A fast run's screening settings survive the manifest; a manifest written before a setting
/// existed reads it as off, and a differing setting is named.
@Suite struct ScreeningManifestTests {
  func fastManifest(_ screening: ScreeningSettings) -> RunManifest {
    var m = manifest(
      tinyData(2, seed: 5), positions: [0, 1], score: .logprob, group: 1, method: .fast, k: 8,
      hybrid: HybridSettings(switchAt: 0.999, exactLast: 16, onDip: .switch, switchCap: .confidence))
    m.settings.screening = screening
    return m
  }

  /// Round-trips `m`, and returns the value recorded under `key` and `m` as read from its JSON
  /// without that key (a manifest written before the key existed).
  func recordedAndWithout(_ m: RunManifest, key: String) throws -> (value: Any?, old: RunManifest) {
    let encoded = try JSONEncoder().encode(m)
    #expect(try JSONDecoder().decode(RunManifest.self, from: encoded) == m)
    var json = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
    let value = json[key]
    json[key] = nil
    return (value, try JSONDecoder().decode(RunManifest.self, from: try JSONSerialization.data(withJSONObject: json)))
  }

  @Test func screeningSettingsRoundTripAndOldManifestsReadAsNoWidening() throws {
    let m = fastManifest(ScreeningSettings(top: 4, radius: 1, refresh: 16, fullBelow: 8, occlusionShare: 0.5, widen: 3))
    let (value, old) = try recordedAndWithout(m, key: "screenWiden")
    #expect(value as? Int == 3)
    #expect(old.settings.screening?.widen == 0)
    #expect(old.differences(from: m) == ["selection.screening.widen (0 vs 3)"])
  }

  @Test func theOcclusionRankingSettingsRoundTripAndOldManifestsReadAsOff() throws {
    let rerank = fastManifest(ScreeningSettings(occlusionRerank: 0.5, occlusionPool: 0))
    let (share, old) = try recordedAndWithout(rerank, key: "occlusionRerank")
    #expect(share as? Double == 0.5)
    #expect(old.settings.screening?.occlusionRerank == 0)
    #expect(old.differences(from: rerank) == ["selection.screening.occlusionRerank (0 vs 0.5)"])
    let pool = fastManifest(ScreeningSettings(occlusionPool: 4))
    let (size, unpooled) = try recordedAndWithout(pool, key: "occlusionPool")
    #expect(size as? Int == 4)
    #expect(unpooled.differences(from: pool) == ["selection.screening.occlusionPool (0 vs 4)"])
    // Screening settings as an audit.json recorded them before widening or re-ranking existed.
    let recorded = #"{"top": 12, "radius": 0, "refresh": 32, "fullBelow": 32, "occlusionShare": 0.5}"#
    let s = try JSONDecoder().decode(ScreeningSettings.self, from: Data(recorded.utf8))
    #expect(s == ScreeningSettings(top: 12, radius: 0, refresh: 32, fullBelow: 32, occlusionShare: 0.5, occlusionPool: 0))
    // Pooling is the default now, so such an old run differs from today's defaults in the pool.
    #expect(s.occlusionPool == 0 && ScreeningSettings().occlusionPool == 4)
  }

  @Test func theOcclusionPrecisionRoundTripsAndOldManifestsReadAsFloat32() throws {
    let bf16 = fastManifest(ScreeningSettings(occlusionPrecision: .bf16))
    #expect(bf16.settings.needsBFloat16Twin)
    #expect(bf16.settings.label.contains("rankings in bf16"))
    let (value, old) = try recordedAndWithout(bf16, key: "occlusionPrecision")
    #expect(value as? String == "bf16")
    #expect(old.settings.screening?.occlusionPrecision == .fp32)
    #expect(!old.settings.needsBFloat16Twin && !old.settings.label.contains("bf16"))
    #expect(old.differences(from: bf16) == ["selection.screening.occlusionPrecision (\"fp32\" vs \"bf16\")"])
    // float32 rankings are not written, so manifests of runs without the option are as before.
    let plain = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(fastManifest(ScreeningSettings())))
    #expect((plain as? [String: Any])?["occlusionPrecision"] == nil)
    // bf16-verify hides scores the rankings need; without an occlusion phase there is nothing to rank.
    #expect(ScreeningSettings(occlusionPrecision: .bf16Verify).problems().count == 1)
    #expect(!ScreeningSettings(occlusionShare: 0, occlusionPrecision: .bf16).ranksInBFloat16)
    var json = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(bf16)) as? [String: Any])
    json["occlusionPrecision"] = "bf8"
    #expect(throws: (any Error).self) {
      try JSONDecoder().decode(RunManifest.self, from: try JSONSerialization.data(withJSONObject: json))
    }
  }
}

/// A full disk (a small tmpfs; needs root to mount one, skipped otherwise): the run stops with an
/// error that names the file and says "No space left on device", keeps every shard it finished
/// with its timing line, and once space is freed resumes to the results of an uninterrupted run,
/// counting each image's cost once. A PNG written there fails with the OS reason too.
@Suite(.serialized) struct FullDiskTests {
  static func mount(_ point: String, size: String) -> Bool {
    guard getuid() == 0 else { return false }
    try? FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/mount")
    p.arguments = ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", point]
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
  }

  static func unmount(_ point: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/umount")
    p.arguments = [point]
    try? p.run()
    p.waitUntilExit()
    try? FileManager.default.removeItem(atPath: point)
  }

  /// Fills the file system of `dir` with `filler` until a write fails.
  static func fill(_ filler: String) {
    let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    defer { close(fd) }
    let chunk = [UInt8](repeating: 7, count: 4096)
    while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
  }

  @Test func aFullDiskLosesNoFinishedShardAndResumesToTheSameResults() throws {
    let point = NSTemporaryDirectory() + "/store-full-\(getpid())"
    guard Self.mount(point, size: "1m") else { return }  // not root, or no tmpfs here
    defer { Self.unmount(point) }
    let net = try Generator.seeded(1) { try Architecture.resnet20.build(inputSize: 6) }
    let data = tinyData(6, seed: 5)
    let m = manifest(data, positions: Array(0..<6), score: .logprob, group: 1)
    func runner(_ dir: String) throws -> BackSelectRunner {
      try BackSelectRunner(
        classifier: net, dataset: data, manifest: m, store: RunStore(directory: dir), layout: .pixels([3, 6, 6]), maskValue: nil,
        device: .cpu)
    }
    let reference = NSTemporaryDirectory() + "/store-full-reference-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: reference) }
    let straight = try runner(reference)
    try straight.prepare(resume: false)
    try straight.run()

    // Room for the manifest, the timing lines and one or two shards (tmpfs counts 4 KiB pages).
    let dir = point + "/run"
    let full = try runner(dir)
    try full.prepare(resume: false)
    let reserve = point + "/reserve"
    try writeFileAtomically([UInt8](repeating: 1, count: 8192), to: reserve)
    Self.fill(point + "/filler")
    try FileManager.default.removeItem(atPath: reserve)
    #expect {
      try full.run()
    } throws: { error in
      "\(error)".contains("No space left on device") && "\(error)".contains(dir)
    }
    let store = RunStore(directory: dir)
    let finished = store.finishedGroups()
    #expect(!finished.isEmpty && finished.count < 6, "\(finished)")
    #expect(Set(store.costs().keys) == Set(finished.flatMap { m.positions(ofGroup: $0) }))
    #expect(throws: FileFormatError.self) {
      try ImageIO.writePNG([0, 0, 0], width: 1, height: 1, channels: 3, to: point + "/x.png")
    }
    do {
      try ImageIO.writePNG([0, 0, 0], width: 1, height: 1, channels: 3, to: point + "/x.png")
    } catch {
      #expect("\(error)".contains("No space left on device"), "\(error)")
    }

    // Space again: the same command resumes and ends where the uninterrupted run did.
    try FileManager.default.removeItem(atPath: point + "/filler")
    let resumed = try runner(dir)
    try resumed.prepare(resume: true)
    try resumed.run()
    let a = try RunStore(directory: reference).records()
    let b = try store.records()
    #expect(a.map(\.order) == b.map(\.order) && a.map(\.values) == b.map(\.values))
    #expect(store.costs().count == 6)
  }
}
