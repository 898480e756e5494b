import ArgumentParser
import Analysis
import Audit
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

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
  var inputShape: InputShapeArgument?

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
  var preprocessing: Preprocessing?

  /// What to assume about files that do not describe themselves.
  func fileOptions() throws -> ModelFileOptions {
    ModelFileOptions(
      architecture: arch, normalization: normalization?.value,
      classNames: try classes.map(ModelLoader.classNames(parsing:)),
      preprocessing: preprocessing, inputShape: inputShape?.value, trustCode: trustCode)
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

/// The normalization of a run's model, whose mean colours the masked pixels: recorded in the
/// manifest, else (older runs) in the model file's metadata, else CIFAR-10's.
func maskNormalization(_ manifest: RunManifest) -> Normalization {
  if let n = manifest.normalization.flatMap(Normalization.init(parsing:)) { return n }
  let model = manifest.modelPaths.first.map { $0 == "default" ? (try? Resources.path("default-model.safetensors")) ?? $0 : $0 }
  return model.flatMap(ModelCheckpoint.recordedNormalization) ?? .cifar10
}
