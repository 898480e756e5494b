import Foundation
import SIS
import Testing

@Suite(.serialized) struct SlurmCLITests {
  /// `slurm` writes an array script and a merge script for a backselect command. Run by bash
  /// as Slurm would (each task with its array variables, then the merge), they produce a run whose
  /// shards are byte-identical to a single process's. `--submit` hands both to sbatch, the merge
  /// job depending on the array (checked with a stand-in sbatch on PATH).
  @Test func scriptsRunAsAnArrayMatchASingleProcess() throws {
    let t = try TinySetup(count: 8)
    defer { t.remove() }
    let single = t.dir + "/single"
    let r = try CLI.run(t.backselect(single, ["--all", "--group", "2"]))
    #expect(r.status == 0, "\(r.stderr)")
    let backselect = [
      "backselect", "--model", t.model, "--data", t.images, "--labels", t.labels, "--all", "--group", "2", "--out",
      t.dir + "/array",
    ]
    let w = try CLI.run(
      [
        "slurm", "--tasks", "4", "--cpus-per-task", "1", "--partition", "cpu", "--time", "1:00:00", "--logs", t.dir + "/logs",
        "--script", t.dir + "/job", "--overinterp", CLI.binary, "--",
      ] + backselect)
    #expect(w.status == 0, "\(w.stderr)")
    let array = try String(contentsOfFile: t.dir + "/job-array.sbatch", encoding: .utf8)
    let merge = try String(contentsOfFile: t.dir + "/job-merge.sbatch", encoding: .utf8)
    for line in [
      "#SBATCH --array=0-3", "#SBATCH --cpus-per-task=1", "#SBATCH --partition=cpu", "#SBATCH --time=1:00:00",
      "#SBATCH --requeue",
      "--shard auto", "--resume", "task-${SLURM_ARRAY_TASK_ID}",
    ] {
      #expect(array.contains(line), "\(line) in \(array)")
    }
    #expect(merge.contains(" merge ") && merge.contains("--out \(t.dir)/array"), "\(merge)")
    func bash(_ script: String, _ env: [String: String]) throws -> Int32 {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: "/bin/bash")
      p.arguments = [script]
      p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
      p.standardOutput = FileHandle.nullDevice
      p.standardError = FileHandle.nullDevice
      try p.run()
      p.waitUntilExit()
      return p.terminationStatus
    }
    for task in [2, 0, 3, 1] {
      let env = [
        "SLURM_ARRAY_TASK_ID": "\(task)", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_CPUS_PER_TASK": "1",
      ]
      #expect(try bash(t.dir + "/job-array.sbatch", env) == 0, "task \(task)")
    }
    #expect(try bash(t.dir + "/job-merge.sbatch", ["SLURM_CPUS_PER_TASK": "1"]) == 0)
    let shards = try FileManager.default.contentsOfDirectory(atPath: single).filter { $0.hasSuffix(".npz") }.sorted()
    #expect(shards.count == 4)
    for name in shards {
      #expect(
        FileManager.default.contents(atPath: "\(single)/\(name)")
          == FileManager.default.contents(atPath: "\(t.dir)/array/\(name)"), "\(name)")
    }

    // --submit: a stand-in sbatch records its arguments and answers with job ids.
    let bin = t.dir + "/bin"
    try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
    try """
    #!/bin/bash
    echo "$@" >> \(t.dir)/sbatch-calls
    if [ -f \(t.dir)/sbatch-count ]; then echo 1002; else touch \(t.dir)/sbatch-count; echo "1001;cluster"; fi
    """.write(toFile: bin + "/sbatch", atomically: true, encoding: .utf8)
    chmod(bin + "/sbatch", 0o755)
    let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    let s = try CLI.run(
      ["slurm", "--tasks", "2", "--script", t.dir + "/sub", "--logs", t.dir + "/logs", "--submit", "--"] + backselect,
      environment: ["PATH": path])
    #expect(s.status == 0 && s.stdout.contains("array job 1001 and merge job 1002"), "\(s.stdout)\(s.stderr)")
    let calls = try String(contentsOfFile: t.dir + "/sbatch-calls", encoding: .utf8).split(separator: "\n")
    #expect(calls.count == 2 && calls[1].contains("--dependency=afterok:1001"), "\(calls)")
    // Flags the job sets itself are refused in the command.
    let bad = try CLI.run(["slurm", "--tasks", "2", "--script", t.dir + "/x", "--"] + backselect + ["--shard", "0/2"])
    #expect(bad.status != 0 && bad.stderr.contains("leave --shard out"), "\(bad.stderr)")
  }

  /// `backselect --plan` prints the cost before anything runs: 64 pixels, exact: 1 + 64 · 65 / 2
  /// = 2,081 forward passes per image, and the time on the tasks given.
  @Test func planPrintsTheCost() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let r = try CLI.run(t.backselect(t.dir + "/planned", ["--all", "--plan", "--tasks", "4"]))
    #expect(r.status == 0, "\(r.stderr)")
    #expect(
      r.stdout.contains("plan: 6 image(s), exact, score logprob: 2081 forward + 0 gradient passes per image"), "\(r.stdout)")
    #expect(r.stdout.contains("12486 forward passes in all") && r.stdout.contains("on 4 tasks"), "\(r.stdout)")
    #expect(!FileManager.default.fileExists(atPath: t.dir + "/planned"))
  }

  /// A hybrid's plan measures its exact phase on a pilot (here all 6 images: the gradient phase
  /// alone) and so predicts the forward passes the run then takes (within the one pass per image
  /// that measures the gradient phase's last block); a resumed plan goes by the finished images.
  @Test func hybridPlanPredictsTheRunsForwardPasses() throws {
    let t = try TinySetup(count: 6)
    defer { t.remove() }
    let flags = ["--all", "--group", "2", "--method", "hybrid", "--k", "4", "--switch-at", "0.5", "--exact-last", "10"]
    let plan = try CLI.run(t.backselect(t.dir + "/hybrid", flags + ["--plan"]))
    #expect(plan.status == 0 && plan.stdout.contains("the exact phase measured on a pilot of 6 image(s)"), "\(plan.stdout)")
    let predicted = try #require(
      plan.stdout.firstMatch(of: /: (\d+) forward \+ (\d+) gradient passes per image on average/).map { Int($0.1)! })
    let run = try CLI.run(t.backselect(t.dir + "/hybrid", flags))
    #expect(run.status == 0, "\(run.stderr)")
    let groups = try String(contentsOfFile: t.dir + "/hybrid/timings.jsonl", encoding: .utf8).split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    let forward = groups.compactMap { $0["forward_passes_per_image"] as? Int }
    #expect(forward.count == 3)
    let measured = Double(forward.reduce(0, +)) / 3
    #expect(measured >= Double(predicted) - 1.5 && measured <= Double(predicted) + 1.5, "plan \(predicted), run \(measured)")
    let resumed = try CLI.run(t.backselect(t.dir + "/hybrid", flags + ["--plan"]))
    #expect(
      resumed.stdout.contains("plan: 0 image(s)") && resumed.stdout.contains("over the 6 finished image(s)"), "\(resumed.stdout)")
  }
}
