import Datasets
import Foundation
import Torch

/// overinterp's model files: safetensors holding the PyTorch state_dict under its usual names,
/// with metadata that makes the file self-describing:
///
/// | key | value |
/// |---|---|
/// | `format` | `overinterp-model/1` |
/// | `architecture` | an `Architecture` name |
/// | `class_names` | JSON array of strings |
/// | `input_shape` | `C,H,W` |
/// | `normalization` | `m1,m2,m3/s1,s2,s3` (pixels / 255, minus mean, over std) |
/// | `training_config` | JSON object, when the model was trained by overinterp |
/// | `source` | where the weights came from |
public enum ModelCheckpoint {
  public static let format = "overinterp-model/1"

  public static func save(
    _ network: any Network, to path: String, trainingConfig: String? = nil, source: String? = nil,
    extra: [String: String] = [:]
  ) throws {
    var meta = extra
    meta["format"] = format
    meta["architecture"] = network.info.architecture
    meta["class_names"] = String(decoding: try JSONSerialization.data(withJSONObject: network.info.classNames), as: UTF8.self)
    meta["input_shape"] = network.info.inputShape.map(String.init).joined(separator: ",")
    meta["normalization"] = network.info.normalization.description
    meta["preprocessing"] = network.info.preprocessing.description
    if let trainingConfig { meta["training_config"] = trainingConfig }
    if let source { meta["source"] = source }
    try Safetensors.write(network.stateDict(), metadata: meta, to: path)
  }

  /// Loads a model file written by `save` (or by `overinterp convert`), checking every name and
  /// shape against the architecture named in its metadata.
  public static func load(_ path: String, device: Device = .cpu) throws -> (network: any Network, metadata: [String: String]) {
    let (tensors, meta) = try Safetensors.read(path)
    guard let archName = meta["architecture"] else {
      throw ModelError.badCheckpoint(
        path: path,
        message:
          "no 'architecture' in the safetensors metadata; make model files with `overinterp convert IN OUT {architecture} NAME`")
    }
    let arch = try Architecture.named(archName)
    var classNames = CIFAR10.classNames
    if let text = meta["class_names"] {
      guard let names = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String], !names.isEmpty else {
        throw ModelError.badCheckpoint(path: path, message: "metadata 'class_names' is not a JSON array of strings")
      }
      classNames = names
    }
    var normalization = Normalization.cifar10
    if let text = meta["normalization"] {
      guard let n = Normalization(parsing: text) else {
        throw ModelError.badCheckpoint(path: path, message: "metadata 'normalization' \(text) is not mean/std")
      }
      normalization = n
    }
    var inputSize = arch.defaultInputSize
    if let text = meta["input_shape"] {
      let dims = text.split(separator: ",").compactMap { Int($0) }
      guard dims.count == 3, dims[0] == 3, dims[1] == dims[2] else {
        throw ModelError.badCheckpoint(path: path, message: "metadata 'input_shape' \(text) is not 3,H,H")
      }
      inputSize = dims[1]
    }
    let network = try arch.build(classNames: classNames, normalization: normalization, inputSize: inputSize, device: device)
    if let text = meta["preprocessing"] {
      guard let p = Preprocessing(parsing: text) else {
        throw ModelError.badCheckpoint(path: path, message: "metadata 'preprocessing' \(text) is not understood")
      }
      network.info.preprocessing = p
    }
    try network.load(stateDict: tensors, source: path)
    return (network, meta)
  }
}

extension ModelCheckpoint {
  /// The normalization an overinterp safetensors file records in its metadata (nil for other
  /// files, or one without it). Reads the header and metadata only.
  public static func recordedNormalization(_ file: String) -> Normalization? {
    guard file.hasSuffix(".safetensors"), let text = try? Safetensors.read(file).metadata["normalization"] else { return nil }
    return Normalization(parsing: text)
  }
}
