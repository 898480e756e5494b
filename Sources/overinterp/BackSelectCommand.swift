import Analysis
import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

extension SelectionScore: ExpressibleByArgument {}
extension SelectionMethod: ExpressibleByArgument {}
extension DipPolicy: ExpressibleByArgument {}
extension SwitchCap: ExpressibleByArgument {}

/// Which images of a dataset to work on.
struct SelectionOptions: ParsableArguments {
  @Option(help: "Positions in the dataset: 0..<100, 0...99, or 3,17,42.")
  var indices: String?

  @Option(help: "Every image whose predicted class has probability >= this (the paper: 0.99 on CIFAR-10, 0.9 on ImageNet).")
  var confident: Double?

  @Flag(help: "With --confident: only images that are also classified correctly.")
  var correctOnly = false

  @Flag(help: "Every image of the dataset.")
  var all = false

  @Option(help: "At most this many of the selected images (the first ones).")
  var maxImages: Int?

  func validate() throws {
    if chosenModes > 1 { throw ValidationError("choose the images with exactly one of --indices, --confident or --all") }
    if let confident, !(confident >= 0 && confident <= 1) {
      throw ValidationError("--confident must be in [0, 1], got \(confident)")
    }
    if let indices, parseIndices(indices) == nil {
      throw ValidationError("--indices must look like 0..<100, 0...99 or 3,17,42, got '\(indices)'")
    }
    if let maxImages, maxImages < 1 { throw ValidationError("--max-images must be at least 1, got \(maxImages)") }
    if correctOnly && confident == nil { throw ValidationError("--correct-only goes with --confident") }
  }

  var chosenModes: Int { [indices != nil, confident != nil, all].filter { $0 }.count }

  /// For commands that need a selection.
  func requireOne() throws {
    if chosenModes != 1 { throw ValidationError("choose the images with exactly one of --indices, --confident or --all") }
  }

  /// Positions selected and a description for the manifest.
  func select(_ data: ImageDataset, classifier: any Classifier, device: Device) throws -> ([Int], String) {
    var positions: [Int]
    var description: String
    if let indices, let list = parseIndices(indices) {
      if let bad = list.first(where: { $0 < 0 || $0 >= data.count }) {
        throw ValidationFailure("--indices: position \(bad) is outside the dataset's 0..<\(data.count)")
      }
      positions = list
      description = "indices \(indices)"
    } else if let confident {
      let probs = try predictProbabilities(classifier, on: data, device: device, progressLabel: "select")
      positions = probs.indices.filter { i in
        let p = probs[i]
        guard let best = p.indices.max(by: { p[$0] < p[$1] }) else { return false }
        return Double(p[best]) >= confident && (!correctOnly || best == data.labels[i])
      }
      description = "confident >= \(confident)" + (correctOnly ? ", correct" : "")
    } else {
      positions = Array(0..<data.count)
      description = "all"
    }
    if let maxImages, positions.count > maxImages {
      positions = Array(positions.prefix(maxImages))
      description += ", first \(maxImages)"
    }
    return (positions, description)
  }
}

func parseIndices(_ text: String) -> [Int]? {
  if let r = text.range(of: "..<") {
    guard let a = Int(text[..<r.lowerBound]), let b = Int(text[r.upperBound...]), a <= b else { return nil }
    return Array(a..<b)
  }
  if let r = text.range(of: "...") {
    guard let a = Int(text[..<r.lowerBound]), let b = Int(text[r.upperBound...]), a <= b else { return nil }
    return Array(a...b)
  }
  let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
  guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
  return parts.compactMap { $0 }
}

struct BackSelectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "backselect",
    abstract: "Exact backward selection (the SIS BackSelect procedure) for many images, stored resumably.",
    discussion: """
      For each selected image, f is the classifier's probability of the class it predicts on the \
      full image. BackSelect masks features one at a time, always the one whose masking leaves \
      the highest score (ties: lowest index), until all are masked, and stores the whole removal \
      order with the probability after each removal. SIS at any threshold and the paper's \
      k% pixel subsets are then derived from the store by `overinterp sis` without recomputation. \
      Masked features take the value 0 after normalization (the dataset mean). \
      One exact BackSelect of a 32x32 image costs up to 524,801 forward passes; steps where the \
      score sits at its ceiling (a saturated softmax under --score prob) stop after the first \
      two candidates that reach it, with the same outcome.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var selection: SelectionOptions
  @OptionGroup var runtime: RuntimeOptions

  @Option(help: "Run folder for the manifest and shards.")
  var out: String

  @Flag(help: "Continue the run in --out.")
  var resume = false

  @Option(help: "Process the groups g with g % n == i: i/n (e.g. 0/4 on the first of four machines).")
  var shard: String = "0/1"

  @Option(help: "What BackSelect maximises: prob (the reference), logprob (default: still ordered where the softmax saturates), margin.")
  var score: SelectionScore = .logprob

  @Option(help: "Features: pixel (all channels of a pixel; the paper's), value, row, column, channel, patchK.")
  var features: String = "pixel"

  @Option(help: "Masked value: zero (the dataset mean after normalization), or an .npy of one uint8 image (H, W, C) normalized like the inputs.")
  var maskValue: String = "zero"

  @Option(
    help: "exact (BackSelect over every candidate), gradient (the paper's Batched Gradient BackSelect, S5), or hybrid (gradient blocks, then exact selection for the last part).")
  var method: SelectionMethod = .exact

  @Option(help: "With --method gradient or hybrid: pixels masked per gradient iteration (the paper: 100).")
  var k: Int = 100

  @Option(
    help: "With --method hybrid: leave the gradient phase when a block takes the class probability below this (the block is put back); any SIS at a threshold up to this value then comes from the exact phase.")
  var switchAt: Double = 0.999

  @Option(help: "With --method hybrid: also leave the gradient phase once this many pixels are left.")
  var exactLast: Int = 256

  @Option(
    help: "With --method hybrid: what a block that takes the probability below --switch-at does: set-aside (put it back, keep its pixels for the exact phase, go on with gradient blocks) or switch (start the exact phase).")
  var onDip: DipPolicy = .setAside

  @Option(
    help: "With --method hybrid: the switch level of an image whose confidence is below --switch-at: confidence (its own confidence; every SIS at a threshold it reaches still comes from the exact phase) or none (the image goes straight to exact selection).")
  var switchCap: SwitchCap = .confidence

  @Option(help: "Candidate images per forward pass.")
  var chunk: Int = 128

  @Option(help: "Images advanced in lockstep (their candidates share forward passes).")
  var group: Int = 4

  func validate() throws {
    try selection.requireOne()
    let parts = shard.split(separator: "/").compactMap { Int($0) }
    if parts.count != 2 || parts[1] < 1 || parts[0] < 0 || parts[0] >= parts[1] {
      throw ValidationError("--shard must be i/n with 0 <= i < n, got '\(shard)'")
    }
    if chunk < 1 { throw ValidationError("--chunk must be at least 1, got \(chunk)") }
    if !(switchAt >= 0 && switchAt <= 1) { throw ValidationError("--switch-at must be a probability in [0, 1], got \(switchAt)") }
    if exactLast < 0 { throw ValidationError("--exact-last must be at least 0, got \(exactLast)") }
    if k < 1 { throw ValidationError("--k must be at least 1, got \(k)") }
    if group < 1 { throw ValidationError("--group must be at least 1, got \(group)") }
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let classifier = try model.load(device: device)
    let data = try dataOptions.load(for: classifier.info)
    guard data.imageShape == classifier.info.inputShape else {
      throw ValidationFailure("the model takes images of shape \(classifier.info.inputShape), --data has \(data.imageShape)")
    }
    let layout = try FeatureLayout(parsing: features, inputShape: data.imageShape)
    let mask = try loadMaskValue(maskValue, shape: data.imageShape, normalization: classifier.info.normalization)
    let (positions, description) = try selection.select(data, classifier: classifier, device: device)
    guard !positions.isEmpty else { throw ValidationFailure("no image matches the selection (\(description))") }
    let paths = model.models.isEmpty ? ["default"] : model.models
    let manifest = RunManifest(
      modelPaths: paths.map { $0 == "default" ? $0 : absolutePath($0) }, modelSHA256: try paths.map { try SHA256.hex(file: $0 == "default" ? try Resources.path("default-model.safetensors") : $0) },
      architecture: classifier.info.architecture, dataPath: dataOptions.data.map(absolutePath) ?? "embedded sample",
      dataLabels: dataOptions.labels.map(absolutePath), dataSplit: dataOptions.split.rawValue,
      dataHoldout: dataOptions.holdout, dataDescription: data.description, selection: description, positions: positions,
      sourceIndices: positions.map { data.sourceIndices[$0] }, inputShape: data.imageShape, features: layout.description,
      featureCount: layout.count, maskValue: maskValue, score: score.rawValue, method: method == .exact ? nil : method.rawValue,
      k: method == .exact ? nil : k, switchProbability: method == .hybrid ? switchAt : nil,
      exactLast: method == .hybrid ? exactLast : nil, onDip: method == .hybrid && onDip != .switch ? onDip.rawValue : nil,
      switchCap: method == .hybrid && switchCap != .none ? switchCap.rawValue : nil, preprocessing: classifier.info.preprocessing.description,
      numClasses: classifier.info.numClasses, chunk: chunk, group: group, shard: shard,
      overinterpVersion: Overinterp.configuration.version, libtorchVersion: Runtime.libtorchVersion, device: device.description)
    let runner = BackSelectRunner(
      classifier: classifier, dataset: data, manifest: manifest, store: RunStore(directory: out), layout: layout,
      maskValue: mask, device: device)
    try runner.prepare(resume: resume)
    let pending = runner.pendingGroups
    let imageCount = pending.reduce(0) { $0 + min(group, positions.count - $1 * group) }
    printError("backselect: \(imageCount) image(s) to do in \(pending.count) group(s) of \(positions.count) selected (\(description)); data: \(data.description)")
    let p = layout.count
    // Progress counts candidates: p per image for gradient (k per iteration); for hybrid the
    // exact phase's share is unknown in advance, so its bar is an upper bound.
    let perImage = method == .gradient ? p : p * (p + 1) / 2
    let progress = Progress(total: imageCount * perImage, label: "backselect", unit: "candidates")
    var imagesDone = 0
    try runner.run { images, candidates in
      imagesDone += images
      progress.advance(by: candidates, extra: "\(imagesDone)/\(imageCount) images")
    }
    progress.finish()
    let records = try RunStore(directory: out).records()
    let seconds = records.map { Double($0.seconds) }
    print("\(out): \(records.count) of \(positions.count) image(s) done\(records.isEmpty ? "" : String(format: ", %.1f s per image", seconds.reduce(0, +) / Double(records.count)))")
    print("next: overinterp sis --run \(out) --threshold 0.99")
  }
}

/// The fully masked input: zeros (the mean after normalization) or a normalized image.
func loadMaskValue(_ text: String, shape: [Int], normalization: Normalization) throws -> [Float]? {
  if text == "zero" { return nil }
  let a = try NpyArray.read(text)
  guard a.kind == .uint8, a.shape == [shape[1], shape[2], shape[0]] else {
    throw ValidationFailure("--mask-value \(text): expected a uint8 image of shape (\(shape[1]), \(shape[2]), \(shape[0])), got \(a.kind.rawValue) \(a.shape)")
  }
  let chw = ImageDataset.fromHWC(a.data, count: 1, height: shape[1], width: shape[2], channels: shape[0])
  let plane = shape[1] * shape[2]
  return chw.enumerated().map { normalization.value($0.element, channel: $0.offset / plane) }
}

func absolutePath(_ p: String) -> String {
  let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
  return URL(fileURLWithPath: p, relativeTo: cwd).absoluteURL.standardized.path
}
