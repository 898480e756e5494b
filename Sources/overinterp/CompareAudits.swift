import ArgumentParser
import Audit
import Foundation

struct CompareAudits: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare-audits",
    abstract: "Finished audits side by side: SIS size against threshold (Figure 6) and correct over misclassified (Figure 5).",
    discussion: """
      One curve per audit (an ensemble's audit counts as one model), with its accuracy on the full \
      audited images, method and image count in the legend, read from each folder's results \
      (no model pass). An audit still running contributes its interim snapshot (`audit ... \
      --interim`), labelled as such. Writes sis-size-vs-threshold.svg/.csv and \
      correct-vs-incorrect.svg/.csv.
      """
  )

  @Argument(help: "Audit folders, each as FOLDER or LABEL=FOLDER (the label defaults to the folder's name).")
  var audits: [String]

  @Option(help: "Output folder.")
  var out: String

  func validate() throws {
    if audits.isEmpty { throw ValidationError("give at least one audit folder") }
  }

  func run() throws {
    let pairs = try audits.map { a -> (label: String, folder: String) in
      if a.contains("="), !FileManager.default.fileExists(atPath: a) { return try labelledPath(a, flag: "an audit") }
      return (URL(fileURLWithPath: a).lastPathComponent, a)
    }
    print(try AuditOverlay(pairs).write(to: out), terminator: "")
  }
}
