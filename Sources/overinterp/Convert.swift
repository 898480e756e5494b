import ArgumentParser
import Datasets
import Foundation
import Models
import Torch

struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Make an overinterp model file (safetensors with metadata) from PyTorch weights.",
    discussion: """
      Reads torch.save files in the ZIP format (PyTorch >= 1.6) and the legacy format, and bare \
      safetensors state dicts, through a restricted reader that accepts only tensors and plain \
      containers and never runs code from the file. Every parameter name and shape is checked \
      against the architecture; all mismatches are reported at once. A `module.` prefix \
      (nn.DataParallel) is removed.
      """)

  @Argument(help: "PyTorch checkpoint (.pt, .pth, .th) or safetensors state dict.")
  var input: String

  @Argument(help: "Output .safetensors file.")
  var output: String

  @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var arch: String

  @Option(help: "Input normalization the weights were trained with: \(Normalization.presets.map(\.0).joined(separator: ", ")), or m1,m2,m3/s1,s2,s3.")
  var normalization: String = "cifar10"

  @Option(help: "Comma-separated class names (default: the CIFAR-10 classes).")
  var classes: String?

  func validate() throws {
    if Architecture(rawValue: arch) == nil {
      throw ValidationError("--arch must be one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")), got '\(arch)'")
    }
    if Normalization(parsing: normalization) == nil {
      throw ValidationError("--normalization must be a preset or m1,m2,m3/s1,s2,s3, got '\(normalization)'")
    }
    if !output.hasSuffix(".safetensors") { throw ValidationError("the output file must end in .safetensors, got '\(output)'") }
  }

  func run() throws {
    try Runtime.configureAllocator()
    guard FileManager.default.fileExists(atPath: input) else { throw FileFormatError(input, "no such file") }
    let classNames = classes.map { $0.split(separator: ",").map(String.init) } ?? ModelInfo.cifar10Classes
    let network = try Architecture.named(arch).build(
      classNames: classNames, normalization: Normalization(parsing: normalization) ?? .cifar10)
    let state = input.hasSuffix(".safetensors") ? try Safetensors.read(input).tensors : try TorchCheckpoint(path: input).stateDict()
    try network.load(stateDict: state, source: input)
    let hash = try SHA256.hex(file: input)
    try ModelCheckpoint.save(
      network, to: output, source: "\(URL(fileURLWithPath: input).lastPathComponent) sha256:\(hash)")
    print("wrote \(output): \(arch), \(network.parameterCount) parameters, \(classNames.count) classes, normalization \(network.info.normalization.name)")
  }
}
