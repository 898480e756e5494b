import Datasets
import Foundation
import Models
import Testing
import Torch

@testable import SIS

/// The ResNet20 of scripts/make_torchscript_fixtures.py: the embedded model's weights, once as
/// TorchScript (torch.jit.script, run by libtorch's interpreter) and once as the state dict
/// overinterp rebuilds in Swift. Backward selection must not tell them apart.
@Suite struct TorchScriptSISTests {
  let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  var scriptedFile: String {
    here.appendingPathComponent("../ModelsTests/Fixtures/torchscript/resnet20_scripted.pt").standardized.path
  }
  var stateDictFile: String {
    here.appendingPathComponent("../../Sources/overinterp/Resources/default-model.safetensors").standardized.path
  }

  /// A fixture image (index `i` of inputs_u8.npy), normalized, cut to its top-left `size` x `size`.
  func image(_ i: Int, size: Int) throws -> [Float] {
    let all = try NpyArray.read(
      here.appendingPathComponent("../ModelsTests/Fixtures/torchscript/inputs_u8.npy").standardized.path
    ).values(as: UInt8.self)
    var out = [Float](repeating: 0, count: 3 * size * size)
    for c in 0..<3 {
      for y in 0..<size {
        for x in 0..<size {
          out[(c * size + y) * size + x] = Normalization.cifar10.value(all[((i * 32 + y) * 32 + x) * 3 + c], channel: c)
        }
      }
    }
    return out
  }

  func predicted(_ classifier: any Classifier, _ x: [Float], shape: [Int]) throws -> Int {
    let logits = try withInferenceMode { try classifier.logits(try Tensor(x, shape: [1] + shape)).floats() }
    return logits.indices.max { logits[$0] < logits[$1] } ?? -1
  }

  @Test func exactBackSelectIsTheSameOrder() throws {
    let scripted = try TorchScriptModel.load(scriptedFile, trustCode: true)
    let native = try ModelLoader.load(stateDictFile)
    // 8 x 8 crops (the network pools globally), so exact selection stays cheap: 64 * 65 / 2 passes.
    let shape = [3, 8, 8]
    let images = [try image(0, size: 8), try image(1, size: 8)]
    let classes = try images.map { try predicted(native, $0, shape: shape) }
    #expect(try images.map { try predicted(scripted, $0, shape: shape) } == classes)
    var orders: [[[Int]]] = []
    for classifier in [scripted as any Classifier, native] {
      let scorer = try ClassifierScorer(
        classifier: classifier, images: images, classes: classes, layout: .pixels(shape), score: .prob, chunk: 64)
      orders.append(try backSelect(problems: 2, featureCount: 64, scorer: scorer).map(\.order))
    }
    #expect(orders[0] == orders[1])
    #expect(orders[0].allSatisfy { $0.sorted() == Array(0..<64) })
  }

  @Test func gradientBackSelectIsTheSameOrderOnAFullImage() throws {
    let scripted = try TorchScriptModel.load(scriptedFile, trustCode: true)
    let native = try ModelLoader.load(stateDictFile)
    let shape = [3, 32, 32]
    let x = try image(2, size: 32)
    let c = try predicted(native, x, shape: shape)
    let results = try [scripted as any Classifier, native].map {
      try gradientBackSelect(classifier: $0, images: [x], classes: [c], inputShape: shape, k: 8, score: .logprob)[0]
    }
    #expect(results[0].order == results[1].order)
    #expect(results[0].order.count == 1024)
    for (a, b) in zip(results[0].values, results[1].values) { #expect(Swift.abs(a - b) <= 1e-5) }
  }

  @Test func hybridBackSelectIsTheSameOrder() throws {
    let scripted = try TorchScriptModel.load(scriptedFile, trustCode: true)
    let native = try ModelLoader.load(stateDictFile)
    let shape = [3, 8, 8]
    let images = [try image(1, size: 8), try image(3, size: 8)]
    let classes = try images.map { try predicted(native, $0, shape: shape) }
    let orders = try [scripted as any Classifier, native].map { classifier in
      try hybridBackSelect(
        classifier: classifier, images: images, classes: classes, inputShape: shape, k: 4, switchProbability: 0.5,
        capAtFullImage: true, exactLast: 16, setAside: true, score: .logprob, chunk: 64
      ).map(\.order)
    }
    #expect(orders[0] == orders[1])
    #expect(orders[0].allSatisfy { $0.sorted() == Array(0..<64) })
  }
}
