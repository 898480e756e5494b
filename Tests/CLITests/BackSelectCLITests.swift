import Base
import Datasets
import Foundation
import Models
import SIS
import Testing
import Torch

/// A random ResNet20 for 8x8 images (64 pixels: one exact BackSelect = 2,080 forward passes) and
/// a small dataset of random 8x8 images, written to a temporary folder.
struct TinySetup {
  let dir: String
  var model: String { dir + "/tiny.safetensors" }
  var images: String { dir + "/images.npy" }
  var labels: String { dir + "/labels.npy" }

  init(count: Int = 6, seed: UInt64 = 5) throws {
    dir = tempPath("tiny")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let net = try Generator.seeded(seed) { try Architecture.resnet20.build(inputSize: 8) }
    try ModelCheckpoint.save(net, to: model)
    var state = seed
    let pixels = (0..<(count * 8 * 8 * 3)).map { _ -> UInt8 in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return UInt8(truncatingIfNeeded: state >> 56)
    }
    try NpyArray(pixels, shape: [count, 8, 8, 3]).write(to: images)
    try NpyArray((0..<count).map { Int64($0 % 10) }, shape: [count]).write(to: labels)
  }

  func remove() { try? FileManager.default.removeItem(atPath: dir) }

  func backselect(_ out: String, _ extra: [String] = []) -> [String] {
    ["backselect", "--model", model, "--data", images, "--labels", labels, "--out", out, "--threads", "1"] + extra
  }
}

@Suite(.serialized) struct BackSelectCLITests {
  @Test func runDeriveAndResumeAfterKill() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let straight = t.dir + "/straight"
    let r = try CLI.run(t.backselect(straight, ["--indices", "0..<6", "--group", "2", "--chunk", "32"]))
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("6 of 6 image(s) done"), "\(r.stdout)")
    let shards = (try FileManager.default.contentsOfDirectory(atPath: straight)).filter { $0.hasSuffix(".npz") }.sorted()
    #expect(shards == ["shard-000000.npz", "shard-000001.npz", "shard-000002.npz"])

    // kill -9 after the first shard appears, then --resume: every shard is byte-identical.
    let killed = t.dir + "/killed"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: CLI.binary)
    p.arguments = t.backselect(killed, ["--indices", "0..<6", "--group", "2", "--chunk", "32"])
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    let deadline = Date().addingTimeInterval(120)
    while !FileManager.default.fileExists(atPath: killed + "/shard-000000.npz") && Date() < deadline && p.isRunning {
      usleep(20_000)
    }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    let partial = (try FileManager.default.contentsOfDirectory(atPath: killed)).filter { $0.hasSuffix(".npz") }
    #expect(partial.count >= 1 && partial.count < 3, "\(partial)")
    #expect(
      !(try FileManager.default.contentsOfDirectory(atPath: killed)).contains { $0.contains(".tmp") && $0.hasSuffix(".npz") })
    let again = try CLI.run(t.backselect(killed, ["--indices", "0..<6", "--group", "2", "--chunk", "32"]))
    #expect(again.status != 0, "an existing run needs --resume")
    #expect(again.stderr.contains("--resume"))
    let resumed = try CLI.run(t.backselect(killed, ["--indices", "0..<6", "--group", "2", "--chunk", "32", "--resume"]))
    #expect(resumed.status == 0, "\(resumed.stderr)")
    for s in shards {
      #expect(
        FileManager.default.contents(atPath: straight + "/" + s) == FileManager.default.contents(atPath: killed + "/" + s),
        "\(s) differs")
    }

    // SIS derived from the store.
    let sis = try CLI.run([
      "sis", "--run", straight, "--threshold", "0.3", "--fraction", "0.05", "--save", t.dir + "/sis.npz", "--png", t.dir + "/png",
      "--show", "2",
    ])
    #expect(sis.status == 0, "\(sis.stderr)")
    #expect(sis.stdout.contains("threshold 0.3"))
    #expect(sis.stdout.contains("5.00% subsets (4 features each)"), "\(sis.stdout)")
    let saved = try Npz.read(t.dir + "/sis.npz")
    #expect(saved["sis_mask"]?.shape == [6, 64])
    #expect(FileManager.default.fileExists(atPath: t.dir + "/png/position-0-tau-0.3.png"))
  }

  /// `sis` reports how close the removal orders are to raster order, and points to a logprob
  /// comparison when ties to the lowest index decided them: a stored run of raster orders (the
  /// degenerate prob case) against one of reversed orders.
  @Test func sisReportsTheCorrelationWithRasterOrder() throws {
    let dir = tempPath("raster")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (name, order) in [("raster", Array(0..<64)), ("reversed", Array((0..<64).reversed()))] {
      let store = RunStore(directory: dir + "/" + name)
      try store.writeManifest(
        RunManifest(
          modelPaths: ["m"], modelSHA256: ["0"], architecture: "resnet20",
          data: DataRecord(path: "tiny", split: .test, holdout: 0, description: "tiny"), selection: "indices 0..<2",
          positions: [0, 1], sourceIndices: [0, 1], inputShape: [3, 8, 8], features: "pixel", featureCount: 64,
          settings: SelectionSettings(score: .prob, chunk: 16, group: 2), overinterpVersion: "test", libtorchVersion: "test",
          device: "cpu"))
      let values = (0..<64).map { Float(63 - $0) / 63 }
      let records = (0..<2).map {
        ImageRecord(
          position: $0, sourceIndex: $0, label: 0, predicted: 0, confidence: 1, order: order, values: values, scores: values,
          exactTies: 60, nearTies: 60, seconds: 1)
      }
      try store.writeShard(group: 0, records: records)
    }
    let raster = try CLI.run(["sis", "--run", dir + "/raster", "--threshold", "0.5"])
    #expect(raster.status == 0, "\(raster.stderr)")
    #expect(raster.stdout.contains("correlation of the removal order with raster order: mean 1.00"), "\(raster.stdout)")
    #expect(raster.stdout.contains("compare with a --score logprob run"), "\(raster.stdout)")
    let reversed = try CLI.run(["sis", "--run", dir + "/reversed", "--threshold", "0.5"])
    #expect(
      reversed.stdout.contains("raster order: mean -1.00") && !reversed.stdout.contains("--score logprob run"),
      "\(reversed.stdout)")
  }

  @Test func shardsMergeAndMismatchedRunsAreRefused() throws {
    let t = try TinySetup(count: 4)
    defer { t.remove() }
    let whole = t.dir + "/whole"
    #expect(try CLI.run(t.backselect(whole, ["--all", "--group", "1"])).status == 0)
    for i in 0..<2 {
      let r = try CLI.run(t.backselect(t.dir + "/s\(i)", ["--all", "--group", "1", "--shard", "\(i)/2"]))
      #expect(r.status == 0, "\(r.stderr)")
    }
    // A group run again after a crash between its shard and its timing line: its last line counts.
    let rerun = "{\"group\": 0, \"images\": 1, \"seconds_per_image\": 123.5, \"forward_passes_per_image\": 2080}\n"
    let handle = try #require(FileHandle(forWritingAtPath: t.dir + "/s0/timings.jsonl"))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(rerun.utf8))
    try handle.close()
    let m = try CLI.run(["merge", t.dir + "/s0", t.dir + "/s1", "--out", t.dir + "/merged"])
    #expect(m.status == 0, "\(m.stderr)")
    #expect(m.stdout.contains("4 image(s)"))
    for g in 0..<4 {
      let name = String(format: "/shard-%06d.npz", g)
      #expect(
        FileManager.default.contents(atPath: whole + name) == FileManager.default.contents(atPath: t.dir + "/merged" + name))
    }
    // The shards' timings come along, one line per group, so the merged run's costs are known.
    let costs = RunStore(directory: t.dir + "/merged").costs()
    #expect(costs.keys.sorted() == RunStore(directory: whole).costs().keys.sorted() && costs.count == 4, "\(costs)")
    #expect(costs.values.allSatisfy { $0.forwardPasses == 2080 }, "\(costs)")
    #expect(costs[0]?.seconds == 123.5, "\(costs)")
    let other = try CLI.run(t.backselect(t.dir + "/prob", ["--all", "--group", "1", "--shard", "1/2", "--score", "prob"]))
    #expect(other.status == 0)
    let bad = try CLI.run(["merge", t.dir + "/s0", t.dir + "/prob", "--out", t.dir + "/bad"])
    #expect(bad.status != 0)
    #expect(bad.stderr.contains("score"), "\(bad.stderr)")

    // prob vs logprob on the images both runs finished (positions 1 and 3).
    let cmp = try CLI.run(["compare", t.dir + "/prob", whole, "--threshold", "0.2", "--out", t.dir + "/cmp"])
    #expect(cmp.status == 0, "\(cmp.stderr)")
    #expect(cmp.stdout.contains("2 image(s)"), "\(cmp.stdout)")
    #expect(cmp.stdout.contains("verdict:"))
    #expect(FileManager.default.fileExists(atPath: t.dir + "/cmp/heatmaps.png"))
    let hm = try CLI.run(["heatmap", "--run", whole, "--out", t.dir + "/hm.png"])
    #expect(hm.status == 0, "\(hm.stderr)")
    #expect(FileManager.default.fileExists(atPath: t.dir + "/hm.npy"))
  }

  @Test func gradientMethodFromTheCLI() throws {
    let t = try TinySetup(count: 3)
    defer { t.remove() }
    let out = t.dir + "/grad"
    let r = try CLI.run(t.backselect(out, ["--all", "--group", "3", "--method", "gradient", "--k", "8"]))
    #expect(r.status == 0, "\(r.stderr)")
    let manifest = try String(contentsOfFile: out + "/manifest.json", encoding: .utf8)
    #expect(manifest.contains("\"method\" : \"gradient\""))
    let sis = try CLI.run(["sis", "--run", out, "--threshold", "0.2", "--per-image"])
    #expect(sis.status == 0, "\(sis.stderr)")
    #expect(sis.stdout.contains("position 2"))
  }

  /// `--fold-batch-norm`: recorded beside the device, and a run folded and a run as loaded are
  /// the same run (either resumes the other); the folded run's SIS are sufficient.
  @Test func foldedExactSelectionFromTheCLI() throws {
    let t = try TinySetup(count: 2)
    defer { t.remove() }
    let out = t.dir + "/folded"
    let r = try CLI.run(t.backselect(out, ["--indices", "0", "--group", "1", "--fold-batch-norm"]))
    #expect(r.status == 0, "\(r.stderr)")
    let manifest = try String(contentsOfFile: out + "/manifest.json", encoding: .utf8)
    #expect(manifest.contains("\"device\" : \"cpu, batch norm folded\""), "\(manifest)")
    let resumed = try CLI.run(t.backselect(out, ["--indices", "0", "--group", "1", "--resume"]))
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(resumed.stdout.contains("1 of 1 image(s) done"), "\(resumed.stdout)")
    // Judged against itself, every SIS of the folded run is sufficient for the loaded model.
    let judged = try CLI.run(["fidelity", out, out, "--model", t.model, "--thresholds", "0.1", "--threads", "1"])
    #expect(judged.stdout.contains("PASS  every SIS sufficient"), "\(judged.stdout)\(judged.stderr)")
  }

  @Test func compareTakesTheSameImagesHoweverTheirPathWasSpelled() throws {
    let t = try TinySetup(count: 3)
    defer { t.remove() }
    let flags = ["--all", "--group", "3", "--method", "gradient", "--k", "8"]
    let absolute = try CLI.run(t.backselect(t.dir + "/absolute", flags))
    #expect(absolute.status == 0, "\(absolute.stderr)")
    // The same images named by a relative path: the descriptions differ, the images do not.
    let relative = try CLI.run(
      ["backselect", "--model", t.model, "--data", "images.npy", "--labels", "labels.npy", "--out", "relative"] + flags,
      directory: t.dir)
    #expect(relative.status == 0, "\(relative.stderr)")
    let cmp = try CLI.run(["compare", t.dir + "/absolute", t.dir + "/relative", "--threshold", "0.2", "--out", t.dir + "/cmp"])
    #expect(cmp.status == 0, "\(cmp.stderr)")
    #expect(cmp.stdout.contains("3 image(s) of"), "\(cmp.stdout)")
    // Other images (a copy of the file under another name) are refused.
    try FileManager.default.copyItem(atPath: t.images, toPath: t.dir + "/other.npy")
    let other = try CLI.run(
      ["backselect", "--model", t.model, "--data", t.dir + "/other.npy", "--labels", t.labels, "--out", t.dir + "/other"] + flags)
    #expect(other.status == 0, "\(other.stderr)")
    let refused = try CLI.run(["compare", t.dir + "/absolute", t.dir + "/other", "--threshold", "0.2", "--out", t.dir + "/cmp2"])
    #expect(refused.status != 0 && refused.stderr.contains("same data"), "\(refused.stderr)")
  }

  @Test func hybridMethodFromTheCLIAgainstExact() throws {
    let t = try TinySetup(count: 2)
    defer { t.remove() }
    let exact = try CLI.run(t.backselect(t.dir + "/exact", ["--all", "--group", "2"]))
    #expect(exact.status == 0, "\(exact.stderr)")
    let hybrid = try CLI.run(
      t.backselect(
        t.dir + "/hybrid",
        ["--all", "--group", "2", "--method", "hybrid", "--k", "4", "--switch-at", "0.5", "--exact-last", "10"]))
    #expect(hybrid.status == 0, "\(hybrid.stderr)")
    let manifest = try String(contentsOfFile: t.dir + "/hybrid/manifest.json", encoding: .utf8)
    #expect(
      manifest.contains("\"method\" : \"hybrid\"") && manifest.contains("\"exactLast\" : 10")
        && manifest.contains("\"switchProbability\" : 0.5"))
    let cmp = try CLI.run(["compare", t.dir + "/exact", t.dir + "/hybrid", "--threshold", "0.2", "--out", t.dir + "/cmp"])
    #expect(cmp.status == 0, "\(cmp.stderr)")
    #expect(
      cmp.stdout.contains("(exact, score logprob) and")
        && cmp.stdout.contains("hybrid k=4 switch 0.5000 last 10 on dip set-aside cap confidence, score logprob"), "\(cmp.stdout)"
    )
    #expect(cmp.stdout.contains("seconds per image:") && cmp.stdout.contains("SIS size of the second run / the first"))
    // Exact selection on 8x8 images: 64 * 65 / 2 forward passes each; the hybrid took at least one gradient pass.
    #expect(cmp.stdout.contains("model passes per image: 2080 forward and "), "\(cmp.stdout)")
    #expect(cmp.stdout.contains(" gradient over the 2 image(s) both runs counted"), "\(cmp.stdout)")
    #expect(cmp.stdout.contains("pixels of the first run's SIS inside the second's: mean "), "\(cmp.stdout)")
    let bad = try CLI.run(t.backselect(t.dir + "/bad", ["--all", "--method", "hybrid", "--switch-at", "1.5"]))
    #expect(bad.status != 0 && bad.stderr.contains("--switch-at"), "\(bad.stderr)")
    let badDip = try CLI.run(t.backselect(t.dir + "/bad-dip", ["--all", "--method", "hybrid", "--on-dip", "ignore"]))
    #expect(badDip.status != 0 && badDip.stderr.contains("--on-dip"), "\(badDip.stderr)")
    let setAside = try CLI.run(
      t.backselect(t.dir + "/set-aside", ["--all", "--group", "2", "--method", "hybrid", "--k", "4", "--on-dip", "set-aside"]))
    #expect(setAside.status == 0, "\(setAside.stderr)")
    let setAsideManifest = try String(contentsOfFile: t.dir + "/set-aside/manifest.json", encoding: .utf8)
    #expect(setAsideManifest.contains("\"onDip\" : \"set-aside\""), "\(setAsideManifest)")
    #expect(setAsideManifest.contains("\"switchCap\" : \"confidence\""), "\(setAsideManifest)")
    let uncapped = try CLI.run(
      t.backselect(
        t.dir + "/uncapped",
        ["--all", "--group", "2", "--method", "hybrid", "--k", "4", "--switch-cap", "none", "--on-dip", "switch"]))
    #expect(uncapped.status == 0, "\(uncapped.stderr)")
    let uncappedManifest = try String(contentsOfFile: t.dir + "/uncapped/manifest.json", encoding: .utf8)
    #expect(
      uncappedManifest.contains("\"onDip\" : \"switch\"") && uncappedManifest.contains("\"switchCap\" : \"none\""),
      "\(uncappedManifest)")
    // A manifest from before set-aside and the cap (neither field) means switch and none: such a
    // run resumes under those flags.
    let path = t.dir + "/uncapped/manifest.json"
    var old = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    old["onDip"] = nil
    old["switchCap"] = nil
    try JSONSerialization.data(withJSONObject: old).write(to: URL(fileURLWithPath: path))
    let resumed = try CLI.run(
      t.backselect(
        t.dir + "/uncapped",
        ["--all", "--group", "2", "--method", "hybrid", "--k", "4", "--switch-cap", "none", "--on-dip", "switch", "--resume"]))
    #expect(resumed.status == 0 && resumed.stderr.contains("0 image(s) to do"), "\(resumed.stderr)")
    let badCap = try CLI.run(t.backselect(t.dir + "/bad-cap", ["--all", "--method", "hybrid", "--switch-cap", "half"]))
    #expect(badCap.status != 0 && badCap.stderr.contains("--switch-cap"), "\(badCap.stderr)")
  }

  /// `subsets` writes backward-selection and random subsets of a run, `eval` and `table1` read
  /// them, and the model sees each subset as SIS did: its probability of the image's class on its
  /// own 10% subset is the value the exact run recorded before the subset's first pixel was masked.
  @Test func subsetsAndTable1FromTheCLI() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let run = t.dir + "/run"
    let r = try CLI.run(t.backselect(run, ["--all", "--group", "6"]))
    #expect(r.status == 0, "\(r.stderr)")
    let bs = try CLI.run(["subsets", "--run", run, "--fraction", "0.1", "--out", t.dir + "/bs"])
    #expect(bs.status == 0 && bs.stdout.contains("6 images, 7 pixels kept each"), "\(bs.stdout)\(bs.stderr)")
    let random = try CLI.run([
      "subsets", "--run", run, "--fraction", "0.1", "--kind", "random", "--seed", "3", "--out", t.dir + "/random",
    ])
    #expect(random.status == 0 && random.stdout.contains("random (seed 3)"), "\(random.stdout)\(random.stderr)")
    let kept = try NpyArray.read(t.dir + "/bs/kept.npy")
    #expect(kept.shape == [6, 7])
    let records = try RunStore(directory: run).records()
    #expect(try kept.integers() == records.flatMap { Array($0.order.suffix(7)) })
    let subsets = try DataSource(path: t.dir + "/bs").load()
    let (net, _) = try ModelCheckpoint.load(t.model)
    let probs = try withInferenceMode { try net.probabilities(try subsets.normalized(0..<6, net.info.normalization)).floats() }
    for (i, rec) in records.enumerated() {
      #expect(Swift.abs(probs[i * 10 + rec.predicted] - rec.values[64 - 7 - 1]) < 1e-5, "image \(i)")
    }
    let eval = try CLI.run(["eval", "--model", t.model, "--data", t.dir + "/bs", "--threads", "1"])
    #expect(eval.status == 0 && eval.stdout.contains("backward-selection pixel subsets"), "\(eval.stdout)\(eval.stderr)")
    let table = try CLI.run([
      "table1", "--model", "orig=\(t.model)", "--model", "orig=\(t.model)", "--data", "bs=\(t.dir)/bs", "--data",
      "random=\(t.dir)/random", "--out", t.dir + "/table", "--threads", "1",
    ])
    #expect(table.status == 0, "\(table.stderr)")
    #expect(table.stdout.contains("orig (1)") && table.stdout.contains("± 0.00"), "\(table.stdout)")
    let csv = try String(contentsOfFile: t.dir + "/table/table.csv", encoding: .utf8).split(separator: "\n")
    #expect(csv.count == 5 && csv[0] == "group,model,data,accuracy,mean_confidence,images")
    let bad = try CLI.run(["table1", "--model", "orig", "--data", "bs=x", "--out", t.dir + "/t2"])
    #expect(bad.status != 0 && bad.stderr.contains("--model must be LABEL=PATH"), "\(bad.stderr)")
  }

  /// The Table 1 reproduction's way: each shard of a run writes its own subsets, and `merge` joins
  /// them into the folder that `subsets` writes from the whole run; a run folder among subset
  /// folders is refused.
  @Test func subsetsOfShardsMergeIntoTheWholeRunsFromTheCLI() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    var folders: [String] = []
    for shard in ["0/2", "1/2"] {
      let name = t.dir + "/shard-" + shard.prefix(1)
      let r = try CLI.run(t.backselect(name, ["--all", "--group", "2", "--shard", shard]))
      #expect(r.status == 0, "\(r.stderr)")
      let s = try CLI.run([
        "subsets", "--run", name, "--fraction", "0.1", "--kind", "random", "--seed", "5", "--out", name + "-sub",
      ])
      #expect(s.status == 0, "\(s.stderr)")
      folders.append(name + "-sub")
    }
    let whole = try CLI.run(t.backselect(t.dir + "/whole", ["--all", "--group", "2"]))
    #expect(whole.status == 0, "\(whole.stderr)")
    let all = try CLI.run([
      "subsets", "--run", t.dir + "/whole", "--fraction", "0.1", "--kind", "random", "--seed", "5", "--out", t.dir + "/whole-sub",
    ])
    #expect(all.status == 0, "\(all.stderr)")
    let merged = try CLI.run(["merge"] + folders + ["--out", t.dir + "/merged"])
    #expect(merged.status == 0 && merged.stdout.contains("6 image(s) from 2 folder(s)"), "\(merged.stdout)\(merged.stderr)")
    for file in ["kept.npy", "labels.npy", "predicted.npy", "source_index.npy", "position.npy", "images.npy", "masks.npy"] {
      #expect(try readFile(t.dir + "/merged/" + file) == readFile(t.dir + "/whole-sub/" + file), "\(file)")
    }
    let mixed = try CLI.run(["merge", folders[0], t.dir + "/shard-1", "--out", t.dir + "/mixed"])
    #expect(mixed.status != 0 && mixed.stderr.contains("not a pixel-subset folder"), "\(mixed.stderr)")
    let incomplete = try CLI.run(["merge"] + folders + ["--out", t.dir + "/incomplete", "--allow-incomplete"])
    #expect(incomplete.status != 0 && incomplete.stderr.contains("--allow-incomplete"), "\(incomplete.stderr)")
  }

  /// Section 4.6: BackSelect on an ensemble (mean of logits) and on one of its members, on the
  /// same images, compared side by side (SIS sizes, overlap), although the models differ.
  @Test func ensembleAgainstAMemberFromTheCLI() throws {
    let t = try TinySetup(count: 4)
    defer { t.remove() }
    let second = t.dir + "/second.safetensors"
    try ModelCheckpoint.save(try Generator.seeded(77) { try Architecture.resnet20.build(inputSize: 8) }, to: second)
    let member = try CLI.run(t.backselect(t.dir + "/member", ["--all", "--group", "4"]))
    #expect(member.status == 0, "\(member.stderr)")
    let ensemble = try CLI.run(t.backselect(t.dir + "/ensemble", ["--all", "--group", "4", "--model", second]))
    #expect(ensemble.status == 0, "\(ensemble.stderr)")
    let manifest = try RunStore(directory: t.dir + "/ensemble").readManifest()
    #expect(manifest.modelPaths.count == 2)
    let cmp = try CLI.run(["compare", t.dir + "/member", t.dir + "/ensemble", "--threshold", "0.1", "--out", t.dir + "/cmp"])
    #expect(cmp.status == 0, "\(cmp.stderr)")
    #expect(cmp.stdout.contains("models differ") && cmp.stdout.contains("ensemble of 2"), "\(cmp.stdout)")
    #expect(cmp.stdout.contains("SIS size of the second run / the first"), "\(cmp.stdout)")
  }

  @Test func collectionFromTheCLI() throws {
    let t = try TinySetup(count: 2)
    defer { t.remove() }
    let r = try CLI.run([
      "sis", "--collection", "--model", t.model, "--data", t.images, "--labels", t.labels, "--indices", "0", "--threshold", "0.2",
      "--threads", "1",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("position 0"))
  }

  @Test func badSISArgumentsAreRejected() throws {
    let a = try CLI.run(["sis", "--run", "/nonexistent-run", "--threshold", "1.5"])
    #expect(a.stderr.contains("--threshold"))
    let b = try CLI.run(["sis", "--run", "/nonexistent-run"])
    #expect(b.stderr.contains("/nonexistent-run"))
    let c = try CLI.run(["backselect", "--out", "/tmp/x", "--indices", "0..<2", "--all"])
    #expect(c.stderr.contains("exactly one of"))
    let d = try CLI.run(["backselect", "--out", "/tmp/x", "--all", "--shard", "3/2"])
    #expect(d.stderr.contains("--shard"))
  }

  @Test func reuseCopiesWhatAnotherRunSelectedAndRefusesAnotherMethodOrImage() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let shape = ["--group", "2", "--chunk", "32"]
    let (a, straight, alone, b) = (t.dir + "/a", t.dir + "/straight", t.dir + "/alone", t.dir + "/b")
    // b selects 0..<6 in groups [0, 1], [2, 3], [4, 5], copying 0, 1 and 2 from a (0..<3).
    for (out, indices, extra) in [(a, "0..<3", []), (straight, "0..<6", []), (alone, "3", []), (b, "0..<6", ["--reuse", a])] {
      let r = try CLI.run(t.backselect(out, ["--indices", indices] + shape + extra))
      #expect(r.status == 0, "\(r.stderr)")
      if out == b { #expect(r.stderr.contains("reusing 3 image(s) selected in \(a)"), "\(r.stderr)") }
    }
    // Whole groups copied or selected as in the straight run: the same shard files.
    for s in ["shard-000000.npz", "shard-000002.npz"] {
      #expect(
        FileManager.default.contents(atPath: b + "/" + s) == FileManager.default.contents(atPath: straight + "/" + s), "\(s)")
    }
    // The mixed group: image 2 is a's record, image 3 is selected here as it is alone.
    func records(_ dir: String) throws -> [Int: ImageRecord] {
      Dictionary(
        uniqueKeysWithValues: try RunStore(directory: dir).records().map { r in
          var r = r
          r.seconds = 0
          return (r.position, r)
        })
    }
    let (fromA, fromAlone, fromB) = (try records(a), try records(alone), try records(b))
    // (Its full-image confidence is computed in a batch of two here, of one there: rounding.)
    let (here, there) = (try #require(fromB[3]), try #require(fromAlone[3]))
    #expect(fromB.count == 6 && fromB[2] == fromA[2])
    #expect(here.order == there.order && here.values == there.values && here.scores == there.scores)
    #expect(here.predicted == there.predicted && abs(here.confidence - there.confidence) < 1e-4)
    let timings = try String(contentsOfFile: b + "/timings.jsonl", encoding: .utf8).split(separator: "\n")
    #expect(timings.count == 3 && timings[0].contains("\"reused\": 2") && timings[1].contains("\"reused\": 1"))
    #expect(!timings[2].contains("reused"), "\(timings)")

    // Another method, or other pixels behind the same file name: refused, naming why.
    let prob = try CLI.run(t.backselect(t.dir + "/prob", ["--indices", "0..<4", "--score", "prob", "--reuse", a] + shape))
    #expect(prob.status != 0 && prob.stderr.contains("--reuse \(a)") && prob.stderr.contains("score"), "\(prob.stderr)")
    // No run at the path, or a broken manifest: said so, naming the folder or the file.
    let nowhere = try CLI.run(t.backselect(t.dir + "/nowhere", ["--indices", "0..<2", "--reuse", t.dir + "/missing"] + shape))
    #expect(nowhere.status != 0 && nowhere.stderr.contains("--reuse \(t.dir)/missing: no run there"), "\(nowhere.stderr)")
    try FileManager.default.createDirectory(atPath: t.dir + "/audit/run", withIntermediateDirectories: true)
    try writeFileAtomically(Array("{\"format\": ".utf8), to: t.dir + "/audit/run/manifest.json")
    let broken = try CLI.run(t.backselect(t.dir + "/broken", ["--indices", "0..<2", "--reuse", t.dir + "/audit"] + shape))
    #expect(broken.status != 0 && broken.stderr.contains("\(t.dir)/audit/run/manifest.json"), "\(broken.stderr)")
    let stripes = (0..<(6 * 8 * 8 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
    try NpyArray(stripes, shape: [6, 8, 8, 3]).write(to: t.images)
    let other = try CLI.run(t.backselect(t.dir + "/other", ["--indices", "0..<2", "--reuse", a] + shape))
    #expect(other.status != 0 && other.stderr.contains("not the same image or model"), "\(other.stderr)")
  }
}

@Suite(.serialized) struct CorruptCLITests {
  @Test(.enabled(if: haveSharedData)) func generateLoadAndEvaluateCIFAR10C() throws {
    let out = tempPath("c10c")
    defer { try? FileManager.default.removeItem(atPath: out) }
    let lossless = sharedData + "/cifar-10-test-lossless-subset"
    let g = try CLI.run([
      "data", "corrupt", "--data", lossless, "--limit", "4", "--corruptions", "gaussian_noise,fog", "--out", out,
    ])
    #expect(g.status == 0, "\(g.stderr)")
    let noise = try NpyArray.read(out + "/gaussian_noise.npy")
    #expect(noise.shape == [20, 32, 32, 3])
    #expect(try NpyArray.read(out + "/labels.npy").shape == [20])
    #expect(FileManager.default.fileExists(atPath: out + "/contact-sheet.png"))
    let fidelity = try String(contentsOfFile: out + "/fidelity.json", encoding: .utf8)
    #expect(fidelity.contains("gaussian_noise"))
    // Deterministic: the same command gives the same bytes.
    let again = tempPath("c10c-again")
    defer { try? FileManager.default.removeItem(atPath: again) }
    _ = try CLI.run(["data", "corrupt", "--data", lossless, "--limit", "4", "--corruptions", "gaussian_noise", "--out", again])
    #expect(
      FileManager.default.contents(atPath: out + "/gaussian_noise.npy")
        == FileManager.default.contents(atPath: again + "/gaussian_noise.npy"))
    let s = try CLI.run(["data", "corrupt", "--data", lossless, "--limit", "4", "--sample", "10", "--out", out])
    #expect(s.status == 0, "\(s.stderr)")
    let e = try CLI.run(["eval", "--cifar10c", out, "--json", "--threads", "1"])
    #expect(e.status == 0, "\(e.stderr)")
    #expect(e.stdout.contains("\"fog\""))
    #expect(e.stdout.contains("sample_accuracy"))
    let one = try CLI.run(["eval", "--data", out, "--corruption", "fog", "--severity", "5", "--threads", "1"])
    #expect(one.status == 0, "\(one.stderr)")
    #expect(one.stdout.contains("CIFAR-10-C fog, severity 5"))
    let missing = try CLI.run(["eval", "--data", out])
    #expect(missing.stderr.contains("--corruption"))
    let bad = try CLI.run(["data", "corrupt", "--data", lossless, "--severities", "0-7", "--out", out])
    #expect(bad.stderr.contains("--severities"))
  }
}

/// `--precision`: bfloat16 falls back to fp32 with a message on a CPU without fast bfloat16
/// (neither AMX nor AVX-512 BF16); forced, a
/// bf16-verify run records its precision and how often the bfloat16 best was picked.
@Suite(.serialized) struct PrecisionCLITests {
  /// Runs `backselect` with `args` into `plain/` (bfloat16 not forced) and `forced/`
  /// (OVERINTERP_FORCE_BF16=1) of `t`'s folder. Where this CPU runs bfloat16 fast the plain run
  /// records `recorded` in its manifest; elsewhere it says `fallback` on stderr and its manifest
  /// has no `absent`. Returns the forced run's manifest and timings.
  func unforcedAndForced(
    _ t: TinySetup, _ args: [String], recorded: String, fallback: String, absent: String
  ) throws -> (manifest: String, timings: String) {
    let plain = try CLI.run(t.backselect(t.dir + "/plain", args), environment: ["OVERINTERP_FORCE_BF16": "0"])
    #expect(plain.status == 0, "\(plain.stderr)")
    let plainManifest = try String(contentsOfFile: t.dir + "/plain/manifest.json", encoding: .utf8)
    if cpuHasFastBF16 {
      #expect(plainManifest.contains(recorded), "\(plainManifest)")
    } else {
      #expect(plain.stderr.contains(fallback), "\(plain.stderr)")
      #expect(!plainManifest.contains(absent), "fell back to fp32: \(plainManifest)")
    }
    let forced = try CLI.run(t.backselect(t.dir + "/forced", args), environment: ["OVERINTERP_FORCE_BF16": "1"])
    #expect(forced.status == 0, "\(forced.stderr)")
    return (
      try String(contentsOfFile: t.dir + "/forced/manifest.json", encoding: .utf8),
      try String(contentsOfFile: t.dir + "/forced/timings.jsonl", encoding: .utf8)
    )
  }

  @Test func bf16VerifyFromTheCLI() throws {
    let t = try TinySetup(count: 2)
    defer { t.remove() }
    let args = ["--indices", "0...1", "--group", "2", "--precision", "bf16-verify", "--verify-top", "4"]
    let (manifest, timings) = try unforcedAndForced(
      t, args, recorded: "bf16-verify", fallback: "neither AMX nor AVX-512 BF16", absent: "bf16")
    #expect(manifest.contains("\"precision\"") && manifest.contains("bf16-verify"), "\(manifest)")
    #expect(timings.contains("\"bf16_passes_per_image\": 2080"), "\(timings)")
    #expect(timings.contains("\"verified_steps\": 126"), "63 steps with two or more candidates, per image: \(timings)")
    // Resuming under another precision is another run.
    let other = try CLI.run(t.backselect(t.dir + "/forced", ["--indices", "0...1", "--group", "2", "--resume"]))
    #expect(other.status != 0 && other.stderr.contains("different run"), "\(other.stderr)")
  }

  /// `--occlusion-precision bf16`: the fast method ranks its occlusion blocks with the bfloat16
  /// twin where the CPU runs bfloat16 fast (or when forced), records it in the manifest and counts
  /// the passes as bfloat16; elsewhere it falls back to float32 and says so, naming the flag.
  @Test func occlusionRankingsInBFloat16FromTheCLI() throws {
    let t = try TinySetup(count: 2)
    defer { t.remove() }
    let args = [
      "--indices", "0...1", "--group", "2", "--method", "fast", "--exact-last", "16", "--occlusion-precision", "bf16",
    ]
    let (manifest, timings) = try unforcedAndForced(
      t, args, recorded: "\"occlusionPrecision\" : \"bf16\"", fallback: "--occlusion-precision bf16: this CPU has neither",
      absent: "occlusionPrecision")
    #expect(manifest.contains("\"occlusionPrecision\" : \"bf16\""), "\(manifest)")
    #expect(!manifest.contains("\"precision\""), "the exact phase stays float32: \(manifest)")
    #expect(timings.contains("\"bf16_passes_per_image\""), "\(timings)")
    let other = try CLI.run(
      t.backselect(
        t.dir + "/forced", ["--indices", "0...1", "--group", "2", "--method", "fast", "--exact-last", "16", "--resume"]))
    #expect(other.status != 0 && other.stderr.contains("occlusionPrecision"), "\(other.stderr)")
    let refused = try CLI.run(t.backselect(t.dir + "/refused", ["--indices", "0", "--occlusion-precision", "bf16-verify"]))
    #expect(refused.status != 0 && refused.stderr.contains("--occlusion-precision takes fp32 or bf16"), "\(refused.stderr)")
  }

  /// `eval --precision bf16`: the bfloat16 twin classifies the embedded sample about as the
  /// float32 model does.
  @Test func evalInBfloat16() throws {
    func accuracy(_ extra: [String], _ env: [String: String]) throws -> Double {
      let r = try CLI.run(["eval", "--json", "--threads", "1"] + extra, environment: env)
      #expect(r.status == 0, "\(r.stderr)")
      let root = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
      return ((root?["models"] as? [[String: Any]])?.first?["accuracy"] as? Double) ?? -1
    }
    let fp32 = try accuracy([], [:])
    let bf16 = try accuracy(["--precision", "bf16"], ["OVERINTERP_FORCE_BF16": "1"])
    #expect(fp32 > 0.7 && Swift.abs(bf16 - fp32) <= 0.03, "fp32 \(fp32), bf16 \(bf16)")
    let refused = try CLI.run(["eval", "--precision", "bf16-verify"])
    #expect(refused.status != 0 && refused.stderr.contains("fp32 or bf16"), "\(refused.stderr)")
  }
}

/// `fidelity`: a run judged against itself passes every criterion; runs whose stored values were
/// tampered with fail, exit with status 1 and say which criterion: values of 0 make every SIS the
/// whole image (SIS size), values of 1 make them empty, which the model confirms only where the
/// fully masked image reaches τ (sufficiency). Another model than the runs' is refused by name.
/// τ = 0.1 is reached by every image of a 10-class model (its largest probability is at least 0.1).
@Suite(.serialized) struct FidelityCLITests {
  @Test func passesAgainstItselfAndFailsTamperedRuns() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let reference = t.dir + "/reference"
    let r = try CLI.run(t.backselect(reference, ["--indices", "0..<6", "--group", "3", "--chunk", "64"]))
    #expect(r.status == 0, "\(r.stderr)")
    let judge = { (run: String, extra: [String]) in
      try CLI.run(["fidelity", reference, run, "--model", t.model, "--thresholds", "0.1", "--threads", "1"] + extra)
    }
    let same = try judge(reference, ["--json", t.dir + "/criteria.json"])
    #expect(same.status == 0 && same.stdout.contains("yardstick: PASS (6 criteria)"), "\(same.stdout)\(same.stderr)")
    #expect(!same.stdout.contains("FAIL"), "\(same.stdout)")
    #expect(FileManager.default.fileExists(atPath: t.dir + "/criteria.json"))
    // Two pairs are one set of images: 12 here.
    let pooled = try CLI.run([
      "fidelity", reference, reference, reference, reference, "--model", t.model, "--thresholds", "0.1", "--threads", "1",
    ])
    #expect(pooled.status == 0 && pooled.stdout.contains("12 image(s) finished in both"), "\(pooled.stdout)\(pooled.stderr)")
    let odd = try CLI.run(["fidelity", reference, reference, reference, "--model", t.model])
    #expect(odd.status != 0 && odd.stderr.contains("give pairs of run folders"), "\(odd.stderr)")

    let store = RunStore(directory: reference)
    let manifest = try store.readManifest()
    let records = try store.records()
    func tampered(_ value: Float) throws -> String {
      let dir = t.dir + "/tampered-\(value)"
      let copy = RunStore(directory: dir)
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      try copy.writeManifest(manifest)
      for g in store.finishedGroups().sorted() {
        let shard = try store.readShard(store.shardPath(group: g), manifest: manifest).map { rec -> ImageRecord in
          var x = rec
          x.values = [Float](repeating: value, count: x.values.count)
          return x
        }
        try copy.writeShard(group: g, records: shard)
      }
      return dir
    }
    // Every SIS the whole image: 64 pixels against the reference's few.
    #expect(
      records.allSatisfy {
        findSIS(order: $0.order, values: $0.values, fullInput: $0.confidence, threshold: 0.1).features.map { $0.count < 32 }
          ?? false
      })
    let whole = try judge(try tampered(0), [])
    #expect(whole.status == 1 && whole.stdout.contains("FAIL  mean SIS size at τ = 0.1"), "\(whole.stdout)")
    #expect(whole.stdout.contains("yardstick: FAIL"), "\(whole.stdout)")
    // Every SIS empty: insufficient wherever the fully masked image (the reference's last value)
    // is below τ.
    let below = records.filter { ($0.values.last ?? 1) < 0.1 }.count
    let empty = try judge(try tampered(1), [])
    #expect(
      empty.stdout.contains("every SIS sufficient") && empty.stdout.contains("\(6 - below) of 6"), "\(empty.stdout)")
    if below > 0 { #expect(empty.status == 1 && empty.stdout.contains("FAIL  every SIS sufficient"), "\(empty.stdout)") }

    let other = try CLI.run(["fidelity", reference, reference, "--model", "default"])
    #expect(other.status != 0 && other.stderr.contains("is not the model of"), "\(other.stderr)")
  }
}

/// `bench selection`: the methods on the same images in one run, each time as a multiple of the
/// gradient method's, with the machine named.
@Suite(.serialized) struct BenchSelectionCLITests {
  @Test func timesEachMethodAgainstTheGradientMethod() throws {
    let t = try TinySetup(count: 4)
    defer { t.remove() }
    let r = try CLI.run([
      "bench", "selection", "--model", t.model, "--data", t.images, "--labels", t.labels, "--images", "2", "--threads", "1",
      "--exact-last", "32",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let lines = r.stdout.split(separator: "\n").map(String.init)
    #expect(lines.first?.contains("selection methods on the same 2 image(s)") == true && lines.first?.contains("cores") == true)
    #expect(lines.contains { $0.hasPrefix("gradient | ") && $0.contains("| 1.0x |") }, "\(r.stdout)")
    #expect(lines.contains { $0.hasPrefix("fast | ") && $0.contains("screened top \(ScreeningSettings().top)") }, "\(r.stdout)")
    #expect(lines.contains { $0.hasPrefix("hybrid | ") }, "\(r.stdout)")
  }

  /// With rounds, every method runs once per round and prints one ratio per round, whose median
  /// is the "x gradient" column.
  @Test func roundsPrintOneRatioPerRoundAndTheirMedian() throws {
    let t = try TinySetup(count: 4)
    defer { t.remove() }
    let r = try CLI.run([
      "bench", "selection", "--model", t.model, "--data", t.images, "--labels", t.labels, "--images", "2", "--threads", "1",
      "--exact-last", "32", "--no-hybrid", "--rounds", "3",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("3 rounds"), "\(r.stdout)")
    let fast = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("fast | ") })
    let columns = fast.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
    let perRound = try #require(columns.last).split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    #expect(perRound.count == 3 && perRound.allSatisfy { $0 != nil && $0! > 0 }, "\(fast)")
    let sorted = perRound.compactMap { $0 }.sorted()
    #expect(columns[2] == "\(fmt(sorted[1], digits: 1))x", "\(fast)")
    #expect(r.stderr.contains("round 3 of 3"), "\(r.stderr)")
    let bad = try CLI.run(["bench", "selection", "--model", t.model, "--data", t.images, "--labels", t.labels, "--rounds", "0"])
    #expect(bad.status != 0 && bad.stderr.contains("--rounds must be at least 1"), "\(bad.stderr)")
  }
}

/// The SIS library says what is wrong with a run folder (it holds this run, or another one and in
/// which fields); the CLI adds the flag that changes it. Bad --features and --mask-value values
/// are named by their flag.
@Suite(.serialized) struct RunFolderErrorTests {
  @Test func theCLIMapsRunFolderErrorsToItsFlags() throws {
    let t = try TinySetup(count: 2)
    defer { t.remove() }
    let out = t.dir + "/run"
    let args = t.backselect(out, ["--indices", "0", "--method", "gradient", "--k", "8"])
    #expect(try CLI.run(args).status == 0)
    let again = try CLI.run(args)
    #expect(
      again.status != 0 && again.stderr.contains("\(out) already holds this run; pass --resume to continue it"), "\(again.stderr)"
    )
    let other = try CLI.run(t.backselect(out, ["--indices", "0", "--method", "gradient", "--k", "4"]))
    #expect(
      other.status != 0
        && other.stderr.contains(
          "\(out) holds a different run (differs in selection.k (8 vs 4): the folder's value vs this one's); use another --out"),
      "\(other.stderr)")
    #expect(
      !"\(SISError.runExists(directory: "d"))".contains("--")
        && !"\(SISError.otherRun(directory: "d", differences: ["k"]))".contains("--"))
    let features = try CLI.run(t.backselect(t.dir + "/f", ["--indices", "0", "--features", "bogus"]))
    #expect(features.status != 0 && features.stderr.contains("--features: features must be pixel"), "\(features.stderr)")
  }
}
