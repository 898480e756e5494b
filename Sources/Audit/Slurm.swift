import Base
import Foundation

/// sbatch scripts for a `backselect` or `audit` command over a Slurm job array: one task per
/// shard (`--shard auto`, `--resume`, so a requeued or preempted task continues), then a job that
/// waits for the whole array (`--dependency=afterok`) and merges the shards (`merge` for
/// backselect; the same `audit` command without a shard, which merges and writes the report).
public struct SlurmJob: Sendable {
  public var command: [String]
  public var tasks: Int
  public var cpusPerTask: Int
  public var partition: String?
  public var time: String?
  public var memory: String?
  public var gpusPerTask: Int
  public var jobName: String
  public var logs: String
  public var executable: String

  public init(
    command: [String], tasks: Int, cpusPerTask: Int = 2, partition: String? = nil, time: String? = nil, memory: String? = nil,
    gpusPerTask: Int = 0, jobName: String = "overinterp", logs: String = "slurm-logs", executable: String = "overinterp"
  ) throws {
    guard let verb = command.first, ["backselect", "audit"].contains(verb) else {
      throw SlurmError("the command after -- must be `backselect ...` or `audit ...`, got '\(command.first ?? "")'")
    }
    guard tasks >= 1, cpusPerTask >= 1, gpusPerTask >= 0 else {
      throw SlurmError("{tasks} and {cpusPerTask} must be at least 1")
    }
    guard Self.value(of: "--out", in: command) != nil else { throw SlurmError("the \(verb) command needs --out") }
    for flag in ["--shard", "--threads", "--device", "--resume"]
    where command.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) {
      throw SlurmError("leave \(flag) out of the command: the job sets it")
    }
    self.command = command
    self.tasks = tasks
    self.cpusPerTask = cpusPerTask
    self.partition = partition
    self.time = time
    self.memory = memory
    self.gpusPerTask = gpusPerTask
    self.jobName = jobName
    self.logs = logs
    self.executable = executable
  }

  static func value(of flag: String, in args: [String]) -> String? {
    if let i = args.firstIndex(of: flag), i + 1 < args.count { return args[i + 1] }
    return args.first { $0.hasPrefix(flag + "=") }.map { String($0.dropFirst(flag.count + 1)) }
  }

  /// `text` quoted for bash (single quotes; variables inside stay literal).
  static func quote(_ text: String) -> String {
    if text.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=,:+@%".contains($0) }) { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  var verb: String { command[0] }
  var out: String { Self.value(of: "--out", in: command) ?? "out" }
  /// Where the backselect tasks write their shards (merged into --out at the end).
  var shardsFolder: String { out + "-shards" }

  func header(name: String, array: Bool) -> String {
    var lines = [
      "#!/bin/bash", "#SBATCH --job-name=\(jobName)-\(name)", "#SBATCH --cpus-per-task=\(cpusPerTask)",
      "#SBATCH --output=\(logs)/%x-%A_%a.log", "#SBATCH --open-mode=append", "#SBATCH --requeue",
    ]
    if array { lines.append("#SBATCH --array=0-\(tasks - 1)") }
    if let partition { lines.append("#SBATCH --partition=\(partition)") }
    if let time { lines.append("#SBATCH --time=\(time)") }
    if let memory { lines.append("#SBATCH --mem=\(memory)") }
    if gpusPerTask > 0 { lines.append("#SBATCH --gres=gpu:\(gpusPerTask)") }
    lines += [
      "# Written by overinterp slurm. Threads follow --cpus-per-task; a requeued task resumes its shard.",
      "set -euo pipefail", "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-\(cpusPerTask)}",
    ]
    return lines.joined(separator: "\n") + "\n"
  }

  var runtimeFlags: [String] {
    ["--threads", "${SLURM_CPUS_PER_TASK:-\(cpusPerTask)}"] + (gpusPerTask > 0 ? ["--device", "cuda"] : [])
  }

  /// One command line with the runtime flags (which must not be quoted: they hold variables).
  func line(_ args: [String], extra: [String]) -> String {
    ([Self.quote(executable)] + args.map(Self.quote) + extra).joined(separator: " ")
  }

  /// The array job: one task per shard.
  public var arrayScript: String {
    var args = command
    var extra = runtimeFlags + ["--shard", "auto"]
    if verb == "backselect" {
      if let i = args.firstIndex(of: "--out") {
        args[i + 1] = shardsFolder + "/task-${SLURM_ARRAY_TASK_ID}"
      } else {
        args = args.map { $0.hasPrefix("--out=") ? "--out=" + shardsFolder + "/task-${SLURM_ARRAY_TASK_ID}" : $0 }
      }
      extra.append("--resume")
    }
    // The task's --out holds a variable: quote everything but it.
    let quoted =
      ([Self.quote(executable)] + args.map { $0.contains("${SLURM_ARRAY_TASK_ID}") ? "\"\($0)\"" : Self.quote($0) } + extra)
      .joined(separator: " ")
    return header(name: "array", array: true) + "mkdir -p \(Self.quote(logs))\n" + quoted + "\n"
  }

  /// The job that runs after every task succeeded.
  public var mergeScript: String {
    let body: String
    if verb == "backselect" {
      body = "\(Self.quote(executable)) merge \(Self.quote(shardsFolder))/task-* --out \(Self.quote(out))"
    } else {
      body = line(command, extra: runtimeFlags)
    }
    return header(name: "merge", array: false) + body + "\n"
  }

  /// Writes `PREFIX-array.sbatch` and `PREFIX-merge.sbatch`; returns their paths.
  public func write(prefix: String) throws -> (array: String, merge: String) {
    let array = prefix + "-array.sbatch"
    let merge = prefix + "-merge.sbatch"
    try writeFileAtomically(Array(arrayScript.utf8), to: array)
    try writeFileAtomically(Array(mergeScript.utf8), to: merge)
    for path in [array, merge] { chmod(path, 0o755) }
    try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
    return (array, merge)
  }

  /// Submits both scripts with `sbatch` (the merge job depends on the whole array) and returns
  /// the two job ids.
  public static func submit(array: String, merge: String, sbatch: String = "sbatch") throws -> (array: String, merge: String) {
    let first = try run(sbatch, ["--parsable", array])
    let second = try run(sbatch, ["--parsable", "--dependency=afterok:\(first)", merge])
    return (first, second)
  }

  static func run(_ tool: String, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + args
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: o, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard p.terminationStatus == 0, !text.isEmpty else {
      throw SlurmError("\(tool) \(args.joined(separator: " ")) failed: \(String(decoding: e, as: UTF8.self))")
    }
    // --parsable prints "jobid" or "jobid;cluster".
    return String(text.split(separator: ";").first ?? Substring(text))
  }
}

public struct SlurmError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = SettingNames.render(description) }
}
