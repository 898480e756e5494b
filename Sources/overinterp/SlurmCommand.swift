import ArgumentParser
import Audit

struct SlurmCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "slurm",
    abstract: "Write (and optionally submit) sbatch scripts that run a backselect or audit command as a Slurm job array.",
    discussion: """
      Example: overinterp slurm --tasks 16 --cpus-per-task 4 --partition cpu --time 12:00:00 -- \
      backselect --data DATA --confident 0.99 --out runs/bs. Writes PREFIX-array.sbatch (one task \
      per shard: --shard auto, --resume, --threads from --cpus-per-task, so a requeued or \
      preempted task continues) and PREFIX-merge.sbatch (after every task succeeded: merge the \
      shards into --out, or for audit the same command, which merges and writes the report). \
      --gpus-per-task adds --gres=gpu:N and --device cuda (needs a CUDA build of overinterp). \
      --submit calls sbatch and prints the job ids.
      """)

  @Option(help: "Array tasks (shards).") var tasks: Int
  @Option(help: "CPUs per task (also the threads each task uses).") var cpusPerTask: Int = 2
  @Option(help: "Slurm partition.") var partition: String?
  @Option(help: "Time limit per task, e.g. 12:00:00.") var time: String?
  @Option(help: "Memory per task, e.g. 8G.") var mem: String?
  @Option(help: "GPUs per task (adds --gres=gpu:N and --device cuda).") var gpusPerTask: Int = 0
  @Option(help: "Job name prefix.") var jobName: String = "overinterp"
  @Option(help: "Folder for the task logs.") var logs: String = "slurm-logs"
  @Option(help: "Prefix of the two script files.") var script: String = "overinterp-job"
  @Option(help: "The overinterp executable the jobs run.") var overinterp: String = "overinterp"
  @Flag(help: "Submit the scripts with sbatch.") var submit = false
  @Argument(parsing: .postTerminator, help: "The command: backselect ... or audit ... (after --).")
  var command: [String] = []

  func run() throws {
    let job = try SlurmJob(
      command: command, tasks: tasks, cpusPerTask: cpusPerTask, partition: partition, time: time, memory: mem,
      gpusPerTask: gpusPerTask, jobName: jobName, logs: logs, executable: overinterp)
    let (array, merge) = try job.write(prefix: script)
    print("wrote \(array) and \(merge)")
    if submit {
      let ids = try SlurmJob.submit(array: array, merge: merge)
      print("submitted array job \(ids.array) and merge job \(ids.merge) (after the array succeeds)")
    } else {
      print("submit with: jid=$(sbatch --parsable \(array)) && sbatch --dependency=afterok:$jid \(merge)")
    }
  }
}
