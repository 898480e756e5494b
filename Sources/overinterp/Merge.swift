import ArgumentParser
import Base
import Datasets
import SIS

struct Merge: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Join backselect shard folders into one run, or pixel-subset folders of disjoint images into one dataset, refusing folders that disagree.",
    discussion: """
      Backselect runs: every group of the run must be present: a missing one is an error that \
      names it and the shard (i/n) that should have written it, unless --allow-incomplete (e.g. \
      to look at a run in progress). Pixel-subset folders (written by `subsets`, e.g. one per \
      finished shard of a long run) must agree on kind, fraction, seed, source, method and \
      model, and hold no image twice; --out may be one of them (the way a dataset grows shard \
      by shard).
      """)

  @Argument(help: "Run folders (e.g. the --shard i/n outputs of several machines), or pixel-subset folders.")
  var runs: [String]

  @Option(help: "Merged run or pixel-subset folder.")
  var out: String

  @Flag(help: "Merge what is there even if groups are missing (backselect run folders only).")
  var allowIncomplete = false

  func run() throws {
    let subsetFolders = runs.filter(PixelSubsets.isSubsetFolder)
    if !subsetFolders.isEmpty {
      guard subsetFolders.count == runs.count else {
        let other = runs.first { !PixelSubsets.isSubsetFolder($0) } ?? ""
        throw ValidationFailure("\(other) is not a pixel-subset folder (no subsets.json) like \(subsetFolders[0])")
      }
      guard !allowIncomplete else {
        throw ValidationFailure(
          "--allow-incomplete is for backselect run folders; pixel-subset folders have no groups to miss and are merged whole")
      }
      let info = try PixelSubsets.merge(runs, into: out)
      print("\(out): \(info.count) image(s) from \(runs.count) folder(s); \(info.description)")
      return
    }
    let stores = runs.map(RunStore.init(directory:))
    let copied = try RunStore.merge(stores, into: RunStore(directory: out))
    let merged = RunStore(directory: out)
    let records = try merged.records()
    let shardCount = try stores.first?.readManifest().shard.count ?? 1
    let missing = try merged.missingGroups(shardCount: shardCount)
    let total = try merged.readManifest().positions.count
    print("\(out): \(records.count) of \(total) image(s) (\(copied) shard file(s) copied)")
    if !missing.isEmpty {
      let byShard = Dictionary(grouping: missing, by: \.shard.description).sorted { $0.key < $1.key }
      let text = byShard.map { "shard \($0.key): group(s) \($0.value.map { String($0.group) }.joined(separator: ", "))" }
      let message = "\(missing.count) group(s) missing: " + text.joined(separator: "; ")
      if allowIncomplete {
        printError("merge: " + message)
      } else {
        throw ValidationFailure(message + " (--allow-incomplete merges anyway)")
      }
    }
  }
}
