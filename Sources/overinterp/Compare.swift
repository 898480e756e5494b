import Analysis
import ArgumentParser
import SIS

struct CompareRuns: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract:
      "Compare two backselect runs of the same images (e.g. --score prob vs logprob, or exact vs gradient/hybrid): ties, SIS, subsets, time, heatmaps."
  )

  @Argument(help: "Two run folders.")
  var runs: [String]

  @Option(help: "SIS threshold.")
  var threshold: Double = 0.99

  @Option(help: "Subset fraction.")
  var fraction: Double = 0.05

  @Option(help: "Folder for the side-by-side heatmap PNG and report.")
  var out: String

  func validate() throws {
    if runs.count != 2 { throw ValidationError("give exactly two run folders") }
    if !(threshold >= 0 && threshold <= 1) { throw ValidationError("--threshold must be in [0, 1], got \(threshold)") }
    if !(fraction > 0 && fraction <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
  }

  func run() throws {
    let comparison = try RunComparison(runs.map(RunStore.init(directory:)), threshold: threshold, fraction: fraction)
    print(try comparison.write(to: out), terminator: "")
  }
}
