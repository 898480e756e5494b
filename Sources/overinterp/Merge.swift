import ArgumentParser
import SIS

struct Merge: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Join backselect shard folders into one run, refusing folders whose manifests disagree.")

  @Argument(help: "Run folders (e.g. the --shard i/n outputs of several machines).")
  var runs: [String]

  @Option(help: "Merged run folder.")
  var out: String

  func run() throws {
    let copied = try RunStore.merge(runs.map(RunStore.init(directory:)), into: RunStore(directory: out))
    let records = try RunStore(directory: out).records()
    print("\(out): \(records.count) image(s) (\(copied) shard file(s) copied)")
  }
}
