import Analysis
import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

struct SISCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sis",
    abstract: "Sufficient input subsets: derived from a backselect run, or SIS collections computed directly.",
    discussion: """
      With --run, each image's SIS at --threshold is the shortest suffix of its stored removal \
      order whose masked image keeps f >= threshold (no recomputation); images with f(x) below \
      the threshold have no SIS. --fraction also derives the paper's k% backward-selection \
      subsets (the last ceil(k*p) features of the order) and f on them. With --collection, \
      SIS collections (disjoint SIS found one after another) are computed for the selected images.
      """)

  @Option(name: .customLong("run"), help: "A backselect run folder.")
  var runFolder: String?

  @Option(help: "Confidence threshold tau in [0, 1].")
  var threshold: Double = 0.99

  @Option(help: "Also derive the last-k% subsets, e.g. 0.05.")
  var fraction: Double?

  @Option(help: "Write sizes and masks to this .npz.")
  var save: String?

  @Option(help: "Write PNGs (image | SIS pixels | masked image) into this folder.")
  var png: String?

  @Option(help: "How many images get PNGs (the first ones), unless --png-positions is given.")
  var show: Int = 8

  @Option(help: "Positions to draw, e.g. 0,5,9.")
  var pngPositions: String?

  @Flag(help: "Print one line per image.")
  var perImage = false

  @Flag(help: "Compute SIS collections for images selected with --model/--data/--indices etc.")
  var collection = false

  @OptionGroup var model: ModelOptions
  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var selection: SelectionOptions
  @OptionGroup var runtime: RuntimeOptions

  @Option(help: "With --collection: what BackSelect maximises (prob, logprob, margin).")
  var score: SelectionScore = .logprob

  @Option(help: "With --collection: features (pixel, value, row, column, channel, patchK).")
  var features: String = "pixel"

  @Option(help: "With --collection: candidate images per forward pass.")
  var chunk: Int = 128

  func validate() throws {
    if !(threshold >= 0 && threshold <= 1) { throw ValidationError("--threshold must be in [0, 1], got \(threshold)") }
    if let fraction, !(fraction > 0 && fraction <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
    if collection { try selection.requireOne() }
    if (runFolder == nil) == !collection { throw ValidationError("give either --run RUN or --collection (with --model/--data and a selection)") }
    if show < 0 { throw ValidationError("--show must be >= 0") }
    if let pngPositions, parseIndices(pngPositions) == nil { throw ValidationError("--png-positions must list positions, got '\(pngPositions)'") }
  }

  func run() throws {
    if collection { try runCollection() } else { try deriveFromRun() }
  }

  func deriveFromRun() throws {
    guard let run = runFolder else { return }
    let store = RunStore(directory: run)
    let manifest = try store.readManifest()
    let records = try store.records()
    guard !records.isEmpty else { throw ValidationFailure("\(run): no finished images yet") }
    let tau = Float(threshold)
    let p = manifest.featureCount
    var sizes: [Int] = []
    var sisList: [[Int]?] = []
    for r in records {
      let outcome = findSIS(order: r.order, values: r.values, fullInput: r.confidence, threshold: tau)
      sisList.append(outcome.features)
      if let s = outcome.features { sizes.append(s.count) }
      if perImage {
        let text = outcome.features.map { "SIS size \($0.count) (\(fmt(100 * Double($0.count) / Double(p)))% of features)" } ?? "no SIS (f(x) = \(r.confidence) < \(threshold))"
        print("position \(r.position) (source index \(r.sourceIndex)) label \(r.label) predicted \(r.predicted) f(x) \(String(format: "%.4f", r.confidence)): \(text); ties \(r.exactTies) exact, \(r.nearTies) within 1e-6")
      }
    }
    print("run: \(run) (\(manifest.architecture), score \(manifest.score), \(manifest.features) features, \(records.count) images)")
    print("data: \(manifest.dataDescription)")
    print("threshold \(threshold): \(sizes.count) image(s) with a SIS, \(records.count - sizes.count) with f(x) below the threshold")
    if !sizes.isEmpty {
      let d = sizes.map(Double.init)
      let mean = d.reduce(0, +) / Double(d.count)
      let sd = d.count > 1 ? (d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d.count - 1)).squareRoot() : 0
      let sorted = sizes.sorted()
      print("SIS size: mean \(fmt(mean)) ± \(fmt(sd)) features (\(fmt(100 * mean / Double(p)))% of \(p)), median \(sorted[sorted.count / 2]), min \(sorted[0]), max \(sorted[sorted.count - 1])")
    }
    let exact = records.map(\.exactTies)
    let near = records.map(\.nearTies)
    print("ties per image (best candidate equal to the runner-up): exact mean \(fmt(Double(exact.reduce(0, +)) / Double(records.count))), within 1e-6 mean \(fmt(Double(near.reduce(0, +)) / Double(records.count))) of \(stepsDescription(manifest)); \(exact.filter { $0 > 0 }.count) image(s) with at least one exact tie")
    if manifest.features == "pixel" {
      let rho = mean(records.map { rasterCorrelation($0.order) })
      print(
        "correlation of the removal order with raster order: mean \(fmt(rho, digits: 2)) (1: raster order; about 0 for an order unrelated to position)"
          + (rho > 0.5 ? "; ties to the lowest index decided much of the order: compare with a --score logprob run (overinterp compare)" : ""))
    }
    var subsets: [[Int]] = []
    if let fraction {
      subsets = records.map { backSelectSubset(order: $0.order, fraction: fraction) }
      let k = subsets.first?.count ?? 0
      // f on the subset is the value recorded just before its first feature was masked.
      let onSubset = records.map { r in p - k - 1 >= 0 ? Double(r.values[p - k - 1]) : Double(r.confidence) }
      let drop = zip(records, onSubset).map { Double($0.confidence) - $1 }
      let m = onSubset.reduce(0, +) / Double(onSubset.count)
      let dm = drop.reduce(0, +) / Double(drop.count)
      let dsd = drop.count > 1 ? (drop.reduce(0) { $0 + ($1 - dm) * ($1 - dm) } / Double(drop.count - 1)).squareRoot() : 0
      print("\(fmt(fraction * 100))% subsets (\(k) features each): mean f on the subset \(fmt(m, digits: 4)); confidence drop f(x) - f(subset) \(fmt(dm, digits: 4)) ± \(fmt(dsd, digits: 4)); \(onSubset.filter { $0 > 0.5 }.count)/\(records.count) keep the class with probability > 0.5")
    }
    if let save {
      var arrays: [(String, NpyArray)] = [
        ("position", NpyArray(records.map { Int64($0.position) }, shape: [records.count])),
        ("source_index", NpyArray(records.map { Int64($0.sourceIndex) }, shape: [records.count])),
        ("sis_size", NpyArray(sisList.map { Int64($0?.count ?? -1) }, shape: [records.count])),
        ("sis_mask", NpyArray(sisList.flatMap { maskBytes($0 ?? [], p) }, shape: [records.count, p])),
        ("threshold", NpyArray([threshold], shape: [1])),
      ]
      if let fraction {
        arrays.append(("subset_mask", NpyArray(subsets.flatMap { maskBytes($0, p) }, shape: [records.count, p])))
        arrays.append(("fraction", NpyArray([fraction], shape: [1])))
      }
      try Npz.write(arrays, to: save)
      print("wrote \(save)")
    }
    if let png {
      let data = try loadRunData(manifest)
      let chosen = pngPositions.flatMap(parseIndices) ?? Array(records.prefix(show).map(\.position))
      let layout = try FeatureLayout(parsing: manifest.features, inputShape: manifest.inputShape)
      let byPosition = Dictionary(uniqueKeysWithValues: zip(records.map(\.position), sisList))
      try FileManager.default.createDirectory(atPath: png, withIntermediateDirectories: true)
      for pos in chosen {
        guard let entry = byPosition[pos] else { throw ValidationFailure("--png-positions: position \(pos) is not in the run") }
        let path = png + "/position-\(pos)-tau-\(threshold).png"
        try drawSIS(data: data, position: pos, features: entry ?? [], layout: layout, to: path)
      }
      print("wrote \(chosen.count) PNG(s) to \(png)")
    }
  }

  func runCollection() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let classifier = try model.load(device: device)
    let data = try dataOptions.load(for: classifier.info)
    let layout = try FeatureLayout(parsing: features, inputShape: data.imageShape)
    let (positions, description) = try selection.select(data, classifier: classifier, device: device)
    print("SIS collections at threshold \(threshold), score \(score.rawValue), \(layout.description) features; \(positions.count) image(s) (\(description)); data: \(data.description)")
    for pos in positions {
      let sub = data.subset([pos])
      let x = try classifier.info.normalization.apply(try sub.batch(0..<1))
      let probs = try withInferenceMode { try classifier.probabilities(try x.to(device)).floats() }
      guard let c = probs.indices.max(by: { probs[$0] < probs[$1] }) else { continue }
      let scorer = try ClassifierScorer(
        classifier: classifier, images: [try x.floats()], classes: [c], layout: layout, score: score, chunk: chunk, device: device)
      let found = try sisCollection(problem: 0, featureCount: layout.count, threshold: Float(threshold), scorer: scorer)
      print("position \(pos) (source index \(data.sourceIndices[pos])) label \(data.labels[pos]) predicted \(c) f(x) \(String(format: "%.4f", probs[c])): \(found.count) SIS, sizes \(found.map { $0.sis.count })")
      if let png {
        try FileManager.default.createDirectory(atPath: png, withIntermediateDirectories: true)
        for (k, s) in found.enumerated() {
          try drawSIS(data: data, position: pos, features: s.sis, layout: layout, to: png + "/position-\(pos)-sis-\(k + 1).png")
        }
      }
    }
  }
}

func maskBytes(_ features: [Int], _ p: Int) -> [UInt8] {
  var m = [UInt8](repeating: 0, count: p)
  for f in features { m[f] = 1 }
  return m
}

/// The dataset a run was made from (its manifest records path, split and holdout).
func loadRunData(_ m: RunManifest) throws -> ImageDataset {
  if m.dataPath == "embedded sample" {
    let dir = try Resources.path("sample")
    return try DataSource.loadNpyImages(
      images: dir + "/images.npy", labels: dir + "/labels.npy", indices: dir + "/indices.npy", description: m.dataDescription)
  }
  if ImageFolder.isImageFolder(m.dataPath) {
    return try ImageFolder.load(
      m.dataPath, preprocessing: m.preprocessing.flatMap(Preprocessing.init(parsing:)) ?? .none,
      classNames: (0..<(m.numClasses ?? 1000)).map { "class \($0)" })
  }
  return try DataSource(path: m.dataPath, split: Split(rawValue: m.dataSplit) ?? .test, holdout: m.dataHoldout, labelsPath: m.dataLabels)
    .load()
}

/// Image | SIS features in red on black | image with everything outside the SIS masked (grey
/// stands for the mask), enlarged 8x with nearest-neighbour scaling.
func drawSIS(data: ImageDataset, position: Int, features: [Int], layout: FeatureLayout, to path: String) throws {
  let (c, h, w) = (data.imageShape[0], data.imageShape[1], data.imageShape[2])
  let image = ImageIO.hwc(fromCHW: data.image(position), channels: c, height: h, width: w)
  var kept = [Bool](repeating: false, count: c * h * w)
  for f in features { for e in layout.elements[f] { kept[e] = true } }
  var locations = [UInt8](repeating: 0, count: h * w * 3)
  var masked = [UInt8](repeating: 128, count: h * w * 3)
  for y in 0..<h {
    for x in 0..<w {
      let anyKept = (0..<c).contains { kept[$0 * h * w + y * w + x] }
      if anyKept { locations[(y * w + x) * 3] = 255 }
      for ch in 0..<min(c, 3) where kept[ch * h * w + y * w + x] {
        masked[(y * w + x) * 3 + ch] = image[(y * w + x) * c + ch]
      }
    }
  }
  let rgb = c == 3 ? image : image.flatMap { [$0, $0, $0] }
  let factor = max(1, 256 / max(h, w))
  let tiles = [rgb, locations, masked].map { ImageIO.upscale($0, width: w, height: h, channels: 3, factor: factor) }
  let (pixels, width) = ImageIO.row(tiles, width: w * factor, height: h * factor, channels: 3)
  try ImageIO.writePNG(pixels, width: width, height: h * factor + 4, channels: 3, to: path)
}

struct Merge: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Join backselect shard folders into one run, refusing folders whose manifests disagree.")

  @Argument(help: "Run folders (e.g. the --shard i/n outputs of several machines).")
  var runs: [String]

  @Option(help: "Merged run folder.")
  var out: String

  func run() throws {
    let copied = try RunStore.merge(runs.map(RunStore.init(directory:)), into: RunStore(directory: out))
    let records = try RunStore(directory: out).records()
    print("\(out): \(records.count) image(s) (\(copied) shard file(s) copied)")
  }
}

/// What one tie-counting step is in a run: a feature for exact BackSelect, a block of k for the
/// gradient method (and both for the hybrid).
func stepsDescription(_ m: RunManifest) -> String {
  let p = m.featureCount
  // Manifests are checked when read (RunStore.readManifest), so the method is known.
  switch (try? m.selectionMethod()) ?? .exact {
  case .gradient: return "\((p + (m.k ?? 1) - 1) / max(m.k ?? 1, 1)) gradient iterations"
  case .hybrid: return "at most \(p) steps (gradient iterations, then exact steps)"
  case .exact: return "\(p) steps"
  }
}
