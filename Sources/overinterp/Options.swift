import ArgumentParser
import Analysis
import Audit
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

extension Split: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}

/// A `--normalization` value: a preset name or m1,m2,m3/s1,s2,s3, parsed once; `text` keeps the
/// spelling given (a training config records it as typed).
struct NormalizationArgument: ExpressibleByArgument {
  let text: String
  let value: Normalization

  init?(argument: String) {
    guard let value = Normalization(parsing: argument) else { return nil }
    text = argument
    self.value = value
  }
}

/// Threads and device, shared by every command that runs a model.
struct RuntimeOptions: ParsableArguments {
  @Option(help: "Threads libtorch may use (default: all cores).")
  var threads: Int?

  @Option(help: "Device: cpu, cuda or cuda:N (needs a CUDA build of libtorch).")
  var device: Device = .cpu

  @Flag(
    help:
      "On a GPU, let convolutions and matmuls use TF32 (faster on Ampere and later, about 3 decimal digits): off by default, since backward selection compares scores that differ in the 8th digit."
  )
  var tf32 = false

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
  }

  var resolvedDevice: Device { device }

  /// Applies allocator, thread and device settings. Call before any tensor work.
  func apply() throws {
    try Runtime.configureAllocator()
    try Runtime.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
    try Runtime.setCUDAMath(allowTF32: tf32)
    // Fails before any work, naming the linked libtorch, when this build cannot use the device.
    if case .cuda(let i) = resolvedDevice, i >= Runtime.cudaDeviceCount {
      throw ValidationFailure(
        "--device \(device): this build links \(Runtime.summary)"
          + (Runtime.hasCUDA
            ? "; no such device"
            : "; build against a CUDA libtorch: scripts/torch-pypi.sh build with a CUDA torch wheel (docs/development.md)")
      )
    }
  }
}

/// The PGD attack of `--eps`, `--step` (each 8/255 or a decimal), `--steps` and `--restarts`.
func pgdAttack(eps: String, step: String, steps: Int, restarts: Int = 1) throws -> PGDAttack {
  guard let e = PGDAttack.parseFraction(eps) else { throw ValidationError("--eps must look like 8/255 or 0.031, got '\(eps)'") }
  guard let s = PGDAttack.parseFraction(step) else {
    throw ValidationError("--step must look like 2/255 or 0.0078, got '\(step)'")
  }
  return PGDAttack(epsilon: e, stepSize: s, steps: steps, randomStart: true, restarts: restarts)
}

/// The precision to run on `device`: the bfloat16 ones fall back to fp32 on a CPU without fast
/// bfloat16 (neither AMX nor AVX-512 BF16; said on stderr), where bfloat16 is slower than
/// float32, unless OVERINTERP_FORCE_BF16=1.
func effectivePrecision(_ precision: Precision, device: Device) -> Precision {
  guard precision != .fp32, device == .cpu, !cpuHasFastBF16 else { return precision }
  if ProcessInfo.processInfo.environment["OVERINTERP_FORCE_BF16"] == "1" {
    printError(
      "--precision \(precision.rawValue): this CPU has neither AMX nor AVX-512 BF16; running bfloat16 anyway (OVERINTERP_FORCE_BF16=1)"
    )
    return precision
  }
  printError(
    "--precision \(precision.rawValue): this CPU has neither AMX nor AVX-512 BF16 (no amx_bf16 or avx512_bf16 in /proc/cpuinfo), where bfloat16 is slower than float32; using fp32 (OVERINTERP_FORCE_BF16=1 forces bfloat16)"
  )
  return .fp32
}

/// Where the images come from.
struct DataOptions: ParsableArguments {
  @Option(
    help:
      "Dataset: a CIFAR-10 binary folder, the lossless test subset folder, a CIFAR-10.1 folder, a .bin batch or an .npy of images (default: the embedded sample)."
  )
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
    if let problem = CIFAR10.holdoutProblem(holdout) { throw ValidationError(problem.named(by: Overinterp.settingFlags)) }
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
    if let severity, !(1...5).contains(severity) { throw ValidationError("--severity must be 1-5, got \(severity)") }
  }

  /// Loads the data; image folders are decoded and preprocessed as `model` expects.
  func load(for model: ModelInfo? = nil) throws -> ImageDataset {
    var d: ImageDataset
    if let data {
      let source = DataSource(
        path: data, split: split, holdout: holdout, labelsPath: labels, corruption: corruption, severity: severity)
      if ImageFolder.isImageFolder(data) {
        guard let model else { throw ValidationFailure("\(data): an image folder needs a model to know its preprocessing") }
        d = try source.load(preprocessing: model.preprocessing, classNames: model.classNames)
      } else {
        d = try model.map { try source.load(preprocessing: $0.preprocessing, classNames: $0.classNames) } ?? source.load()
      }
    } else {
      d = try EmbeddedSample.load(directory: try Resources.path("sample"))
    }
    if let limit, limit < d.count { d = d.subset(Array(0..<limit)) }
    return d
  }

  /// How a run records this data (the description is the loaded dataset's).
  func record(_ loaded: ImageDataset) -> DataRecord {
    DataRecord(
      path: data.map(absolutePath) ?? DataRecord.embeddedSamplePath, labels: labels.map(absolutePath), split: split,
      holdout: holdout,
      description: loaded.description)
  }
}

/// One model or several (an ensemble: mean of logits).
struct ModelOptions: ParsableArguments {
  @Option(
    name: .customLong("model"),
    help:
      "Model file (.safetensors from overinterp, a PyTorch state dict .pt/.th with --arch, or a TorchScript .pt with --trust-code); repeat for an ensemble; `default` is the embedded model."
  )
  var models: [String] = []

  @Flag(
    help:
      "Allow TorchScript model files (torch.jit.save). Loading one runs the code stored in it: only for files you trust. State dicts never need it."
  )
  var trustCode = false

  @Option(help: "Input shape C,H,W of a TorchScript model (or input_shape in the JSON beside it), e.g. 3,32,32.")
  var inputShape: String?

  @Option(
    help:
      "Architecture of PyTorch files or of safetensors without overinterp metadata."
  )
  var arch: Architecture?

  @Option(
    help:
      "Input normalization for such files: \(Normalization.presets.map(\.0).joined(separator: ", ")), or m1,m2,m3/s1,s2,s3 (default: a robustness-library checkpoint's own normalizer, else the architecture's)."
  )
  var normalization: NormalizationArgument?

  @Option(
    help: "Class names for such files: a file with one per line (a leading WordNet id is dropped) or a comma-separated list.")
  var classes: String?

  @Option(help: "Image-folder preprocessing for such files: none, central-crop:FRACTION:SIZE, resize-center-crop:RESIZE:SIZE.")
  var preprocessing: String?

  func validate() throws {
    if let inputShape, TorchScriptMetadata.parseShape(inputShape) == nil {
      throw ValidationError("--input-shape must be three positive sizes C,H,W such as 3,32,32, got '\(inputShape)'")
    }
    if let preprocessing, Preprocessing(parsing: preprocessing) == nil {
      throw ValidationError(
        "--preprocessing must be none, central-crop:FRACTION:SIZE or resize-center-crop:RESIZE:SIZE, got '\(preprocessing)'")
    }
  }

  /// What to assume about files that do not describe themselves (checked in `validate`).
  func fileOptions() throws -> ModelFileOptions {
    ModelFileOptions(
      architecture: arch, normalization: normalization?.value,
      classNames: try classes.map(ModelLoader.classNames(parsing:)),
      preprocessing: preprocessing.flatMap(Preprocessing.init(parsing:)),
      inputShape: inputShape.flatMap(TorchScriptMetadata.parseShape), trustCode: trustCode)
  }

  /// The model files as given (`default`: the embedded model), with the files that hold them.
  func files() throws -> [ModelFile] {
    try (models.isEmpty ? ["default"] : models).map {
      ModelFile(
        recordedPath: $0 == "default" ? $0 : absolutePath($0),
        file: $0 == "default" ? try Resources.path("default-model.safetensors") : $0)
    }
  }

  /// Each model given, loaded (TorchScript files too, with --trust-code).
  func loadClassifiers(device: Device) throws -> [any Classifier] {
    let options = try fileOptions()
    return try files().map { f in
      do { return try ModelLoader.loadClassifier(f.file, options: options, device: device) } catch let e as FileFormatError
        where e.path == f.file
      {
        throw FileFormatError(f.file, e.message + " (--model)")
      }
    }
  }

  /// The model, or the ensemble (mean of logits) of the models given.
  func load(device: Device) throws -> any Classifier {
    let loaded = try loadClassifiers(device: device)
    return loaded.count == 1 ? loaded[0] : try Ensemble(loaded)
  }
}

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
    if let indices, parseIndexList(indices) == nil {
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

  /// The selection the flags describe (checked in `validate`).
  func imageSelection() throws -> ImageSelection {
    let rule: ImageSelection.Rule
    if let indices, let list = parseIndexList(indices) {
      rule = .indices(list, text: indices)
    } else if let confident {
      rule = .confident(threshold: confident, correctOnly: correctOnly)
    } else if all {
      rule = .all
    } else {
      throw ValidationError("choose the images with exactly one of --indices, --confident or --all")
    }
    return ImageSelection(rule, maxImages: maxImages)
  }

  /// Positions selected and a description for the manifest.
  func select(_ data: ImageDataset, classifier: any Classifier, device: Device) throws -> ([Int], String) {
    try imageSelection().select(data, classifier: classifier, device: device)
  }
}

extension Device: ExpressibleByArgument {
  public init?(argument: String) { self.init(parsing: argument) }
  public var defaultValueDescription: String { description }
}

/// `--shard`: `i/n` with 0 <= i < n, or `auto` (the Slurm job array's task), parsed once.
enum ShardFlag: ExpressibleByArgument, Equatable {
  case auto
  case fixed(Shard)

  init?(argument: String) {
    if argument == "auto" {
      self = .auto
    } else if let s = Shard(parsing: argument) {
      self = .fixed(s)
    } else {
      return nil
    }
  }
}

/// The shard a run processes: `--shard i/n`; `auto` or, when the flag is absent inside a Slurm
/// job array, the array task's (said on stderr); otherwise the whole run.
func resolveShard(_ flag: ShardFlag?) throws -> Shard {
  if case .fixed(let shard) = flag { return shard }
  let fromSlurm: Shard?
  do { fromSlurm = try Shard.fromSlurm(ProcessInfo.processInfo.environment) } catch {
    throw ValidationFailure("--shard auto: \(error)")
  }
  if let shard = fromSlurm {
    printError(
      "shard \(shard) from the Slurm job array (SLURM_ARRAY_TASK_ID \(ProcessInfo.processInfo.environment["SLURM_ARRAY_TASK_ID"] ?? ""))"
    )
    return shard
  }
  if flag == .auto { throw ValidationFailure("--shard auto needs a Slurm job array: SLURM_ARRAY_TASK_ID is not set") }
  return .whole
}

/// The normalization of a run's model, whose mean colours the masked pixels: recorded in the
/// manifest, else (older runs) in the model file's metadata, else CIFAR-10's.
func maskNormalization(_ manifest: RunManifest) -> Normalization {
  if let n = manifest.normalization.flatMap(Normalization.init(parsing:)) { return n }
  let model = manifest.modelPaths.first.map { $0 == "default" ? (try? Resources.path("default-model.safetensors")) ?? $0 : $0 }
  return model.flatMap(ModelCheckpoint.recordedNormalization) ?? .cifar10
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
      "embedded resource '\(name)' not found (looked in \(candidates.joined(separator: ", "))); set OVERINTERP_RESOURCES to the Resources folder"
    )
  }
}

/// `LABEL=PATH` split at the first `=`; both sides must be non-empty (`flag` names the argument
/// in the error).
func labelledPath(_ text: String, flag: String) throws -> (String, String) {
  guard let eq = text.firstIndex(of: "="), eq != text.startIndex, text.index(after: eq) != text.endIndex else {
    throw ValidationError("\(flag) must be LABEL=PATH, got '\(text)'")
  }
  return (String(text[..<eq]), String(text[text.index(after: eq)...]))
}
