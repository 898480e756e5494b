import Base
import Datasets
import Foundation
import Torch

/// What a TorchScript model file says about itself, and what a JSON file beside it says: the
/// same keys as overinterp's own model metadata (`ModelCheckpoint`).
///
/// ```json
/// {"class_names": ["airplane", "..."], "input_shape": [3, 32, 32],
///  "normalization": "0.4914,0.4822,0.4465/0.2023,0.1994,0.2010", "preprocessing": "none",
///  "architecture": "my-resnet"}
/// ```
///
/// `input_shape` may also be written `"3,32,32"`, and `normalization` as a preset name
/// (`cifar10`, `imagenet`, ...) or as `{"mean": [...], "std": [...]}`. Every key is optional here;
/// together with the command-line flags, the normalization and input shape must be known.
public struct TorchScriptMetadata: Equatable, Sendable {
  public var architecture: String?
  public var classNames: [String]?
  public var inputShape: [Int]?
  public var normalization: Normalization?
  public var preprocessing: Preprocessing?

  public init(
    architecture: String? = nil, classNames: [String]? = nil, inputShape: [Int]? = nil, normalization: Normalization? = nil,
    preprocessing: Preprocessing? = nil
  ) {
    self.architecture = architecture
    self.classNames = classNames
    self.inputShape = inputShape
    self.normalization = normalization
    self.preprocessing = preprocessing
  }

  /// The name of the entry that carries the metadata inside a TorchScript archive:
  /// `torch.jit.save(m, path, _extra_files={"overinterp.json": text})` stores it as
  /// `<archive>/extra/overinterp.json`.
  public static let extraFileName = "overinterp.json"

  /// Parses the JSON text; `source` names the file in errors.
  public init(json bytes: [UInt8], source: String) throws {
    guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)), let root = object as? [String: Any] else {
      throw FileFormatError(source, "not a JSON object (expected keys class_names, input_shape, normalization, preprocessing)")
    }
    let known: Set = ["architecture", "class_names", "input_shape", "normalization", "preprocessing"]
    if let unknown = root.keys.sorted().first(where: { !known.contains($0) }) {
      throw FileFormatError(source, "unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
    }
    if let v = root["architecture"] {
      guard let s = v as? String, !s.isEmpty else { throw FileFormatError(source, "architecture must be a non-empty string") }
      architecture = s
    }
    if let v = root["class_names"] {
      guard let names = v as? [String], !names.isEmpty else {
        throw FileFormatError(source, "class_names must be a non-empty array of strings")
      }
      classNames = names
    }
    if let v = root["input_shape"] {
      let dims: [Int]?
      if let s = v as? String {
        dims = Self.parseShape(s)
      } else if let a = v as? [NSNumber] {
        dims = a.allSatisfy({ Double(truncating: $0) == Double(Int(truncating: $0)) }) ? a.map { Int(truncating: $0) } : nil
      } else {
        dims = nil
      }
      guard let dims, dims.count == 3, dims.allSatisfy({ $0 > 0 && $0 <= 65_536 }) else {
        throw FileFormatError(source, "input_shape must be three positive sizes C,H,W (e.g. [3, 32, 32]), got \(v)")
      }
      inputShape = dims
    }
    if let v = root["normalization"] {
      var parsed: Normalization?
      if let s = v as? String {
        parsed = Normalization(parsing: s)
      } else if let o = v as? [String: Any], let m = o["mean"] as? [NSNumber], let s = o["std"] as? [NSNumber], o.count == 2,
        m.count == s.count, !m.isEmpty, s.allSatisfy({ Double(truncating: $0) > 0 })
      {
        parsed = Normalization(mean: m.map { Double(truncating: $0) }, std: s.map { Double(truncating: $0) })
      }
      guard let parsed else {
        throw FileFormatError(
          source,
          "normalization must be a preset (\(Normalization.presets.map(\.0).joined(separator: ", "))), \"m1,m2,m3/s1,s2,s3\" or {\"mean\": [...], \"std\": [...]} with positive std, got \(v)"
        )
      }
      normalization = parsed
    }
    if let v = root["preprocessing"] {
      guard let s = v as? String, let p = Preprocessing(parsing: s) else {
        throw FileFormatError(
          source, "preprocessing must be none, central-crop:FRACTION:SIZE or resize-center-crop:RESIZE:SIZE, got \(v)")
      }
      preprocessing = p
    }
  }

  /// "3,32,32" or "3x32x32".
  public static func parseShape(_ text: String) -> [Int]? {
    let parts = text.split(whereSeparator: { $0 == "," || $0 == "x" }).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    let sizes = parts.compactMap { $0 }
    guard sizes.count == 3, sizes.allSatisfy({ $0 > 0 }) else { return nil }
    return sizes
  }

  /// `self` with every field `other` sets taken from `other`.
  public func overridden(by other: TorchScriptMetadata) -> TorchScriptMetadata {
    TorchScriptMetadata(
      architecture: other.architecture ?? architecture, classNames: other.classNames ?? classNames,
      inputShape: other.inputShape ?? inputShape, normalization: other.normalization ?? normalization,
      preprocessing: other.preprocessing ?? preprocessing)
  }
}

/// A classifier held in a TorchScript file: the user's own model, written in PyTorch and saved
/// with `torch.jit.trace(model, x).save(path)` (or `torch.jit.script`). Its `forward` must map a
/// normalized float32 batch (N, C, H, W) to logits (N, classes).
///
/// Loading it runs code from the file; `TorchScriptModel.load` refuses unless the caller passes
/// `trustCode` (the CLI's `--trust-code`).
public final class TorchScriptModel: Classifier, @unchecked Sendable {
  public let module: ScriptModule
  public let info: ModelInfo
  /// Where each part of `info` came from ("the file's overinterp.json", "net.pt.json", "flags").
  public let provenance: String

  init(module: ScriptModule, info: ModelInfo, provenance: String) {
    self.module = module
    self.info = info
    self.provenance = provenance
  }

  public func logits(_ x: Tensor, training: Bool) throws -> Tensor {
    if training {
      throw ModelError.badCheckpoint(
        path: module.path, message: "a TorchScript model is evaluated and audited here, not trained (train it in PyTorch)")
    }
    return try module.forward(x)
  }

  /// Whether `path` is a TorchScript archive: a ZIP whose entries include the `code/` folder or
  /// `constants.pkl` that `torch.jit.save` writes (a `torch.save` checkpoint has neither).
  public static func isTorchScript(_ path: String) -> Bool {
    guard let archive = try? ZipArchive(path: path) else { return false }
    return archive.entries.contains { e in
      let parts = e.name.split(separator: "/")
      return parts.count >= 2 && (parts[1] == "code" || (parts.count == 2 && parts[1] == "constants.pkl"))
    }
  }

  /// The metadata stored in the archive as `extra/overinterp.json`, if any.
  public static func embeddedMetadata(_ path: String) throws -> TorchScriptMetadata? {
    let archive = try ZipArchive(path: path)
    guard
      let entry = archive.entries.first(where: {
        let parts = $0.name.split(separator: "/")
        return parts.count == 3 && parts[1] == "extra" && parts[2] == Substring(TorchScriptMetadata.extraFileName)
      })
    else { return nil }
    return try TorchScriptMetadata(json: try archive.data(of: entry), source: "\(path) (\(entry.name))")
  }

  /// The JSON file beside a model file that describes it: `net.pt.json`, else `net.json`.
  public static func sidecarPath(_ path: String) -> String? {
    let url = URL(fileURLWithPath: path)
    let candidates = [path + ".json", url.deletingPathExtension().path + ".json"]
    return candidates.first { $0 != path && FileManager.default.fileExists(atPath: $0) }
  }

  /// Loads a TorchScript classifier. What it expects is taken from, in increasing precedence, the
  /// archive's `extra/overinterp.json`, the JSON file beside it (`sidecarPath`) and `flags`; the
  /// normalization and input shape must come from one of them. The model is run once on a batch of
  /// two mean images to learn and check its number of classes.
  public static func load(
    _ path: String, flags: TorchScriptMetadata = .init(), trustCode: Bool, device: Device = .cpu
  ) throws -> TorchScriptModel {
    guard trustCode else {
      throw ModelError.badCheckpoint(
        path: path,
        message:
          "this is a TorchScript model: loading it runs the code stored in the file. Give {trustCode} if you trust where it came from (state dicts need no such setting: they are read without running anything)"
      )
    }
    var meta = TorchScriptMetadata()
    var sources: [String] = []
    if let embedded = try embeddedMetadata(path) {
      meta = embedded
      sources.append("the file's \(TorchScriptMetadata.extraFileName)")
    }
    if let sidecar = sidecarPath(path) {
      meta = meta.overridden(by: try TorchScriptMetadata(json: try readFile(sidecar), source: sidecar))
      sources.append(URL(fileURLWithPath: sidecar).lastPathComponent)
    }
    if flags != TorchScriptMetadata() {
      meta = meta.overridden(by: flags)
      sources.append("flags")
    }
    let sidecarHint = "\(URL(fileURLWithPath: path).lastPathComponent).json beside it"
    guard let normalization = meta.normalization else {
      throw ModelError.badCheckpoint(
        path: path,
        message:
          "a TorchScript file does not say how its input is normalized: give {normalization} (e.g. cifar10 or m1,m2,m3/s1,s2,s3), or write it in \(sidecarHint) or in the file's extra/\(TorchScriptMetadata.extraFileName)"
      )
    }
    guard let shape = meta.inputShape else {
      throw ModelError.badCheckpoint(
        path: path,
        message:
          "a TorchScript file does not say its input size: give {inputShape} C,H,W (e.g. 3,32,32), or write input_shape in \(sidecarHint) or in the file's extra/\(TorchScriptMetadata.extraFileName)"
      )
    }
    guard normalization.mean.count == shape[0] else {
      throw ModelError.badCheckpoint(
        path: path,
        message: "the normalization has \(normalization.mean.count) channels, the input shape \(shape) has \(shape[0])")
    }
    let module = try ScriptModule(path: path, device: device)
    // One forward pass on two mean images (zeros after normalization): the output must be
    // logits (2, classes) in a floating type, all finite.
    let probe = try Tensor.zeros([2] + shape, device: device)
    let out: Tensor
    do {
      out = try withInferenceMode { try module.forward(probe) }
    } catch {
      throw ModelError.badCheckpoint(
        path: path,
        message:
          "running it on a batch of 2 images of shape \(shape) failed: \("\(error)".replacingOccurrences(of: path + ": ", with: ""))"
      )
    }
    guard out.rank == 2, out.shape[0] == 2, out.shape[1] >= 2 else {
      throw ModelError.badCheckpoint(
        path: path,
        message:
          "on a batch of 2 images of shape \(shape) it returned a tensor of shape \(out.shape); overinterp needs logits of shape (2, classes) with at least 2 classes"
      )
    }
    guard out.dtype.isFloatingPoint else {
      throw ModelError.badCheckpoint(
        path: path, message: "it returned \(out.dtype) values; overinterp needs floating-point logits")
    }
    let values = try out.to(.float32, .cpu).floats()
    guard values.allSatisfy(\.isFinite) else {
      throw ModelError.badCheckpoint(path: path, message: "it returned non-finite logits (NaN or infinity) for mean images")
    }
    let classes = out.shape[1]
    let names = meta.classNames ?? (classes == 10 ? CIFAR10.classNames : (0..<classes).map { "class \($0)" })
    guard names.count == classes else {
      throw ModelError.badCheckpoint(
        path: path, message: "\(names.count) class names were given, but the model returns \(classes) logits")
    }
    let name = meta.architecture.map { "\($0) (TorchScript)" } ?? "TorchScript \(URL(fileURLWithPath: path).lastPathComponent)"
    let info = ModelInfo(
      architecture: name, classNames: names, inputShape: shape, normalization: normalization,
      preprocessing: meta.preprocessing ?? .none)
    return TorchScriptModel(
      module: module, info: info, provenance: sources.isEmpty ? "defaults" : sources.joined(separator: ", "))
  }
}
