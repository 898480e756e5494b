import Base
import Datasets
import Foundation
import Testing

@testable import Models
@testable import Torch

/// Fixtures from scripts/make_user_model_fixtures.py (Debian's PyTorch 1.13) and
/// scripts/make_torch2_fixtures.py (torch 2.13 from PyPI).
let torchScriptFixtures = modelFixtures + "/torchscript"
let defaultModelFile =
  URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../../Sources/overinterp/Resources/default-model.safetensors").standardized.path

/// The fixture images (N, 32, 32, 3) as a normalized (N, 3, 32, 32) batch.
func torchScriptInputs(_ normalization: Normalization = .cifar10) throws -> Tensor {
  let hwc = try NpyArray.read(torchScriptFixtures + "/inputs_u8.npy").tensor()
  return try normalization.apply(try hwc.permute([0, 3, 1, 2]).contiguous())
}

/// Runs `body` in a new temporary folder, removed afterwards.
func inTemporaryFolder(_ body: (String) throws -> Void) throws {
  let dir = NSTemporaryDirectory() + "/torchscript-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: dir) }
  try body(dir)
}

@Suite struct TorchScriptTests {
  let tiny = torchScriptFixtures + "/tiny_traced.pt"
  let resnet = torchScriptFixtures + "/resnet20_scripted.pt"

  @Test func tracedModelDescribesItselfAndGivesPyTorchsLogits() throws {
    let model = try TorchScriptModel.load(tiny, trustCode: true)
    #expect(model.info.classNames == CIFAR10.classNames)
    #expect(model.info.inputShape == [3, 32, 32])
    #expect(model.info.normalization == .cifar10)
    #expect(model.info.architecture == "tinynet (TorchScript)")
    #expect(model.provenance == "the file's overinterp.json")
    let logits = try withInferenceMode { try model.logits(try torchScriptInputs()) }
    #expect(logits.shape == [4, 10])
    let expected = try NpyArray.read(torchScriptFixtures + "/tiny_logits.npy").floats()
    assertClose(try logits.floats(), expected, atol: 1e-5)
  }

  /// Files traced and scripted by torch 2.13 (scripts/make_torch2_fixtures.py) load in this build,
  /// whichever libtorch it links (1.13 or 2.x), and give that torch's logits, which are also
  /// those of the same network saved by torch 1.13.
  @Test(arguments: ["tiny_traced_torch2.pt", "tiny_scripted_torch2.pt"])
  func filesFromTorch2Load(file: String) throws {
    let model = try TorchScriptModel.load(torchScriptFixtures + "/" + file, trustCode: true)
    #expect(model.info.inputShape == [3, 32, 32] && model.info.normalization == .cifar10)
    let logits = try withInferenceMode { try model.logits(try torchScriptInputs()).floats() }
    assertClose(logits, try NpyArray.read(torchScriptFixtures + "/tiny_torch2_logits.npy").floats(), atol: 1e-5)
    assertClose(logits, try NpyArray.read(torchScriptFixtures + "/tiny_logits.npy").floats(), atol: 1e-5)
  }

  @Test func scriptedResNetEqualsTheSameWeightsLoadedAsAStateDict() throws {
    let scripted = try TorchScriptModel.load(resnet, trustCode: true)
    #expect(scripted.provenance == "resnet20_scripted.pt.json")
    #expect(scripted.info.normalization == .cifar10)
    let native = try ModelLoader.load(defaultModelFile)
    let x = try torchScriptInputs()
    let (a, b) = try withInferenceMode { (try scripted.logits(x).floats(), try native.logits(x).floats()) }
    assertClose(a, try NpyArray.read(torchScriptFixtures + "/resnet20_logits.npy").floats(), atol: 1e-4)
    assertClose(a, b, atol: 1e-5)
  }

  @Test func refusedWithoutConsentToRunItsCode() throws {
    let e = #expect(throws: ModelError.self) { try TorchScriptModel.load(tiny, trustCode: false) }
    #expect("\(e!)".contains("Give trustCode"))
    #expect("\(e!)".contains("tiny_traced.pt"))
    let viaLoader = #expect(throws: ModelError.self) { try ModelLoader.loadClassifier(tiny) }
    #expect("\(viaLoader!)".contains("trustCode"))
  }

  @Test func toldApartFromStateDicts() throws {
    #expect(TorchScriptModel.isTorchScript(tiny))
    #expect(TorchScriptModel.isTorchScript(resnet))
    #expect(!TorchScriptModel.isTorchScript(torchScriptFixtures + "/tiny_state_dict.pt"))
    #expect(!TorchScriptModel.isTorchScript(defaultModelFile))
    #expect(!TorchScriptModel.isTorchScript(torchScriptFixtures + "/inputs_u8.npy"))
    // Commands that rebuild the network from weights (train, convert) name the problem.
    let e = #expect(throws: ModelError.self) {
      try ModelLoader.load(self.tiny, options: ModelFileOptions(architecture: .resnet20, trustCode: true))
    }
    #expect("\(e!)".contains("TorchScript"))
    let withArch = #expect(throws: ModelError.self) {
      try ModelLoader.loadClassifier(self.tiny, options: ModelFileOptions(architecture: .resnet20, trustCode: true))
    }
    #expect("\(withArch!)".contains("architecture resnet20"))
  }

  @Test func flagsOverrideTheFilesMetadata() throws {
    let flags = TorchScriptMetadata(classNames: (0..<10).map { "c\($0)" }, normalization: .unit)
    let model = try TorchScriptModel.load(tiny, flags: flags, trustCode: true)
    #expect(model.info.classNames.first == "c0")
    #expect(model.info.normalization == .unit)
    #expect(model.info.inputShape == [3, 32, 32])
    #expect(model.provenance == "the file's overinterp.json, flags")
    let e = #expect(throws: ModelError.self) {
      try TorchScriptModel.load(self.tiny, flags: TorchScriptMetadata(classNames: ["a", "b", "c"]), trustCode: true)
    }
    #expect("\(e!)".contains("3 class names were given, but the model returns 10 logits"))
  }

  @Test func missingDescriptionNamesTheWaysToGiveIt() throws {
    try inTemporaryFolder { dir in
      let bare = dir + "/bare.pt"
      try FileManager.default.copyItem(atPath: resnet, toPath: bare)
      let noNorm = #expect(throws: ModelError.self) { try TorchScriptModel.load(bare, trustCode: true) }
      #expect("\(noNorm!)".contains("give normalization"))
      #expect("\(noNorm!)".contains("bare.pt.json"))
      let noShape = #expect(throws: ModelError.self) {
        try TorchScriptModel.load(bare, flags: TorchScriptMetadata(normalization: .cifar10), trustCode: true)
      }
      #expect("\(noShape!)".contains("give inputShape C,H,W"))
      // A sidecar named net.json (not net.pt.json) is found too.
      try Data(#"{"input_shape": [3, 32, 32], "normalization": "cifar10"}"#.utf8).write(
        to: URL(fileURLWithPath: dir + "/bare.json"))
      #expect(try TorchScriptModel.load(bare, trustCode: true).provenance == "bare.json")
      // The wrong input size: the probe pass fails and says with which shape.
      let wrongShape = #expect(throws: ModelError.self) {
        try TorchScriptModel.load(bare, flags: TorchScriptMetadata(inputShape: [1, 32, 32]), trustCode: true)
      }
      #expect("\(wrongShape!)".contains("the normalization has 3 channels"))
      let probeFails = #expect(throws: ModelError.self) {
        try TorchScriptModel.load(
          bare, flags: TorchScriptMetadata(inputShape: [1, 32, 32], normalization: Normalization(mean: [0.5], std: [0.5])),
          trustCode: true)
      }
      #expect("\(probeFails!)".contains("running it on a batch of 2 images of shape [1, 32, 32] failed"))
    }
  }

  /// With --trust-code and no --arch the user expects TorchScript: a truncated file or a state
  /// dict says why it is not one.
  @Test func truncatedTorchScriptIsNamed() throws {
    try inTemporaryFolder { dir in
      let truncated = dir + "/net.pt"
      let bytes = try readFile(tiny)
      try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: truncated))
      let e = #expect(throws: ModelError.self) {
        try ModelLoader.loadClassifier(truncated, options: ModelFileOptions(trustCode: true))
      }
      #expect("\(e!)".contains("net.pt") && "\(e!)".contains("truncated"), "\(e!)")
      let stateDict = #expect(throws: ModelError.self) {
        try ModelLoader.loadClassifier(torchScriptFixtures + "/tiny_state_dict.pt", options: ModelFileOptions(trustCode: true))
      }
      #expect("\(stateDict!)".contains("needs architecture"), "\(stateDict!)")
    }
  }

  @Test func forwardMustReturnLogits() throws {
    let e = #expect(throws: ModelError.self) {
      try TorchScriptModel.load(
        torchScriptFixtures + "/tuple_output.pt", flags: TorchScriptMetadata(inputShape: [3, 8, 8], normalization: .cifar10),
        trustCode: true)
    }
    #expect("\(e!)".contains("returned a tuple of 2 values"))
  }

  @Test func notTrainedHere() throws {
    let model = try TorchScriptModel.load(tiny, trustCode: true)
    #expect(throws: ModelError.self) { try model.logits(try Tensor.zeros([1, 3, 32, 32]), training: true) }
  }

  @Test(arguments: [
    (#"{"input_shape": [3, 32]}"#, "input_shape"), (#"{"normalization": "nope"}"#, "normalization"),
    (#"{"class_names": []}"#, "class_names"), (#"{"inputshape": [3, 32, 32]}"#, "unknown key 'inputshape'"),
    (#"[1, 2]"#, "not a JSON object"), (#"{"normalization": {"mean": [0.5], "std": [0]}}"#, "positive std"),
    (#"{"preprocessing": "crop"}"#, "preprocessing"),
  ])
  func badMetadataIsNamed(json: String, expected: String) throws {
    let e = #expect(throws: FileFormatError.self) { try TorchScriptMetadata(json: Array(json.utf8), source: "m.json") }
    #expect("\(e!)".contains("m.json"))
    #expect("\(e!)".contains(expected))
  }

  @Test func metadataForms() throws {
    let m = try TorchScriptMetadata(
      json: Array(#"{"input_shape": "3x224x224", "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}"#.utf8),
      source: "m.json")
    #expect(m.inputShape == [3, 224, 224])
    #expect(m.normalization == .minusOneToOne)
  }
}

/// A checkpoint in the MadryLab robustness library's layout (scripts/make_user_model_fixtures.py).
@Suite struct RobustnessLibraryTests {
  let file = modelFixtures + "/robustness/resnet20.pt"

  @Test func loadsTheNetworkAndItsNormalizer() throws {
    let net = try ModelLoader.load(file, options: ModelFileOptions(architecture: .resnet20))
    #expect(net.info.normalization == Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616]))
    let native = try ModelLoader.load(defaultModelFile)
    for ((name, a), (_, b)) in zip(net.stateDict(), native.stateDict()) {
      #expect(try a.bytes() == b.bytes(), "\(name)")
    }
    // --normalization wins over the file's normalizer.
    let flagged = try ModelLoader.load(file, options: ModelFileOptions(architecture: .resnet20, normalization: .cifar10))
    #expect(flagged.info.normalization == .cifar10)
  }

  @Test func layoutIsRecognizedOnlyWhenComplete() throws {
    let w = try Tensor([Float(1)], shape: [1])
    let mean = try Tensor([Float(0.5), 0.5, 0.5], shape: [3, 1, 1])
    #expect(try RobustnessLibraryLayout([("conv.weight", w)], source: "f") == nil)
    let e = #expect(throws: ModelError.self) {
      try RobustnessLibraryLayout(
        [
          ("normalizer.new_mean", mean), ("normalizer.new_std", try Tensor([Float(0), 1, 1], shape: [3, 1, 1])), ("model.a", w),
        ],
        source: "f")
    }
    #expect("\(e!)".contains("std positive"))
    let extra = #expect(throws: ModelError.self) {
      try RobustnessLibraryLayout(
        [("normalizer.new_mean", mean), ("normalizer.new_std", mean), ("model.a", w), ("head.b", w)], source: "f")
    }
    #expect("\(extra!)".contains("head.b"))
    let ok = try #require(
      try RobustnessLibraryLayout(
        [("normalizer.new_mean", mean), ("normalizer.new_std", mean), ("model.a", w), ("attacker.model.a", w)], source: "f"))
    #expect(ok.network.map(\.0) == ["a"])
  }
}
