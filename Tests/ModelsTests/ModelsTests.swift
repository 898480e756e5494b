import Analysis
import Datasets
import Foundation
import Testing

@testable import Models
@testable import Torch

let modelFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
/// ../shared/data beside the checkout, when present (tests that need it are skipped otherwise).
let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data")
  .standardized.path
let haveSharedData = FileManager.default.fileExists(atPath: sharedData + "/cifar-10-batches-bin/test_batch.bin")

func assertClose(_ a: [Float], _ b: [Float], atol: Float, sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(a.count == b.count, "lengths differ", sourceLocation: sourceLocation)
  guard a.count == b.count else { return }
  let worst = zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
  #expect(worst <= atol, "max |difference| \(worst) > \(atol)", sourceLocation: sourceLocation)
}

/// The weights of scripts/make_fixtures.py: tensor t (state_dict order) from sin(0.37 i + 1.3 t).
func loadFormulaWeights(_ net: any Network) throws {
  var state: [(String, Tensor)] = []
  for (t, (name, tensor)) in net.stateDict().enumerated() {
    let n = tensor.count
    let base = (0..<n).map { Foundation.sin(0.37 * Double($0) + 1.3 * Double(t)) }
    if name.hasSuffix("num_batches_tracked") { continue }
    let values: [Double]
    if name.hasSuffix("running_var") {
      values = base.map { 1 + 0.5 * $0 * $0 }
    } else if name.hasSuffix("running_mean") || name.hasSuffix("bias") {
      values = base.map { 0.1 * $0 }
    } else if tensor.rank == 1 {
      values = base.map { 1 + 0.1 * $0 }
    } else {
      let fanIn = tensor.shape.dropFirst().reduce(1, *)
      values = base.map { $0 * (3 / Double(fanIn)).squareRoot() }
    }
    state.append((name, try Tensor(values.map { Float($0) }, shape: tensor.shape)))
  }
  try net.load(stateDict: state, source: "formula")
}

func formulaInputs(_ n: Int) throws -> Tensor {
  let values = (0..<(n * 3 * 32 * 32)).map { Float(Foundation.cos(0.011 * Double($0))) }
  return try Tensor(values, shape: [n, 3, 32, 32])
}

@Suite struct ModelsTests {
  @Test(arguments: [
    (Architecture.resnet20, 269_722), (.resnet32, 464_154), (.resnet56, 853_018), (.resnet18, 11_171_146), (.vgg16, 14_728_266),
  ])
  func parameterCountsMatchThePaper(arch: Architecture, count: Int) throws {
    let net = try arch.build()
    #expect(net.parameterCount == count)
  }

  /// Inside `Generator.seeded` a network's initial weights depend on the seed alone (the trainer
  /// builds its networks this way, so tests or threads drawing random numbers cannot move them).
  @Test func seededBuildsRepeatWhateverElseIsDrawn() throws {
    let a = try Generator.seeded(5) { try Architecture.resnet20.build(inputSize: 8) }
    try Runtime.manualSeed(1)
    _ = try Architecture.resnet20.build(inputSize: 8)
    let b = try Generator.seeded(5) { try Architecture.resnet20.build(inputSize: 8) }
    let c = try Generator.seeded(6) { try Architecture.resnet20.build(inputSize: 8) }
    for ((name, x), (_, y)) in zip(a.stateDict(), b.stateDict()) {
      #expect(try x.bytes() == y.bytes(), "\(name) differs between two builds with seed 5")
    }
    let conv = "conv1.weight"
    let first = try #require(a.stateDict().first { $0.0 == conv }?.1)
    let other = try #require(c.stateDict().first { $0.0 == conv }?.1)
    #expect(try first.bytes() != other.bytes(), "seed 6 draws other weights")
  }

  @Test(arguments: Architecture.allCases)
  func forwardShape(arch: Architecture) throws {
    let net = try arch.build()
    let size = arch.defaultInputSize
    let y = try withNoGrad { try net.logits(try Tensor.randn([2, 3, size, size]), training: false) }
    #expect(y.shape == [2, 10])
    let train = try net.logits(try Tensor.randn([2, 3, size, size]), training: true)
    #expect(train.shape == [2, 10])
  }

  @Test(arguments: ["resnet20", "resnet56", "resnet18", "vgg16"])
  func logitsMatchPyTorchReference(name: String) throws {
    let net = try Architecture.named(name).build()
    try loadFormulaWeights(net)
    let y = try withNoGrad { try net.logits(try formulaInputs(4)) }
    let expected = try NpyArray.read(modelFixtures + "/formula_logits_\(name).npy")
    #expect(expected.shape == [4, 10])
    let ref = try expected.floats()
    let scale = ref.map { Swift.abs($0) }.max() ?? 1
    assertClose(try y.floats(), ref, atol: Swift.max(1e-4, 1e-5 * scale))
  }

  @Test(.enabled(if: haveSharedData), arguments: [("resnet20", "resnet20-12fca82f.th"), ("resnet32", "resnet32-d509ac18.th")])
  func akamasterWeightsGiveReferenceLogits(name: String, file: String) throws {
    let net = try Architecture.named(name).build(normalization: .imagenet)
    let ck = try TorchCheckpoint(path: sharedData + "/models/cifar10_resnet_akamaster/" + file)
    try net.load(stateDict: try ck.stateDict(), source: file)
    let data = try CIFAR10.readBatch(sharedData + "/cifar-10-batches-bin/test_batch.bin").subset(Array(0..<16))
    let x = try net.info.normalization.apply(try data.batch(0..<16))
    let y = try withNoGrad { try net.logits(x) }
    let ref = try NpyArray.read(modelFixtures + "/akamaster_\(name)_test16_logits.npy").floats()
    assertClose(try y.floats(), ref, atol: 1e-4)
  }

  @Test func loadReportsEveryMismatchAtOnce() throws {
    let net = try Architecture.resnet20.build()
    var state = net.stateDict().filter { $0.0 != "linear.bias" && $0.0 != "bn1.running_var" }
    state = state.map { $0.0 == "conv1.weight" ? ($0.0, try! Tensor.zeros([16, 3, 5, 5])) : $0 }
    state.append(("extra.weight", try Tensor.zeros([1])))
    do {
      try net.load(stateDict: state, source: "bad.safetensors")
      Issue.record("a mismatched state dict loaded")
    } catch let e as ModelError {
      let text = e.description
      #expect(text.contains("bad.safetensors"))
      #expect(text.contains("missing linear.bias"))
      #expect(text.contains("missing bn1.running_var"))
      #expect(text.contains("conv1.weight: expected shape [16, 3, 3, 3], file has [16, 3, 5, 5]"))
      #expect(text.contains("unexpected extra.weight"))
      #expect(text.contains("4 problems"))
    }
  }

  @Test func checkpointRoundTripKeepsWeightsAndMetadata() throws {
    let net = try Generator.seeded(3) {
      try Architecture.resnet20.build(classNames: (0..<10).map { "c\($0)" }, normalization: .imagenet)
    }
    let path = NSTemporaryDirectory() + "/model-\(getpid()).safetensors"
    defer { unlink(path) }
    try ModelCheckpoint.save(net, to: path, trainingConfig: "{\"epochs\": 1}")
    let (loaded, meta) = try ModelCheckpoint.load(path)
    #expect(loaded.info == net.info)
    #expect(meta["training_config"] == "{\"epochs\": 1}")
    let x = try Tensor.randn([3, 3, 32, 32])
    let a = try withNoGrad { try net.logits(x).floats() }
    let b = try withNoGrad { try loaded.logits(x).floats() }
    #expect(a == b)
  }

  @Test func ensembleIsTheMeanOfLogits() throws {
    let a = try Architecture.resnet20.build()
    let b = try Architecture.resnet20.build()
    let x = try Tensor.randn([2, 3, 32, 32])
    let e = try Ensemble([a, b])
    let expected = try withNoGrad { try ((a.logits(x) + b.logits(x)) / 2).floats() }
    assertClose(try withNoGrad { try e.logits(x).floats() }, expected, atol: 1e-5)
    let other = try Architecture.resnet20.build(normalization: .imagenet)
    #expect(throws: ModelError.self) { try Ensemble([a, other]) }
  }

  @Test func classificationReportCounts() {
    let probs: [[Float]] = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    let r = ClassificationReport(probabilities: probs, labels: [0, 1, 1, 0], classNames: ["a", "b"])
    #expect(r.correct == 2)
    #expect(r.accuracy == 0.5)
    #expect(r.confusion == [[1, 1], [1, 1]])
    #expect(Swift.abs(r.meanConfidence - 0.75) < 1e-6)
    #expect(r.perClassAccuracy == [0.5, 0.5])
  }
}

@Suite struct HeatmapTests {
  @Test func frequencyCountsSubsetsPerPixel() {
    let f = pixelFrequency([[0, 3], [3], [1, 3]], height: 2, width: 2)
    let third: Double = 1.0 / 3
    let expected: [Double] = [third, third, 0, 1]
    #expect(f == expected)
  }

  @Test func positionSummaryFindsTheQuadrants() {
    // 4x4 image: pixels 15 (bottom-right) twice, 0 (top-left) once.
    let s = PositionSummary([[15], [15, 0]], height: 4, width: 4)
    let expected: [Double] = [1.0 / 3, 0, 0, 2.0 / 3]
    #expect(s.quadrants == expected)
    #expect(Swift.abs(s.meanRow - 2) < 1e-12)
    // Both pixels are corners: all in the 1-pixel ring, which is 12 of the 16 pixels.
    #expect(s.borderWidth == 1 && s.border == 1 && s.borderArea == 0.75)
    // 32x32: a 2-pixel ring (1024 - 28 * 28 = 240 pixels); pixel (2, 2) is inside it, (1, 5) and (30, 16) on it.
    let t = PositionSummary([[2 * 32 + 2, 1 * 32 + 5], [30 * 32 + 16]], height: 32, width: 32)
    #expect(t.borderWidth == 2 && Swift.abs(t.border - 2.0 / 3) < 1e-12 && Swift.abs(t.borderArea - 240.0 / 1024) < 1e-12)
  }

  @Test func rasterCorrelationOfOrders() {
    #expect(Swift.abs(rasterCorrelation(Array(0..<16)) - 1) < 1e-12)
    #expect(Swift.abs(rasterCorrelation(Array((0..<16).reversed())) + 1) < 1e-12)
    // Spearman's rho by its textbook formula, 1 - 6 sum d^2 / (n (n^2 - 1)), for 2, 0, 1, 3:
    // d = 2, -1, -1, 0, so rho = 1 - 36 / 60 = 0.4.
    #expect(Swift.abs(rasterCorrelation([2, 0, 1, 3]) - 0.4) < 1e-12)
    // Random orders of 1,024 pixels: near 0 (standard deviation 1/32).
    var rng = SplitMix64(seed: 11)
    let rhos = (0..<50).map { _ in rasterCorrelation(Array(0..<1024).shuffled(using: &rng)) }
    #expect(rhos.allSatisfy { Swift.abs($0) < 0.15 }, "\(rhos)")
    // Raster order with every tenth pixel skipped and taken at the end stays close to 1.
    let skipped = (0..<1024).filter { $0 % 10 != 5 } + (0..<1024).filter { $0 % 10 == 5 }
    #expect(rasterCorrelation(skipped) > 0.8)
  }

  /// Two runs over 8x8 images: raster-order removal (its 5% subsets are the last pixels, the
  /// bottom row) against random orders. The verdict finds the artifact in the raster run, in
  /// either position, and not between two random runs.
  @Test func rasterVerdictFindsRasterOrder() {
    var rng = SplitMix64(seed: 3)
    let raster = [[Int]](repeating: Array(0..<64), count: 5)
    let random = (0..<5).map { _ in Array(0..<64).shuffled(using: &rng) }
    let randomToo = (0..<5).map { _ in Array(0..<64).shuffled(using: &rng) }
    func verdict(_ a: [[Int]], _ b: [[Int]]) -> RasterVerdict {
      let subsets = [a, b].map { $0.map { Array($0.suffix(4)) } }
      return RasterVerdict(
        labels: ["A", "B"], rasterCorrelations: [a, b].map { o in o.map(rasterCorrelation).reduce(0, +) / Double(o.count) },
        summaries: subsets.map { PositionSummary($0, height: 8, width: 8) }, fraction: 0.05, featureCount: 64)
    }
    let first = verdict(raster, random)
    #expect(first.artifactIn == 0 && first.text.contains("shows under A"), "\(first.text)")
    #expect(
      first.text.contains("raster order: 1.00 and") && first.text.contains("bottom half of the image: 100.0% and"),
      "\(first.text)")
    #expect(verdict(random, raster).artifactIn == 1)
    let neither = verdict(random, randomToo)
    #expect(neither.artifactIn == nil && neither.text.hasPrefix("no raster-order artifact"), "\(neither.text)")
  }

  @Test func jaccardOverlap() {
    #expect(jaccard([1, 2, 3], [2, 3, 4]) == 0.5)
    #expect(jaccard([], []) == 1)
    #expect(containment([1, 2], in: [2, 3, 4, 5]) == 0.5)
    #expect(containment([2, 3], in: [2, 3, 4, 5]) == 1)
    #expect(containment([], in: [7]) == 1)
  }

  @Test func colormapEnds() {
    #expect(colormap(0) == [68, 1, 84])
    #expect(colormap(1) == [253, 231, 37])
  }
}

let haveImageNet = FileManager.default.fileExists(atPath: sharedData + "/imagenet/val_samples/labels.csv")

@Suite struct ImageNetTests {
  @Test func inceptionV3ParameterCountAndNamesAreTorchvisions() throws {
    let net = try Architecture.inceptionV3.build(classNames: (0..<1000).map { "c\($0)" })
    #expect(net.parameterCount == 27_161_264)
    let names = Set(net.stateDict().map(\.0))
    for n in [
      "Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch_pool.bn.running_mean", "Mixed_6e.branch7x7dbl_5.conv.weight",
      "Mixed_7c.branch3x3dbl_3b.bn.bias", "AuxLogits.conv1.conv.weight", "AuxLogits.fc.bias", "fc.weight",
    ] {
      #expect(names.contains(n), "missing \(n)")
    }
  }

  @Test func mobileNetV2ParameterCountIsTorchvisions() throws {
    let net = try Architecture.mobilenetV2.build(classNames: (0..<1000).map { "c\($0)" })
    #expect(net.parameterCount == 3_504_872)
    #expect(net.stateDict().first?.0 == "features.0.0.weight")
    #expect(net.stateDict().contains { $0.0 == "features.17.conv.3.running_var" })
  }

  /// The first images of the shared ImageNet sample, decoded with libjpeg and resized with the
  /// Pillow arithmetic, against Pillow's own output and an independent PyTorch MobileNetV2
  /// (scripts/make_imagenet_fixtures.py).
  @Test(.enabled(if: haveImageNet)) func mobileNetV2MatchesPillowAndPyTorch() throws {
    let folder = NSTemporaryDirectory() + "/imagenet-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let csv = try String(contentsOfFile: sharedData + "/imagenet/val_samples/labels.csv", encoding: .utf8).split(separator: "\n")
    let rows = csv.dropFirst().prefix(4)
    for r in rows {
      let name = String(r.split(separator: ",")[0])
      try FileManager.default.createSymbolicLink(
        atPath: folder + "/" + name, withDestinationPath: sharedData + "/imagenet/val_samples/" + name)
    }
    try (rows.joined(separator: "\n") + "\n").write(toFile: folder + "/labels.csv", atomically: true, encoding: .utf8)
    let classes = (0..<1000).map { "c\($0)" }
    let data = try ImageFolder.load(folder, preprocessing: .centralCrop(fraction: 0.875, size: 224), classNames: classes)
    #expect(data.imageShape == [3, 224, 224])

    let pil = try NpyArray.read(modelFixtures + "/imagenet_pil_first2.npy")
    let ours = data.subset([0, 1])
    let pilCHW = ImageDataset.fromHWC(pil.data, count: 2, height: 224, width: 224, channels: 3)
    let differing = zip(ours.pixels, pilCHW).filter { $0 != $1 }.count
    let worst = zip(ours.pixels, pilCHW).map { abs(Int($0) - Int($1)) }.max() ?? 0
    #expect(worst <= 1 && differing < pilCHW.count / 100, "\(differing) bytes differ from Pillow, by up to \(worst)")

    let net = try Architecture.mobilenetV2TFSame.build(classNames: classes)
    try net.load(
      stateDict: try Safetensors.read(sharedData + "/models/imagenet_mobilenet_v2/mobilenet_v2_1.0_224.safetensors").tensors,
      source: "mnv2")
    // On Pillow's pixels the two implementations agree to float noise.
    let x = try net.info.normalization.apply(try Tensor(pil.data, shape: [2, 224, 224, 3]).permute([0, 3, 1, 2]).contiguous())
    let y = try withNoGrad { try net.logits(x) }.floats()
    let ref = try NpyArray.read(modelFixtures + "/mobilenet_v2_ref_logits_first4.npy").floats()
    assertClose(y, Array(ref[0..<2000]), atol: 2e-3)
    // On our own decoding, the top-5 classes are the reference's.
    let probs = try withNoGrad { try net.probabilities(try net.info.normalization.apply(try data.batch(0..<4))) }
    let top = try probs.topk(5, dim: 1).indices.ints()
    let refTop = try NpyArray.read(modelFixtures + "/mobilenet_v2_ref_top5.npy").integers()
    for i in 0..<4 { #expect(top[i * 5] == refTop[i * 5], "image \(i): top-1 \(top[i * 5]) vs \(refTop[i * 5])") }
  }
}
