import ArgumentParser
import Base
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

  @Option(help: "Architecture.")
  var arch: Architecture

  @Option(
    help:
      "Input normalization the weights were trained with: \(Normalization.presets.map(\.0).joined(separator: ", ")), or m1,m2,m3/s1,s2,s3 (default: the architecture's: cifar10; minus-one-to-one for mobilenet_v2_tfsame; imagenet for mobilenet_v2)."
  )
  var normalization: NormalizationArgument?

  @Option(
    help:
      "Class names: a file with one per line (a leading WordNet id is dropped) or a comma-separated list (default: CIFAR-10's for 10 outputs)."
  )
  var classes: String?

  @Option(
    help:
      "Image-folder preprocessing: none, central-crop:FRACTION:SIZE, resize-center-crop:RESIZE:SIZE (default: the architecture's)."
  )
  var preprocessing: String?

  func validate() throws {
    if !output.hasSuffix(".safetensors") { throw ValidationError("the output file must end in .safetensors, got '\(output)'") }
  }

  func run() throws {
    try Runtime.configureAllocator()
    let options = ModelFileOptions(
      architecture: arch, normalization: normalization?.value,
      classNames: try classes.map(ModelLoader.classNames(parsing:)),
      preprocessing: preprocessing.flatMap(Preprocessing.init(parsing:)))
    let network = try ModelLoader.load(input, options: options)
    let classNames = network.info.classNames
    let hash = try SHA256.hex(file: input)
    try ModelCheckpoint.save(
      network, to: output, source: "\(URL(fileURLWithPath: input).lastPathComponent) sha256:\(hash)")
    print(
      "wrote \(output): \(arch), \(network.parameterCount) parameters, \(classNames.count) classes, normalization \(network.info.normalization.name)"
    )
  }
}
