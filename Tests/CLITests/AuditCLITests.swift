import Analysis
import Datasets
import Foundation
import Models
import SIS
import Testing
import Torch

@Suite(.serialized) struct AuditCLITests {
  /// `audit` from a model and images to report.html: every stage writes its files, the report is
  /// self-contained and renders in a browser, running the command again redoes nothing, and a
  /// folder holding an audit with other settings is refused with the fields that differ.
  @Test func auditFromTheCLI() throws {
    let t = try TinySetup(count: 8)
    defer { t.remove() }
    let out = t.dir + "/audit"
    let args = [
      "audit", "--model", t.model, "--data", t.images, "--labels", t.labels, "--thresholds", "0.1,0.2,0.3", "--method",
      "gradient",
      "--k", "4", "--group", "4", "--fraction", "0.1", "--out", out, "--threads", "1",
    ]
    let plan = try CLI.run(args + ["--plan"])
    #expect(plan.status == 0 && plan.stderr.contains("1 forward + 16 gradient passes per image"), "\(plan.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out + "/run"))
    let first = try CLI.run(args)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout.contains("report: \(out)/report.html"), "\(first.stdout)")
    for file in [
      "audit.json", "selection.json", "run/manifest.json", "results/results.json", "results/sis-size-vs-threshold.csv",
      "results/correct-vs-incorrect.csv", "results/subset-accuracy.csv", "results/sis-size-vs-threshold.svg",
      "results/heatmap-subsets.png", "results/heatmap-sis.png", "report.html",
    ] {
      #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file)")
    }
    let csv = try String(contentsOfFile: out + "/results/sis-size-vs-threshold.csv", encoding: .utf8).split(separator: "\n")
    #expect(csv.count == 4 && csv[0].hasPrefix("threshold,images,mean_sis_size,ci95_lower,ci95_upper,empty_sis,"), "\(csv)")
    #expect(
      FileManager.default.fileExists(atPath: out + "/results/correct-vs-incorrect-without-empty-sis.csv"), "both group tables")
    let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
    #expect(
      !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<script"), "the report loads nothing")
    // Three charts and the two heatmaps' colour scales.
    #expect(html.components(separatedBy: "<svg").count - 1 == 5)
    #expect(html.components(separatedBy: "aria-label=\"colour scale: 0 to ").count - 1 == 2)

    // Again: every stage is done, so neither the run's shards nor the analyses are redone; only
    // the report is written again, from the files.
    let shard = out + "/run/shard-000000.npz"
    let before = try FileManager.default.attributesOfItem(atPath: shard)[.modificationDate] as? Date
    let resultsBefore =
      try FileManager.default.attributesOfItem(atPath: out + "/results/results.json")[.modificationDate] as? Date
    let again = try CLI.run(args)
    #expect(again.status == 0, "\(again.stderr)")
    #expect(try FileManager.default.attributesOfItem(atPath: shard)[.modificationDate] as? Date == before)
    #expect(
      try FileManager.default.attributesOfItem(atPath: out + "/results/results.json")[.modificationDate] as? Date == resultsBefore
    )
    // Other settings in the same folder are refused.
    let other = try CLI.run(args.map { $0 == "0.1,0.2,0.3" ? "0.1,0.5" : $0 })
    #expect(
      other.status != 0 && other.stderr.contains("other settings") && other.stderr.contains("thresholds")
        && other.stderr.contains("use another --out"), "\(other.stderr)")

    if let executable = Chromium.executable {
      let browser = try Chromium(executable: executable)
      try browser.openWatchingConsole("file://" + out + "/report.html")
      try browser.wait(for: "document.title === 'overinterp audit' && document.readyState === 'complete'")
      let images = try browser.evaluate("document.images.length") as? Int ?? 0
      #expect(images >= 3)
      #expect(
        try browser.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)") as? Bool == true,
        "every embedded image decodes")
      #expect(try browser.evaluate("document.querySelectorAll('svg polyline').length") as? Int ?? 0 >= 3)
      let shot = try browser.send("Page.captureScreenshot", ["format": "png"])
      #expect(((shot["data"] as? String)?.count ?? 0) > 1000)
      #expect(browser.consoleErrors.isEmpty, "\(browser.consoleErrors)")
    } else if ProcessInfo.processInfo.environment["OVERINTERP_SKIP_BROWSER"] != "1" {
      Issue.record("no Chromium found (scripts/install-deps.sh --tests installs it; OVERINTERP_SKIP_BROWSER=1 skips this part)")
    }
  }

  /// SIGKILL in each stage (once the settings are written, during backward selection, once the
  /// analyses have begun), each time followed by the same command: the audit ends with the same
  /// shards and results as one that ran straight through (the report differs only in the time it
  /// states).
  @Test func auditResumesAfterKillInEveryStage() throws {
    let t = try TinySetup(count: 8)
    defer { t.remove() }
    func args(_ out: String) -> [String] {
      [
        "audit", "--model", t.model, "--data", t.images, "--labels", t.labels, "--thresholds", "0.1,0.2", "--method", "exact",
        "--group", "2", "--out", out, "--threads", "1",
      ]
    }
    let straight = try CLI.run(args(t.dir + "/straight"))
    #expect(straight.status == 0, "\(straight.stderr)")
    let killed = t.dir + "/killed"
    /// Starts the audit, kills it with SIGKILL as soon as `path` exists, and reports whether it
    /// was still running then.
    func killWhen(_ path: String) throws -> Bool {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: CLI.binary)
      p.arguments = args(killed)
      p.standardOutput = FileHandle.nullDevice
      p.standardError = FileHandle.nullDevice
      try p.run()
      let deadline = Date().addingTimeInterval(120)
      while !FileManager.default.fileExists(atPath: path) && Date() < deadline && p.isRunning { usleep(2_000) }
      let running = p.isRunning
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      return running
    }
    #expect(try killWhen(killed + "/audit.json"), "killed in the selection stage")
    #expect(try killWhen(killed + "/run/shard-000000.npz"), "killed during backward selection")
    #expect(!FileManager.default.fileExists(atPath: killed + "/report.html"))
    // The analyses begin once every shard is there; the last shard is written just before.
    _ = try killWhen(killed + "/results")
    let resumed = try CLI.run(args(killed))
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let shards = try FileManager.default.contentsOfDirectory(atPath: t.dir + "/straight/run").filter { $0.hasSuffix(".npz") }
      .sorted()
    #expect(shards.count == 4)
    for name in shards {
      #expect(
        FileManager.default.contents(atPath: "\(t.dir)/straight/run/\(name)")
          == FileManager.default.contents(atPath: "\(killed)/run/\(name)"),
        "\(name)")
    }
    for file in ["selection.json", "results/results.json", "results/sis-size-vs-threshold.csv", "results/heatmap-sis.png"] {
      #expect(
        FileManager.default.contents(atPath: t.dir + "/straight/" + file)
          == FileManager.default.contents(atPath: killed + "/" + file), "\(file)")
    }
  }

  /// `--cifar10c` audits the paper's CIFAR-10-C sample, kept in the audit folder so that the run
  /// can reload its images.
  @Test func auditOfTheCIFAR10CSample() throws {
    let dir = tempPath("audit-c10c")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let make = try CLI.run(["data", "corrupt", "--sample", "12", "--seed", "1234", "--out", dir + "/c10c"])
    #expect(make.status == 0, "\(make.stderr)")
    let plan = try CLI.run([
      "audit", "--cifar10c", dir + "/c10c", "--cifar10c-sample", "12", "--out", dir + "/audit", "--plan", "--threads", "1",
    ])
    #expect(plan.status == 0 && plan.stderr.contains("audit: "), "\(plan.stderr)")
    #expect(try NpyArray.read(dir + "/audit/cifar10c-sample.npy").shape == [12, 32, 32, 3])
    let settings = try String(contentsOfFile: dir + "/audit/audit.json", encoding: .utf8)
    #expect(settings.contains("sample 12, seed 1234"), "\(settings)")
    let both = try CLI.run(["audit", "--cifar10c", dir + "/c10c", "--data", dir, "--out", dir + "/a2", "--plan"])
    #expect(both.status != 0 && both.stderr.contains("--data or --cifar10c"), "\(both.stderr)")
  }

  /// CIFAR-10.1 cannot be downloaded here: a stand-in folder in its layout (what `data download
  /// cifar10.1` writes: cifar10.1_v6_data.npy and _labels.npy) goes through the same audit, and
  /// `compare-audits` sets it as a column of Table 1's first block beside another audit.
  @Test func aCIFAR101FolderIsAuditedAndBecomesATable1Column() throws {
    let dir = tempPath("cifar10.1")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var state: UInt64 = 5
    let pixels = (0..<(4 * 32 * 32 * 3)).map { _ -> UInt8 in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return UInt8(truncatingIfNeeded: state >> 56)
    }
    try NpyArray(pixels, shape: [4, 32, 32, 3]).write(to: dir + "/cifar10.1_v6_data.npy")
    try NpyArray((0..<4).map { Int64($0 % 10) }, shape: [4]).write(to: dir + "/cifar10.1_v6_labels.npy")
    func audit(_ data: String, _ out: String) throws {
      let r = try CLI.run([
        "audit", "--data", data, "--min-confidence", "0", "--thresholds", "0,0.5", "--method", "gradient", "--k", "64",
        "--out", out, "--threads", "1",
      ])
      #expect(r.status == 0, "\(r.stderr)")
    }
    try audit(dir, dir + "/audit-c101")
    let report = try String(contentsOfFile: dir + "/audit-c101/report.html", encoding: .utf8)
    #expect(report.contains("CIFAR-10.1 v6"))
    let sample = dir + "/sample"
    try FileManager.default.createDirectory(atPath: sample, withIntermediateDirectories: true)
    try NpyArray(Array(pixels.prefix(3 * 32 * 32 * 3)), shape: [3, 32, 32, 3]).write(to: sample + "/images.npy")
    try NpyArray([Int64(3), 1, 4], shape: [3]).write(to: sample + "/labels.npy")
    try audit(sample, dir + "/audit-other")
    let r = try CLI.run([
      "compare-audits", "CIFAR-10.1=\(dir)/audit-c101", "other=\(dir)/audit-other", "--out", dir + "/overlay",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let table = try String(contentsOfFile: dir + "/overlay/table1.md", encoding: .utf8)
    #expect(table.hasPrefix("| evaluated on | CIFAR-10.1 (4 images) | other (3 images) |"), "\(table)")
    #expect(table.contains("| full images (accuracy %) |") && table.contains("% random (accuracy %) |"), "\(table)")
    let csv = try String(contentsOfFile: dir + "/overlay/table1.csv", encoding: .utf8).split(separator: "\n")
    #expect(csv.count == 3 && csv[1].hasPrefix("CIFAR-10.1,4,"))
  }

  /// `compare-audits` finds an ensemble's audit and its members' (same data, a member's model in the
  /// ensemble) and pairs their SIS per image: ensemble-vs-members.csv holds, per member and
  /// threshold, the mean of the per-image differences computed here from the runs themselves.
  @Test func compareAuditsPairsAnEnsembleWithItsMembers() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let second = t.dir + "/second.safetensors"
    try ModelCheckpoint.save(try Generator.seeded(79) { try Architecture.resnet20.build(inputSize: 8) }, to: second)
    func audit(_ models: [String], _ out: String) throws {
      let r = try CLI.run(
        ["audit"] + models.flatMap { ["--model", $0] } + [
          "--data", t.images, "--labels", t.labels, "--thresholds", "0,0.1", "--method", "gradient", "--k", "8",
          "--group", "3", "--out", out, "--threads", "1",
        ])
      #expect(r.status == 0, "\(r.stderr)")
    }
    try audit([t.model, second], t.dir + "/ensemble")
    try audit([t.model], t.dir + "/first")
    try audit([second], t.dir + "/second")
    let r = try CLI.run([
      "compare-audits", "ensemble=\(t.dir)/ensemble", "first=\(t.dir)/first", "second=\(t.dir)/second", "--out",
      t.dir + "/overlay",
    ])
    #expect(r.status == 0 && r.stdout.contains("ensemble against its member first"), "\(r.stdout) \(r.stderr)")
    let rows = try String(contentsOfFile: t.dir + "/overlay/ensemble-vs-members.csv", encoding: .utf8).split(separator: "\n")
      .dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    #expect(rows.count == 4, "two members, two thresholds")
    let ensemble = try RunStore(directory: t.dir + "/ensemble/run").records()
    for row in rows {
      let member = try RunStore(directory: t.dir + "/\(row[1])/run").records()
      let tau = try #require(Double(row[2]))
      let bySource = Dictionary(member.map { ($0.sourceIndex, $0) }, uniquingKeysWith: { a, _ in a })
      let diffs = ensemble.compactMap { e -> Double? in
        guard let m = bySource[e.sourceIndex], let x = e.sis(at: tau).features, let y = m.sis(at: tau).features else {
          return nil
        }
        return Double(x.count - y.count)
      }
      #expect(Int(row[3]) == diffs.count && diffs.count > 0)
      let mean = diffs.reduce(0, +) / Double(diffs.count)
      #expect(Swift.abs((Double(row[4]) ?? .nan) - mean) < 1e-9, "\(row)")
      #expect(Int(row[7]) == diffs.filter { $0 > 0 }.count && Int(row[8]) == diffs.filter { $0 < 0 }.count)
    }
    // The verdict line sorts each threshold by the members' intervals in the CSV.
    var (larger, smaller, open) = ([String](), [String](), [String]())
    for tau in ["0.0", "0.1"] {
      let here = rows.filter { $0[2] == tau }
      let label = tau == "0.0" ? "0.00" : "0.10"
      if here.contains(where: { (Double($0[6]) ?? 0) < 0 }) {
        smaller.append(label)
      } else if here.allSatisfy({ (Double($0[5]) ?? 0) > 0 }) {
        larger.append(label)
      } else {
        open.append(label)
      }
    }
    func list(_ l: [String]) -> String { l.isEmpty ? "none" : l.joined(separator: ", ") }
    let verdict =
      "ensemble against its 2 member(s), paired 95% intervals of the SIS size difference: larger than every member's at τ = \(list(larger)); smaller than some member's at τ = \(list(smaller)); undecided at τ = \(list(open))"
    #expect(r.stdout.contains(verdict), "\(r.stdout)")

    // An ensemble audit still running (one shard of two done, an interim snapshot): paired over
    // the images it has finished, and labelled so.
    func half(_ extra: [String]) throws -> CLI.Result {
      try CLI.run(
        ["audit", "--model", t.model, "--model", second, "--data", t.images, "--labels", t.labels, "--thresholds", "0,0.1"]
          + ["--method", "gradient", "--k", "8", "--group", "3", "--out", t.dir + "/half", "--threads", "1"] + extra)
    }
    #expect(try half(["--shard", "0/2"]).status == 0)
    #expect(try half(["--interim"]).status == 0)
    let h = try CLI.run([
      "compare-audits", "half=\(t.dir)/half", "first=\(t.dir)/first", "second=\(t.dir)/second", "--out", t.dir + "/overlay-half",
    ])
    #expect(h.status == 0 && h.stdout.contains("half (interim) against its 2 member(s)"), "\(h.stdout) \(h.stderr)")
    let halfRows = try String(contentsOfFile: t.dir + "/overlay-half/ensemble-vs-members.csv", encoding: .utf8)
      .split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    let finishedHalf = try RunStore(directory: t.dir + "/half/shards/shard-0-of-2").records().count
    #expect(halfRows.count == 4 && finishedHalf == 3)
    #expect(halfRows.allSatisfy { (Int($0[3]) ?? 0) > 0 && (Int($0[3]) ?? 99) <= finishedHalf }, "\(halfRows)")
    // The snapshot's members ran on its own gallery, beside it; the finished audit draws its
    // gallery from every image and its members' runs go to members/.
    #expect(FileManager.default.fileExists(atPath: t.dir + "/half/interim/members/member-1/manifest.json"))
    #expect(!FileManager.default.fileExists(atPath: t.dir + "/half/members"))
    let rest = try half(["--shard", "1/2"])
    #expect(rest.status == 0 && rest.stdout.contains("report: \(t.dir)/half/report.html"), "\(rest.stdout) \(rest.stderr)")
    // A later snapshot (now of every image, so the final gallery) redoes the snapshot's member
    // runs for its own gallery instead of refusing the earlier ones.
    let before = try RunStore(directory: t.dir + "/half/interim/members/member-1").readManifest().positions
    let again = try half(["--interim"])
    #expect(again.status == 0, "\(again.stderr)")
    let positions = { (sub: String) in try RunStore(directory: t.dir + "/half/\(sub)/member-1").readManifest().positions }
    let (snapshot, final) = (try positions("interim/members"), try positions("members"))
    #expect(snapshot == final && !final.isEmpty, "\(before) -> \(snapshot) vs \(final)")
    #expect(
      try RunStore(directory: t.dir + "/half/interim/members/member-1").records().map(\.position).sorted() == final.sorted())
  }

  /// Several models: the audit is of their ensemble, and the report sets the ensemble's SIS beside
  /// each member's on the gallery images (Figure S2), each member's run resumable in members/.
  @Test func auditOfAnEnsembleShowsItsMembers() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let second = t.dir + "/second.safetensors"
    try ModelCheckpoint.save(try Generator.seeded(78) { try Architecture.resnet20.build(inputSize: 8) }, to: second)
    let out = t.dir + "/audit"
    let r = try CLI.run([
      "audit", "--model", t.model, "--model", second, "--data", t.images, "--labels", t.labels, "--thresholds", "0.1,0.15",
      "--k", "4", "--out", out, "--threads", "1",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try RunStore(directory: out + "/run").readManifest().modelPaths.count == 2)
    for i in 0..<2 { #expect(FileManager.default.fileExists(atPath: "\(out)/members/member-\(i)/manifest.json")) }
    let rows = try FileManager.default.contentsOfDirectory(atPath: out + "/results").filter { $0.hasPrefix("ensemble-") }
    #expect(!rows.isEmpty)
    let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
    #expect(html.contains("The ensemble against its members"))
    // Each heatmap has its colour scale, from 0 to its largest frequency.
    #expect(html.components(separatedBy: "aria-label=\"colour scale: 0 to ").count == 3, "two heatmaps, two scales")
  }

  /// `--interim` beside an unfinished (sharded) audit: the analyses and report of the images
  /// finished so far go to interim/, the audit's own stages are untouched, and once everything is
  /// finished the snapshot equals the final results (its earlier gallery images are gone).
  @Test func interimReportOfAnUnfinishedAudit() throws {
    let t = try TinySetup(count: 8)
    defer { t.remove() }
    let out = t.dir + "/audit"
    let args = [
      "audit", "--model", t.model, "--data", t.images, "--labels", t.labels, "--thresholds", "0.1,0.2", "--k", "4", "--group",
      "2", "--out", out, "--threads", "1",
    ]
    let early = try CLI.run(args + ["--interim"])
    #expect(early.status != 0 && early.stderr.contains("backward selection has not started yet"), "\(early.stderr)")
    let half = try CLI.run(args + ["--shard", "1/2"])
    #expect(half.status == 0, "\(half.stderr)")
    let snapshot = try CLI.run(args + ["--interim"])
    #expect(snapshot.status == 0 && snapshot.stdout.contains("interim: 4 of 8 image(s) finished\n"), "\(snapshot.stdout)")
    #expect(snapshot.stdout.contains("report: \(out)/interim/report.html"), "\(snapshot.stdout)")
    #expect(
      snapshot.stderr.contains("4 of 8 image(s) done; plan: 4 image(s)")
        && snapshot.stderr.contains("on average over the 4 finished image(s)"),
      "the plan counts what remains, at the finished images' pace: \(snapshot.stderr)")
    let interimHTML = try String(contentsOfFile: out + "/interim/report.html", encoding: .utf8)
    #expect(interimHTML.contains("<strong>Interim report</strong>: 4 of the 8 selected images"))
    let partial = try JSONSerialization.jsonObject(
      with: Data(contentsOf: URL(fileURLWithPath: out + "/interim/results/results.json")))
    #expect((partial as? [String: Any])?["images"] as? Int == 4)
    for stage in ["results", "report.html", "run"] {
      #expect(!FileManager.default.fileExists(atPath: out + "/" + stage), "\(stage)")
    }

    let rest = try CLI.run(args + ["--shard", "0/2"])
    #expect(rest.status == 0 && rest.stdout.contains("report: \(out)/report.html"), "\(rest.stdout)\(rest.stderr)")
    #expect(!(try String(contentsOfFile: out + "/report.html", encoding: .utf8)).contains("Interim report"))
    let whole = try CLI.run(args + ["--interim"])
    #expect(whole.status == 0 && whole.stdout.contains("interim: 8 of 8 image(s) finished (all:"), "\(whole.stdout)")
    #expect(
      FileManager.default.contents(atPath: out + "/interim/results/results.json")
        == FileManager.default.contents(atPath: out + "/results/results.json"))
    func galleries(_ folder: String) throws -> [String] {
      try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("gallery-") }.sorted()
    }
    #expect(try galleries(out + "/interim/results") == galleries(out + "/results"))
  }

  /// `audit --reuse`: an audit of all images copies what a finished audit of a sample and the
  /// unmerged shard of another audit already selected, and plans only the rest.
  @Test func auditReusesWhatOtherAuditsSelected() throws {
    let t = try TinySetup(count: 8)
    defer { t.remove() }
    let args = [
      "audit", "--model", t.model, "--data", t.images, "--labels", t.labels, "--thresholds", "0.1,0.2", "--k", "4", "--group",
      "2", "--threads", "1",
    ]
    let (sample, half, all) = (t.dir + "/sample", t.dir + "/half", t.dir + "/all")
    #expect(try CLI.run(args + ["--sample", "3", "--seed", "1", "--out", sample]).status == 0)
    #expect(try CLI.run(args + ["--shard", "1/2", "--out", half]).status == 0)
    let r = try CLI.run(args + ["--out", all, "--reuse", sample, "--reuse", half])
    #expect(r.status == 0 && r.stdout.contains("report: \(all)/report.html"), "\(r.stdout)\(r.stderr)")
    let copiedFromSample = try RunStore(directory: sample + "/run").records()
    let copiedFromHalf = try RunStore(directory: half + "/shards/shard-1-of-2").records()
    // The second folder gives the images the first did not.
    let onlyInHalf = Set(copiedFromHalf.map(\.position)).subtracting(copiedFromSample.map(\.position)).count
    #expect(r.stderr.contains("reusing 3 image(s) selected in \(sample)"), "\(r.stderr)")
    #expect(r.stderr.contains("reusing \(onlyInHalf) image(s) selected in \(half)"), "\(r.stderr)")
    let records = Dictionary(uniqueKeysWithValues: try RunStore(directory: all + "/run").records().map { ($0.position, $0) })
    #expect(records.count == 8)
    for c in copiedFromSample + copiedFromHalf { #expect(records[c.position]?.order == c.order, "image \(c.position)") }
    let copied = Set((copiedFromSample + copiedFromHalf).map(\.position)).count
    #expect(r.stderr.contains("plan: \(8 - copied) image(s)"), "\(r.stderr)")
    // A shard's plan is over every shard: it leaves out the reused images of the others too.
    let p = try CLI.run(args + ["--shard", "0/2", "--out", t.dir + "/sharded", "--reuse", sample, "--plan"])
    #expect(p.status == 0 && p.stderr.contains("plan: \(8 - copiedFromSample.count) image(s)"), "\(p.stderr)")
  }

  /// `compare-audits`: one curve per audit from the audits' own files; its CSV rows are each
  /// audit's rows under its label, an unfinished audit enters through its interim snapshot and is
  /// labelled so, and a folder without results is an error naming it.
  @Test func compareAuditsOverlaysFinishedAndInterimAudits() throws {
    let t = try TinySetup(count: 8)
    defer { t.remove() }
    func args(_ out: String, k: Int) -> [String] {
      [
        "audit", "--model", t.model, "--data", t.images, "--labels", t.labels, "--thresholds", "0.1,0.2,0.3", "--k", "\(k)",
        "--method", "gradient", "--group", "2", "--out", out, "--threads", "1",
      ]
    }
    let a = try CLI.run(args(t.dir + "/a", k: 4))
    #expect(a.status == 0, "\(a.stderr)")
    let half = try CLI.run(args(t.dir + "/b", k: 8) + ["--shard", "0/2"])
    #expect(half.status == 0, "\(half.stderr)")
    let missing = try CLI.run(["compare-audits", t.dir + "/a", t.dir + "/b", "--out", t.dir + "/overlay"])
    #expect(missing.status != 0 && missing.stderr.contains("\(t.dir)/b: no results yet"), "\(missing.stderr)")
    let snapshot = try CLI.run(args(t.dir + "/b", k: 8) + ["--interim"])
    #expect(snapshot.status == 0, "\(snapshot.stderr)")

    let r = try CLI.run(["compare-audits", "k 4, whole=\(t.dir)/a", t.dir + "/b", "--out", t.dir + "/overlay"])
    #expect(r.status == 0, "\(r.stderr)")
    let own = try String(contentsOfFile: t.dir + "/a/results/sis-size-vs-threshold.csv", encoding: .utf8).split(separator: "\n")
    let snap = try String(contentsOfFile: t.dir + "/b/interim/results/sis-size-vs-threshold.csv", encoding: .utf8)
      .split(separator: "\n")
    let overlay = try String(contentsOfFile: t.dir + "/overlay/sis-size-vs-threshold.csv", encoding: .utf8).split(separator: "\n")
    #expect(overlay.first == "audit," + (own.first ?? ""))
    #expect(Array(overlay.dropFirst()) == own.dropFirst().map { "\"k 4, whole\"," + $0 } + snap.dropFirst().map { "b," + $0 })
    let groups = try String(contentsOfFile: t.dir + "/overlay/correct-vs-incorrect.csv", encoding: .utf8).split(separator: "\n")
    #expect(groups.count == 1 + 2 * 3)
    let results = try JSONSerialization.jsonObject(
      with: Data(contentsOf: URL(fileURLWithPath: t.dir + "/a/results/results.json")))
    let rows = ((results as? [String: Any])?["subsets"] as? [String: Any])?["rows"] as? [[String: Any]]
    let accuracy = (rows?.first?["accuracy"] as? Double ?? -1) * 100
    #expect(
      r.stdout.contains("k 4, whole: accuracy \(String(format: "%.1f", accuracy))% (gradient k=4, 8 images)"), "\(r.stdout)")
    #expect(r.stdout.contains("b: accuracy ") && r.stdout.contains("(gradient k=8, 4 of 8 images, interim)"), "\(r.stdout)")
    let svg = try String(contentsOfFile: t.dir + "/overlay/sis-size-vs-threshold.svg", encoding: .utf8)
    #expect(svg.contains("k 4, whole: accuracy") && svg.contains("4 of 8 images, interim"))
  }

  /// A sharded audit (two Slurm array tasks, --shard auto from the array variables): each task
  /// writes its own shard folder, the one that finds both complete merges them and finishes; the
  /// results equal a single process's. Inconsistent array variables are an error naming them,
  /// and merge names the groups a missing shard should have written.
  @Test func shardedAuditFromASlurmArray() throws {
    let t = try TinySetup(count: 8)
    defer { t.remove() }
    func args(_ out: String) -> [String] {
      [
        "audit", "--model", t.model, "--data", t.images, "--labels", t.labels, "--thresholds", "0.1,0.2", "--k", "4", "--group",
        "2",
        "--out", out, "--threads", "1",
      ]
    }
    let single = try CLI.run(args(t.dir + "/single"))
    #expect(single.status == 0, "\(single.stderr)")
    func task(_ id: Int) -> [String: String] {
      ["SLURM_ARRAY_TASK_ID": "\(id + 10)", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "2"]
    }
    let first = try CLI.run(args(t.dir + "/sharded"), environment: task(1))
    #expect(first.status == 0 && first.stderr.contains("shard 1/2 from the Slurm job array"), "\(first.stderr)")
    #expect(first.stdout.contains("analyses run once every shard is"), "\(first.stdout)")
    let second = try CLI.run(args(t.dir + "/sharded"), environment: task(0))
    #expect(second.status == 0 && second.stdout.contains("report:"), "\(second.stdout)\(second.stderr)")
    #expect(
      FileManager.default.contents(atPath: t.dir + "/single/results/results.json")
        == FileManager.default.contents(atPath: t.dir + "/sharded/results/results.json"))
    // Once merged, the shard folders may go (they duplicate run/): a task run again does nothing.
    try FileManager.default.removeItem(atPath: t.dir + "/sharded/shards/shard-1-of-2")
    let again = try CLI.run(args(t.dir + "/sharded"), environment: task(1))
    #expect(again.status == 0 && again.stdout.contains("report:"), "\(again.stdout)\(again.stderr)")
    #expect(!FileManager.default.fileExists(atPath: t.dir + "/sharded/shards/shard-1-of-2"))
    let bad = try CLI.run(
      args(t.dir + "/bad") + ["--shard", "auto"],
      environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "2"])
    #expect(bad.status != 0 && bad.stderr.contains("SLURM_ARRAY_TASK_COUNT=2"), "\(bad.stderr)")
    let noArray = try CLI.run(args(t.dir + "/none") + ["--shard", "auto"])
    #expect(noArray.status != 0 && noArray.stderr.contains("SLURM_ARRAY_TASK_ID is not set"), "\(noArray.stderr)")
    // merge refuses an incomplete run and says which groups and shard are missing.
    let merge = try CLI.run(["merge", t.dir + "/sharded/shards/shard-0-of-2", "--out", t.dir + "/partial"])
    #expect(merge.status != 0 && merge.stderr.contains("shard 1/2: group(s) 1, 3"), "\(merge.stderr)")
    let allowed = try CLI.run([
      "merge", t.dir + "/sharded/shards/shard-0-of-2", "--out", t.dir + "/partial2", "--allow-incomplete",
    ])
    #expect(allowed.status == 0 && allowed.stdout.contains("4 of 8 image(s)"), "\(allowed.stdout)\(allowed.stderr)")
  }
}
