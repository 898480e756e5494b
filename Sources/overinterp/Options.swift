import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import Torch

extension Split: ExpressibleByArgument {}

/// Threads and device, shared by every command that runs a model.
struct RuntimeOptions: ParsableArguments {
  @Option(help: "Threads libtorch may use (default: all cores).")
  var threads: Int?

  @Option(help: "Device: cpu, cuda or cuda:N (needs a CUDA build of libtorch).")
  var device: String = "cpu"

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    if Device(parsing: device) == nil { throw ValidationError("--device must be cpu, cuda or cuda:N, got '\(device)'") }
  }

  var resolvedDevice: Device { Device(parsing: device) ?? .cpu }

  /// Applies allocator, thread and device settings. Call before any tensor work.
  func apply() throws {
    try Runtime.configureAllocator()
    try Runtime.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
    if case .cuda(let i) = resolvedDevice, i >= Runtime.cudaDeviceCount {
      throw ValidationFailure(
        "--device \(device): this libtorch sees \(Runtime.cudaDeviceCount) CUDA device(s); build with LIBTORCH pointing at a CUDA libtorch")
    }
  }
}

/// Where the images come from.
struct DataOptions: ParsableArguments {
  @Option(help: "Dataset: a CIFAR-10 binary folder, the lossless test subset folder, a CIFAR-10.1 folder, a .bin batch or an .npy of images (default: the embedded sample).")
  var data: String?

  @Option(help: "Split of a CIFAR-10 binary folder: \(Split.allCases.map(\.rawValue).joined(separator: ", ")).")
  var split: Split = .test

  @Option(help: "Training images held out for validation (the last N of the training set).")
  var holdout: Int = 5000

  @Option(help: "Labels .npy for an .npy of images.")
  var labels: String?

  @Option(help: "Use only the first N images.")
  var limit: Int?

  @Option(help: "In a CIFAR-10-C folder: the corruption file to use.")
  var corruption: String?

  @Option(help: "In a CIFAR-10-C folder: the severity (1-5).")
  var severity: Int?

  func validate() throws {
    if holdout < 0 || holdout >= 50_000 { throw ValidationError("--holdout must be in 0..<50000, got \(holdout)") }
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
    if let severity, !(1...5).contains(severity) { throw ValidationError("--severity must be 1-5, got \(severity)") }
  }

  /// Loads the data; image folders are decoded and preprocessed as `model` expects.
  func load(for model: ModelInfo? = nil) throws -> ImageDataset {
    var d: ImageDataset
    if let data, ImageFolder.isImageFolder(data) {
      guard let model else { throw ValidationFailure("\(data): an image folder needs a model to know its preprocessing") }
      d = try ImageFolder.load(data, preprocessing: model.preprocessing, classNames: model.classNames)
    } else if let data {
      var source = DataSource(path: data, split: split, holdout: holdout, labelsPath: labels, corruption: corruption, severity: severity)
      if let model { source.classNames = model.classNames }
      d = try source.load()
    } else {
      let dir = try Resources.path("sample")
      d = try DataSource.loadNpyImages(
        images: dir + "/images.npy", labels: dir + "/labels.npy", indices: dir + "/indices.npy",
        description: "embedded sample: 100 lossless CIFAR-10 test images, 10 per class")
    }
    if let limit, limit < d.count { d = d.subset(Array(0..<limit)) }
    return d
  }
}

/// One model or several (an ensemble: mean of logits).
struct ModelOptions: ParsableArguments {
  @Option(name: .customLong("model"), help: "Model file (.safetensors from overinterp, or a PyTorch .pt/.th with --arch); repeat for an ensemble; `default` is the embedded model.")
  var models: [String] = []

  @Option(help: "Architecture of PyTorch files or of safetensors without overinterp metadata: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var arch: String?

  @Option(help: "Input normalization for such files: \(Normalization.presets.map(\.0).joined(separator: ", ")), or m1,m2,m3/s1,s2,s3.")
  var normalization: String?

  @Option(help: "Class names for such files: a file with one per line (a leading WordNet id is dropped) or a comma-separated list.")
  var classes: String?

  @Option(help: "Image-folder preprocessing for such files: none, central-crop:FRACTION:SIZE, resize-center-crop:RESIZE:SIZE.")
  var preprocessing: String?

  func validate() throws {
    if let arch, Architecture(rawValue: arch) == nil {
      throw ValidationError("--arch must be one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")), got '\(arch)'")
    }
    if let preprocessing, Preprocessing(parsing: preprocessing) == nil {
      throw ValidationError("--preprocessing must be none, central-crop:FRACTION:SIZE or resize-center-crop:RESIZE:SIZE, got '\(preprocessing)'")
    }
    if let normalization, Normalization(parsing: normalization) == nil {
      throw ValidationError("--normalization must be a preset (\(Normalization.presets.map(\.0).joined(separator: ", "))) or m1,m2,m3/s1,s2,s3, got '\(normalization)'")
    }
  }

  func load(device: Device) throws -> any Classifier {
    let paths = models.isEmpty ? ["default"] : models
    let loaded = try paths.map { try loadNetwork($0, options: self, device: device) }
    return loaded.count == 1 ? loaded[0] : try Ensemble(loaded)
  }
}

/// Loads one network from an overinterp safetensors file, a bare safetensors state dict or a
/// PyTorch checkpoint (the last two need the architecture).
func loadNetwork(_ path: String, options: ModelOptions, device: Device) throws -> any Network {
  let file = path == "default" ? try Resources.path("default-model.safetensors") : path
  guard FileManager.default.fileExists(atPath: file) else { throw FileFormatError(file, "no such model file (--model)") }
  let isSafetensors = file.hasSuffix(".safetensors")
  if isSafetensors, options.arch == nil {
    return try ModelCheckpoint.load(file, device: device).network
  }
  guard let arch = options.arch else {
    throw ValidationFailure("\(file): a PyTorch checkpoint does not say its architecture; pass --arch (and --normalization)")
  }
  let state = isSafetensors ? try Safetensors.read(file).tensors : try TorchCheckpoint(path: file).stateDict()
  return try buildNetwork(
    arch: arch, state: state, source: file, normalization: options.normalization, classes: options.classes,
    preprocessing: options.preprocessing, device: device)
}

/// An architecture filled with the given weights; class names default to CIFAR-10's for 10
/// outputs and to "class k" otherwise.
func buildNetwork(
  arch: String, state: [(String, Tensor)], source: String, normalization: String?, classes: String?, preprocessing: String?,
  device: Device
) throws -> any Network {
  let architecture = try Architecture.named(arch)
  var names: [String]
  if let classes {
    names = try parseClassNames(classes)
  } else {
    let outputs = state.last { $0.1.rank == 2 }?.1.shape[0] ?? 10
    names = outputs == 10 ? ModelInfo.cifar10Classes : (0..<outputs).map { "class \($0)" }
  }
  let network = try architecture.build(
    classNames: names, normalization: normalization.flatMap(Normalization.init(parsing:)), device: device)
  if let p = preprocessing.flatMap(Preprocessing.init(parsing:)) { network.info.preprocessing = p }
  try network.load(stateDict: state, source: source)
  return network
}

/// Class names from a file (one per line; a leading WordNet id such as `n01440764 ` is dropped)
/// or a comma-separated list.
func parseClassNames(_ text: String) throws -> [String] {
  if FileManager.default.fileExists(atPath: text) {
    let lines = try String(contentsOfFile: text, encoding: .utf8).split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
    return lines.map { line in
      if line.count > 10, line.first == "n", line.dropFirst().prefix(8).allSatisfy(\.isNumber), line.dropFirst(9).first == " " {
        return String(line.dropFirst(10))
      }
      return line
    }
  }
  let names = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
  guard !names.isEmpty else { throw ValidationFailure("--classes: no class names in '\(text)'") }
  return names
}

/// Files embedded in the build (the default model and sample images).
enum Resources {
  static func path(_ name: String) throws -> String {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    let candidates = [
      ProcessInfo.processInfo.environment["OVERINTERP_RESOURCES"].map { $0 + "/" + name },
      exe + "/overinterp_overinterp.resources/" + name,
      exe + "/overinterp_overinterp.resources/Resources/" + name,
      URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Resources/" + name,
    ].compactMap { $0 }
    for c in candidates where FileManager.default.fileExists(atPath: c) { return c }
    throw ValidationFailure(
      "embedded resource '\(name)' not found (looked in \(candidates.joined(separator: ", "))); set OVERINTERP_RESOURCES to the Resources folder")
  }
}
