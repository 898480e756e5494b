import Datasets
import Foundation
import Models
import SIS
import Testing
import Torch

/// The README's "Audit your own model" path: a model saved with torch.jit (fixtures from
/// scripts/make_torchscript_fixtures.py) through the CLI.
@Suite(.serialized) struct TorchScriptCLITests {
  let fixtures =
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ModelsTests/Fixtures/torchscript")
    .standardized.path
  let defaultModel =
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Sources/overinterp/Resources/default-model.safetensors").standardized.path

  /// `backselect` on the scripted ResNet20 (its description from flags) gives the same removal
  /// orders as on the same weights loaded as a state dict; without --trust-code it is refused.
  @Test func backSelectOnATorchScriptModelEqualsTheStateDict() throws {
    let t = try TinySetup(count: 3)
    defer { t.remove() }
    let scripted = t.dir + "/net.pt"
    try FileManager.default.copyItem(atPath: fixtures + "/resnet20_scripted.pt", toPath: scripted)
    // The same weights as an overinterp model for 8 x 8 inputs (the network pools globally).
    let native = try Architecture.resnet20.build(inputSize: 8)
    try native.load(stateDict: try Safetensors.read(defaultModel).tensors, source: defaultModel)
    let nativeFile = t.dir + "/native.safetensors"
    try ModelCheckpoint.save(native, to: nativeFile)

    let common = ["--data", t.images, "--labels", t.labels, "--indices", "0..<3", "--method", "exact", "--threads", "1"]
    let refused = try CLI.run(["backselect", "--model", scripted, "--out", t.dir + "/refused"] + common)
    #expect(
      refused.status != 0 && refused.stderr.contains("--trust-code") && refused.stderr.contains("net.pt"), "\(refused.stderr)")
    let a = try CLI.run(
      [
        "backselect", "--model", scripted, "--trust-code", "--normalization", "cifar10", "--input-shape", "3,8,8", "--out",
        t.dir + "/scripted",
      ] + common)
    #expect(a.status == 0, "\(a.stderr)")
    let b = try CLI.run(["backselect", "--model", nativeFile, "--out", t.dir + "/native"] + common)
    #expect(b.status == 0, "\(b.stderr)")
    let ra = try RunStore(directory: t.dir + "/scripted").records()
    let rb = try RunStore(directory: t.dir + "/native").records()
    #expect(ra.count == 3)
    #expect(ra.map(\.order) == rb.map(\.order))
    #expect(ra.map(\.predicted) == rb.map(\.predicted))
    let manifest = try String(contentsOfFile: t.dir + "/scripted/manifest.json", encoding: .utf8)
    #expect(manifest.contains("TorchScript"), "the run names the model's kind")
    let recorded = try RunStore(directory: t.dir + "/scripted").readManifest().normalization
    #expect(recorded == Normalization.cifar10.description, "the run records the normalization the flags gave")
  }

  /// From `torch.jit.trace(model, x).save(path)` with its description embedded, to an audit
  /// report: `eval` and `audit` need nothing but --trust-code.
  @Test func traceToAuditReport() throws {
    let dir = NSTemporaryDirectory() + "/ts-audit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let model = fixtures + "/tiny_traced.pt"
    let images = fixtures + "/inputs_u8.npy"
    let labels = dir + "/labels.npy"
    try NpyArray([Int64(3), 8, 0, 6], shape: [4]).write(to: labels)
    let eval = try CLI.run(["eval", "--model", model, "--trust-code", "--data", images, "--labels", labels, "--json"])
    #expect(eval.status == 0, "\(eval.stderr)")
    #expect(eval.stdout.contains("\"count\" : 4") || eval.stdout.contains("\"count\": 4"), "\(eval.stdout)")

    let out = dir + "/audit"
    let r = try CLI.run([
      "audit", "--model", model, "--trust-code", "--data", images, "--labels", labels, "--min-confidence", "0",
      "--thresholds", "0.1,0.15", "--method", "gradient", "--k", "64", "--group", "4", "--out", out, "--threads", "1",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
    #expect(html.contains("tinynet (TorchScript)"), "the report names the model")
    #expect(FileManager.default.fileExists(atPath: out + "/results/results.json"))
  }

  /// A TorchScript model's normalization comes from flags or JSON, not from its file: the run
  /// records it, and `subsets` paints masked pixels in that normalization's mean (here ImageNet's,
  /// 124,116,104), not CIFAR-10's.
  @Test func subsetsOfATorchScriptRunUseItsNormalization() throws {
    let t = try TinySetup(count: 2)
    defer { t.remove() }
    let scripted = t.dir + "/net.pt"
    try FileManager.default.copyItem(atPath: fixtures + "/resnet20_scripted.pt", toPath: scripted)
    let run = try CLI.run([
      "backselect", "--model", scripted, "--trust-code", "--normalization", "imagenet", "--input-shape", "3,8,8", "--data",
      t.images, "--labels", t.labels, "--indices", "0...1", "--method", "gradient", "--k", "8", "--out", t.dir + "/run",
      "--threads", "1",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    let subsets = try CLI.run(["subsets", "--run", t.dir + "/run", "--fraction", "0.25", "--out", t.dir + "/subsets"])
    #expect(subsets.status == 0, "\(subsets.stderr)")
    let images = try NpyArray.read(t.dir + "/subsets/images.npy").values(as: UInt8.self)
    let masks = try NpyArray.read(t.dir + "/subsets/masks.npy").values(as: UInt8.self)
    #expect(masks.filter { $0 == 1 }.count == 2 * 16)
    let mean = Normalization.imagenet.meanColor
    for (p, kept) in masks.enumerated() where kept == 0 {
      #expect(Array(images[(p * 3)..<(p * 3 + 3)]) == mean, "pixel \(p)")
    }
  }
}
