import Base
import Datasets
import Foundation
import Torch

/// What to assume about a model file that does not describe itself (a PyTorch checkpoint, or a
/// safetensors state dict without overinterp's metadata). Files made by overinterp carry all of
/// this in their metadata and need none of it.
public struct ModelFileOptions: Sendable {
  /// The architecture the state dict belongs to (required for files without metadata).
  public var architecture: Architecture?
  /// Input normalization (default: the architecture's).
  public var normalization: Normalization?
  /// Class names (default: CIFAR-10's for 10 outputs, "class k" otherwise).
  public var classNames: [String]?
  /// Image-folder preprocessing (default: the architecture's).
  public var preprocessing: Preprocessing?
  /// Input shape C,H,W of a TorchScript model (built-in architectures know theirs).
  public var inputShape: [Int]?
  /// Whether TorchScript files may be loaded: that runs the code they contain.
  public var trustCode: Bool

  public init(
    architecture: Architecture? = nil, normalization: Normalization? = nil, classNames: [String]? = nil,
    preprocessing: Preprocessing? = nil, inputShape: [Int]? = nil, trustCode: Bool = false
  ) {
    self.architecture = architecture
    self.normalization = normalization
    self.classNames = classNames
    self.preprocessing = preprocessing
    self.inputShape = inputShape
    self.trustCode = trustCode
  }

  /// The flags' part of a TorchScript model's description.
  var torchScriptFlags: TorchScriptMetadata {
    TorchScriptMetadata(
      classNames: classNames, inputShape: inputShape, normalization: normalization, preprocessing: preprocessing)
  }
}

/// Loads networks from files: overinterp's safetensors (self-describing), bare safetensors state
/// dicts and PyTorch checkpoints (the last two with `ModelFileOptions.architecture`). PyTorch
/// checkpoints go through the restricted pickle reader: no code from the file is run.
public enum ModelLoader {
  /// Any model file as a classifier: the files `load` reads, and TorchScript files (with
  /// `options.trustCode`; see `TorchScriptModel.load`).
  public static func loadClassifier(_ file: String, options: ModelFileOptions = .init(), device: Device = .cpu) throws
    -> any Classifier
  {
    guard FileManager.default.fileExists(atPath: file) else { throw FileFormatError(file, "no such model file") }
    // With --arch the file is read as a state dict, and `load` recognizes TorchScript only if
    // that fails, so state dicts are not read twice.
    if !file.hasSuffix(".safetensors"), options.architecture == nil {
      if TorchScriptModel.isTorchScript(file) {
        return try TorchScriptModel.load(file, flags: options.torchScriptFlags, trustCode: options.trustCode, device: device)
      }
      if options.trustCode {
        // --trust-code without --arch: the user expects TorchScript; say why this is not it.
        let why: String
        do {
          _ = try ZipArchive(path: file)
          why = "a ZIP archive without TorchScript's code/ folder and constants.pkl"
        } catch let e as FileFormatError {
          why = e.message
        }
        throw ModelError.badCheckpoint(
          path: file, message: "not a TorchScript archive (\(why)); a PyTorch state dict needs {architecture}")
      }
    }
    return try load(file, options: options, device: device)
  }

  /// What `load` says of a TorchScript file (given with `architecture`, if any).
  static func torchScriptRefusal(_ file: String, architecture: Architecture?) -> ModelError {
    .badCheckpoint(
      path: file,
      message: "this is a TorchScript model, which brings its own architecture"
        + (architecture.map { ", so {architecture} \($0.rawValue) does not apply" } ?? "")
        + ": eval, backselect, sis, audit and table1 read it with {trustCode} (without {architecture}); train, convert and {initialWeights} need weights overinterp can rebuild (a state dict: torch.save(model.state_dict(), path) with {architecture})"
    )
  }

  /// A network overinterp can train, convert and save: overinterp's safetensors, bare safetensors
  /// state dicts and PyTorch checkpoints. TorchScript files are refused (see `loadClassifier`).
  public static func load(_ file: String, options: ModelFileOptions = .init(), device: Device = .cpu) throws -> any Network {
    guard FileManager.default.fileExists(atPath: file) else { throw FileFormatError(file, "no such model file") }
    let isSafetensors = file.hasSuffix(".safetensors")
    if isSafetensors, options.architecture == nil {
      return try ModelCheckpoint.load(file, device: device).network
    }
    guard let architecture = options.architecture else {
      if TorchScriptModel.isTorchScript(file) { throw torchScriptRefusal(file, architecture: nil) }
      throw ModelError.badCheckpoint(
        path: file, message: "a PyTorch checkpoint does not say its architecture; give {architecture} (and {normalization})")
    }
    var state: [(String, Tensor)]
    if isSafetensors {
      state = try Safetensors.read(file).tensors
    } else {
      // A TorchScript file's pickle names its own classes, which the restricted reader refuses.
      do { state = try TorchCheckpoint(path: file).stateDict() } catch  where TorchScriptModel.isTorchScript(file) {
        throw torchScriptRefusal(file, architecture: architecture)
      }
    }
    var options = options
    if let robust = try RobustnessLibraryLayout(state, source: file) {
      state = robust.network
      if options.normalization == nil { options.normalization = robust.normalization }
    }
    return try build(architecture, state: state, source: file, options: options, device: device)
  }

  /// `architecture` filled with the weights of `state` (named as PyTorch's state_dict).
  public static func build(
    _ architecture: Architecture, state: [(String, Tensor)], source: String, options: ModelFileOptions = .init(),
    device: Device = .cpu
  ) throws -> any Network {
    let names =
      options.classNames
      ?? {
        let outputs = state.last { $0.1.rank == 2 }?.1.shape[0] ?? 10
        return outputs == 10 ? CIFAR10.classNames : (0..<outputs).map { "class \($0)" }
      }()
    let network = try architecture.build(classNames: names, normalization: options.normalization, device: device)
    if let p = options.preprocessing { network.info.preprocessing = p }
    try network.load(stateDict: state, source: source)
    return network
  }

  /// Class names from a file (one per line; a leading WordNet id such as `n01440764 ` is
  /// dropped) or from a comma-separated list.
  public static func classNames(parsing text: String) throws -> [String] {
    if FileManager.default.fileExists(atPath: text) {
      let lines = try String(contentsOfFile: text, encoding: .utf8).split(separator: "\n")
        .map { String($0).trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
      guard !lines.isEmpty else { throw FileFormatError(text, "no class names (expected one per line)") }
      return lines.map { line in
        let isWordNetID = line.count > 10 && line.first == "n" && line.dropFirst().prefix(8).allSatisfy(\.isNumber)
        return isWordNetID && line.dropFirst(9).first == " " ? String(line.dropFirst(10)) : line
      }
    }
    let names = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !names.isEmpty else {
      throw SettingProblem("classes", "names no classes: '\(text)' (a file with one name per line, or names separated by commas)")
    }
    return names
  }
}

/// A state dict in the layout of the MadryLab `robustness` library (its `AttackerModel`, saved
/// by `robustness.train` under DataParallel's `module.` prefix, which `TorchCheckpoint` strips):
/// the network under `model.`, the same network again under `attacker.model.`, and the input
/// normalization as buffers `normalizer.new_mean` / `normalizer.new_std` of shape (C, 1, 1)
/// (also under `attacker.normalizer.`). The network's own names (after `model.`) are those of the
/// architecture, so a robustness-library model loads when the architecture exists here (for
/// CIFAR-10 its `vgg16`, whose names are those of `Architecture.vgg16`).
public struct RobustnessLibraryLayout {
  /// The network's state dict, names without `model.`.
  public let network: [(String, Tensor)]
  /// The normalization its normalizer applies.
  public let normalization: Normalization

  /// nil when `state` is not in that layout; throws when it is but is incomplete.
  public init?(_ state: [(String, Tensor)], source: String) throws {
    let names = Dictionary(state.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    guard let mean = names["normalizer.new_mean"], let std = names["normalizer.new_std"],
      state.contains(where: { $0.0.hasPrefix("model.") })
    else { return nil }
    // float32 buffers: their shortest decimal form (0.4914, not 0.49140000343...).
    let m = try mean.to(.float32).floats().map { Double($0.description) ?? Double($0) }
    let s = try std.to(.float32).floats().map { Double($0.description) ?? Double($0) }
    guard m.count == s.count, !m.isEmpty, s.allSatisfy({ $0 > 0 && $0.isFinite }), m.allSatisfy(\.isFinite) else {
      throw ModelError.badCheckpoint(
        path: source,
        message:
          "a robustness-library checkpoint whose normalizer is unusable (mean \(mean.shape), std \(std.shape); expected C values each, std positive)"
      )
    }
    let unexpected = state.map(\.0).filter {
      !$0.hasPrefix("model.") && !$0.hasPrefix("attacker.") && !$0.hasPrefix("normalizer.")
    }
    guard unexpected.isEmpty else {
      throw ModelError.badCheckpoint(
        path: source,
        message:
          "looks like a robustness-library checkpoint (normalizer.new_mean) but also holds \(unexpected.prefix(3).joined(separator: ", "))"
      )
    }
    network = state.filter { $0.0.hasPrefix("model.") }.map { (String($0.0.dropFirst("model.".count)), $0.1) }
    normalization = Normalization(mean: m, std: s)
  }
}
