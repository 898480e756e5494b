import Base
import Datasets
import Foundation
import Torch

/// The backward selection of one image, as stored.
public struct ImageRecord: Sendable, Equatable {
  public var position: Int
  public var sourceIndex: Int
  public var label: Int
  public var predicted: Int
  /// f(x): the probability of `predicted` on the full image.
  public var confidence: Float
  public var order: [Int]
  public var values: [Float]
  public var scores: [Float]
  public var exactTies: Int
  public var nearTies: Int
  public var seconds: Float

  public init(
    position: Int, sourceIndex: Int, label: Int, predicted: Int, confidence: Float, order: [Int], values: [Float],
    scores: [Float],
    exactTies: Int, nearTies: Int, seconds: Float
  ) {
    self.position = position
    self.sourceIndex = sourceIndex
    self.label = label
    self.predicted = predicted
    self.confidence = confidence
    self.order = order
    self.values = values
    self.scores = scores
    self.exactTies = exactTies
    self.nearTies = nearTies
    self.seconds = seconds
  }
}

extension ImageRecord {
  /// The last `fraction` of the removal order (the paper's k% backward-selection subset).
  public func subset(fraction: Double) -> [Int] { backSelectSubset(order: order, fraction: fraction) }
}

/// A run folder: `manifest.json` plus one `shard-GGGGGG.npz` per finished group of images. Each
/// shard holds numpy arrays `position`, `source_index`, `label`, `predicted` (int64),
/// `confidence` (float32), `order` (uint16, images x features), `values` and `scores` (float32,
/// images x features), `exact_ties` and `near_ties` (int64). Shards are written to a temporary
/// name and renamed, so a folder never holds half a shard; they hold no timings, so the same
/// run gives byte-identical shards. Wall times go to `timings.jsonl`, one line per group.
public struct RunStore {
  public let directory: String

  public init(directory: String) { self.directory = directory }

  public var manifestPath: String { directory + "/manifest.json" }

  public func shardPath(group: Int) -> String { directory + "/shard-" + String(format: "%06d", group) + ".npz" }

  public func readManifest() throws -> RunManifest {
    guard let data = FileManager.default.contents(atPath: manifestPath) else {
      throw SISError.store("\(directory): no manifest.json; not a backselect run folder")
    }
    return try Self.parseManifest(data, path: manifestPath)
  }

  /// Parses the bytes of a `manifest.json`; `path` names it in errors.
  public static func parseManifest(_ data: Data, path: String) throws -> RunManifest {
    do { return try JSONDecoder().decode(RunManifest.self, from: data) } catch let e as SISError {
      throw SISError.store("\(path): \(e)")
    } catch DecodingError.keyNotFound(let key, _) {
      throw SISError.store("\(path): the manifest has no field '\(key.stringValue)'")
    } catch {
      throw SISError.store("\(path): unreadable manifest (\(error))")
    }
  }

  public func writeManifest(_ m: RunManifest) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeFileAtomically(Array(try e.encode(m)) + [0x0a], to: manifestPath)
  }

  /// Groups whose shard file exists.
  public func finishedGroups() -> Set<Int> {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return Set(
      names.compactMap { n -> Int? in
        guard n.hasPrefix("shard-"), n.hasSuffix(".npz") else { return nil }
        return Int(n.dropFirst(6).dropLast(4))
      })
  }

  /// `cost`: what BackSelect spent on the group, written to `timings.jsonl` per image as
  /// `forward_passes_per_image` (float32) and, where they were run, `gradient_passes_per_image`,
  /// `bf16_passes_per_image`, and for bf16-verify the steps decided in the group and those where
  /// the bfloat16 best was picked (`verified_steps`, `bf16_best_picked`); for the fast method the
  /// screened and full exact steps (`screened_steps`, `full_steps`), and with `--screen-check` the
  /// screened steps checked against a full step and how many picks were within the full step's
  /// best n (`checked_steps`, `pick_within_best`). `reused`: how many of the records were copied
  /// from another run (`ReusedRecords`); the pass counts are then per image selected here, the
  /// seconds per image the group's whole cost (here and there) over all its images, and the line
  /// says `"reused": n`.
  public func writeShard(group: Int, records: [ImageRecord], cost: SelectionCost? = nil, reused: Int = 0) throws {
    let n = records.count
    let p = records.first?.order.count ?? 0
    guard p <= Int(UInt16.max) + 1 else { throw SISError.store("more than 65,536 features do not fit uint16 orders") }
    let arrays: [(String, NpyArray)] = [
      ("position", NpyArray(records.map { Int64($0.position) }, shape: [n])),
      ("source_index", NpyArray(records.map { Int64($0.sourceIndex) }, shape: [n])),
      ("label", NpyArray(records.map { Int64($0.label) }, shape: [n])),
      ("predicted", NpyArray(records.map { Int64($0.predicted) }, shape: [n])),
      ("confidence", NpyArray(records.map(\.confidence), shape: [n])),
      ("order", NpyArray(records.flatMap { $0.order.map { UInt16($0) } }, shape: [n, p])),
      ("values", NpyArray(records.flatMap(\.values), shape: [n, p])),
      ("scores", NpyArray(records.flatMap(\.scores), shape: [n, p])),
      ("exact_ties", NpyArray(records.map { Int64($0.exactTies) }, shape: [n])),
      ("near_ties", NpyArray(records.map { Int64($0.nearTies) }, shape: [n])),
    ]
    // Wall time varies between runs; it lives beside the shards so that shards are reproducible.
    var passes = ""
    if let cost {
      let per = { (count: Int) in count / Swift.max(n - reused, 1) }
      passes = ", \"forward_passes_per_image\": \(per(cost.forwardPasses))"
      if cost.gradientPasses > 0 { passes += ", \"gradient_passes_per_image\": \(per(cost.gradientPasses))" }
      if cost.bf16Passes > 0 { passes += ", \"bf16_passes_per_image\": \(per(cost.bf16Passes))" }
      if cost.verifiedSteps > 0 {
        passes += ", \"verified_steps\": \(cost.verifiedSteps), \"bf16_best_picked\": \(cost.agreeingSteps)"
      }
      if let s = cost.screening {
        passes += ", \"screened_steps\": \(s.screenedSteps), \"full_steps\": \(s.fullSteps)"
        if s.widenedSteps > 0 {
          passes += ", \"widened_steps\": \(s.widenedSteps), \"widened_candidates\": \(s.widenedCandidates)"
        }
        if s.checkedSteps > 0 {
          let within = [1, 2, 4, 8, 16, 32, 64].map { "\"\($0)\": \(s.pickRankAtMost[$0] ?? 0)" }.joined(separator: ", ")
          passes += ", \"checked_steps\": \(s.checkedSteps), \"pick_within_best\": {\(within)}"
        }
      }
    }
    if reused > 0 { passes += ", \"reused\": \(reused)" }
    let line = "{\"group\": \(group), \"images\": \(n), \"seconds_per_image\": \(records.first?.seconds ?? 0)\(passes)}\n"
    // The timing line goes first: a shard on disk always has its line (the last line of a group
    // counts, so a group redone after a failed shard write is counted once), and a disk too full
    // for the line stops the run before the shard, which is then redone on resume.
    try appendLine(line, to: directory + "/timings.jsonl")
    try Npz.write(arrays, to: shardPath(group: group))
  }

  /// The images of one shard file, checked against the run's manifest: every order a
  /// permutation of the manifest's features, values and scores as many, positions of the run.
  public func readShard(_ path: String, manifest: RunManifest) throws -> [ImageRecord] {
    try Self.parseShard(try readFile(path), path: path, manifest: manifest, seconds: timings())
  }

  /// Parses the bytes of a shard file (`path` names it in errors) against `manifest`.
  public static func parseShard(_ bytes: [UInt8], path: String, manifest: RunManifest, seconds: [Int: Float] = [:]) throws
    -> [ImageRecord]
  {
    let a = try Npz.parse(bytes, path: path)
    func need(_ k: String) throws -> NpyArray {
      guard let v = a[k] else { throw SISError.store("\(path): missing array '\(k)'") }
      return v
    }
    let positions = try need("position").integers()
    let n = positions.count
    let orderArray = try need("order")
    let p = orderArray.shape.count == 2 ? orderArray.shape[1] : 0
    let order = try orderArray.integers()
    let values = try need("values").floats()
    let scores = try need("scores").floats()
    let sources = try need("source_index").integers()
    let labels = try need("label").integers()
    let predicted = try need("predicted").integers()
    let confidence = try need("confidence").floats()
    let exact = try need("exact_ties").integers()
    let near = try need("near_ties").integers()
    guard p == manifest.featureCount, order.count == n * p, values.count == n * p, scores.count == n * p,
      [
        sources.count, labels.count, predicted.count,
        confidence.count, exact.count, near.count,
      ].allSatisfy({ $0 == n })
    else {
      throw SISError.store(
        "\(path): arrays of inconsistent sizes (expected \(n) images of \(manifest.featureCount) features as the manifest says)")
    }
    let runPositions = Set(manifest.positions)
    let classes = manifest.data.numClasses ?? Int.max
    for i in 0..<n {
      guard runPositions.contains(positions[i]) else {
        throw SISError.store("\(path): image \(i) has position \(positions[i]), which is not one of the run's")
      }
      guard (0..<classes).contains(predicted[i]), labels[i] >= 0, confidence[i].isFinite else {
        throw SISError.store("\(path): image \(i) has an invalid label, prediction or confidence")
      }
      var seen = [Bool](repeating: false, count: p)
      for f in order[(i * p)..<((i + 1) * p)] {
        guard f >= 0, f < p, !seen[f] else {
          throw SISError.store("\(path): image \(i)'s order is not a permutation of the \(p) features")
        }
        seen[f] = true
      }
    }
    return (0..<n).map { i in
      ImageRecord(
        position: positions[i], sourceIndex: sources[i], label: labels[i], predicted: predicted[i], confidence: confidence[i],
        order: Array(order[(i * p)..<((i + 1) * p)]), values: Array(values[(i * p)..<((i + 1) * p)]),
        scores: Array(scores[(i * p)..<((i + 1) * p)]), exactTies: exact[i], nearTies: near[i],
        seconds: seconds[positions[i]] ?? 0)
    }
  }

  /// Seconds per image by position, from `timings.jsonl` (absent entries: unknown).
  func timings() -> [Int: Float] { costs().mapValues(\.seconds) }

  /// The `timings.jsonl` line of each finished group, with its fields. A line whose shard is not
  /// on disk (its write failed after the line) does not count; the last line of a group wins (a
  /// group run again after a crash between shard and timing line).
  func timingLines() -> [Int: (line: Substring, fields: [String: Any])] {
    guard let text = try? String(contentsOfFile: directory + "/timings.jsonl", encoding: .utf8) else { return [:] }
    let finished = finishedGroups()
    var out: [Int: (line: Substring, fields: [String: Any])] = [:]
    for line in text.split(separator: "\n") {
      guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let g = obj["group"] as? Int, finished.contains(g)
      else { continue }
      out[g] = (line, obj)
    }
    return out
  }

  /// What each finished image cost, by position, from `timings.jsonl` (`timingLines`): the
  /// group's wall time per image and, where the run recorded them, forward and gradient passes
  /// per image (a gradient run that took none records no gradient count: zero).
  public func costs() -> [Int: ImageCost] {
    guard let m = try? readManifest() else { return [:] }
    var out: [Int: ImageCost] = [:]
    for (g, timing) in timingLines() {
      guard let s = timing.fields["seconds_per_image"] as? Double else { continue }
      let forward = timing.fields["forward_passes_per_image"] as? Int
      let gradient = timing.fields["gradient_passes_per_image"] as? Int ?? (forward == nil ? nil : 0)
      let cost = ImageCost(seconds: Float(s), forwardPasses: forward, gradientPasses: gradient)
      for pos in m.positions(ofGroup: g) { out[pos] = cost }
    }
    return out
  }

  /// Every finished image, in run order.
  public func records() throws -> [ImageRecord] {
    let manifest = try readManifest()
    var all: [ImageRecord] = []
    for g in finishedGroups().sorted() { all += try readShard(shardPath(group: g), manifest: manifest) }
    return all
  }

  /// Groups of the whole run (all shards) that have no shard file here, each with the shard
  /// ("i/n" of `shardCount`) that should have written it.
  public func missingGroups(shardCount: Int) throws -> [(group: Int, shard: Shard)] {
    let m = try readManifest()
    let done = finishedGroups()
    return (0..<m.groupCount).filter { !done.contains($0) }.map { ($0, Shard(index: $0 % shardCount, count: shardCount)) }
  }

  /// Joins shard folders into `out`, refusing folders whose manifests disagree (other than in
  /// their shard). Shard files are copied; a group present in two folders must be identical.
  /// Their `timings.jsonl` lines are joined too, one per group.
  public static func merge(_ inputs: [RunStore], into out: RunStore) throws -> Int {
    guard let first = inputs.first else { throw SISError.store("nothing to merge") }
    let base = try first.readManifest()
    for other in inputs.dropFirst() {
      let d = base.differences(from: try other.readManifest())
      if !d.isEmpty {
        throw SISError.store("\(other.directory) does not match \(first.directory): they differ in \(d.joined(separator: ", "))")
      }
    }
    var merged = base
    merged.shard = .whole
    try out.writeManifest(merged)
    var copied = 0
    for input in inputs {
      for g in input.finishedGroups().sorted() {
        let src = input.shardPath(group: g)
        let dst = out.shardPath(group: g)
        let bytes = try readFile(src)
        if FileManager.default.fileExists(atPath: dst) {
          guard try readFile(dst) == bytes else { throw SISError.store("group \(g) differs between shards: \(src) vs \(dst)") }
          continue
        }
        try writeFileAtomically(bytes, to: dst)
        copied += 1
      }
    }
    // The timing of every group, one line each (the first folder's where two have it).
    var lines: [Int: Substring] = [:]
    for store in [out] + inputs {
      for (g, timing) in store.timingLines() where lines[g] == nil { lines[g] = timing.line }
    }
    if !lines.isEmpty {
      let text = lines.sorted { $0.key < $1.key }.map { $0.value + "\n" }.joined()
      try writeFileAtomically(Array(text.utf8), to: out.directory + "/timings.jsonl")
    }
    return copied
  }
}

/// What one image cost in a run (see `RunStore.costs`); pass counts are nil for runs made before
/// they were recorded.
public struct ImageCost: Sendable, Equatable {
  public var seconds: Float
  public var forwardPasses: Int?
  public var gradientPasses: Int?

  public init(seconds: Float, forwardPasses: Int? = nil, gradientPasses: Int? = nil) {
    self.seconds = seconds
    self.forwardPasses = forwardPasses
    self.gradientPasses = gradientPasses
  }
}
