import Analysis
import Base
import Foundation
import SIS

/// Finished audits side by side, read from their files (no model pass): the paper's Figure 6 (mean
/// SIS size against threshold, one curve per audited model, an ensemble counting as one, accuracy
/// in the legend) and Figure 5 (SIS of correctly over misclassified images), as SVG and CSV. An
/// audit still running contributes its interim snapshot (`audit --interim`), labelled as such.
public struct AuditOverlay {
  public struct Entry {
    public var label: String
    public var folder: String
    public var settings: AuditSettings
    public var results: AuditResults
    /// Read from `interim/results/` (the audit is not finished).
    public var interim: Bool
    public var selected: Int

    /// The legend: label, accuracy on the full audited images, method and images.
    public var legend: String {
      let accuracy = results.subsets.rows.first.map { fmt($0.accuracy * 100, digits: 1) + "%" } ?? "-"
      let method = settings.method + (settings.k.map { " k=\($0)" } ?? "")
      let images = interim ? "\(results.images) of \(selected) images, interim" : "\(results.images) images"
      return "\(label): accuracy \(accuracy) (\(method), \(images))"
    }
  }

  public let entries: [Entry]

  /// `audits`: (label, audit folder) pairs; each folder needs `audit.json`, `selection.json` and
  /// `results/results.json` (or `interim/results/results.json`).
  public init(_ audits: [(label: String, folder: String)]) throws {
    guard !audits.isEmpty else { throw AuditError("give at least one audit folder") }
    entries = try audits.map { label, folder in
      func decode<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        do {
          return try JSONDecoder().decode(T.self, from: Data(try readFile(folder + "/" + path)))
        } catch {
          throw AuditError("\(folder)/\(path): not a readable audit file (\(error))")
        }
      }
      let fm = FileManager.default
      let interim = !fm.fileExists(atPath: folder + "/results/results.json")
      guard !interim || fm.fileExists(atPath: folder + "/interim/results/results.json") else {
        throw AuditError(
          "\(folder): no results yet (neither results/results.json nor interim/results/results.json); finish the audit, or write a snapshot with `audit ... {interim}`"
        )
      }
      return Entry(
        label: label, folder: folder, settings: try decode(AuditSettings.self, "audit.json"),
        results: try decode(AuditResults.self, interim ? "interim/results/results.json" : "results/results.json")
          .withoutOutdatedIntervals,
        interim: interim, selected: try decode(Audit.Selection.self, "selection.json").positions.count)
    }
  }

  /// The (ensemble, member) pairs among the audits: an audit of several models and an audit of
  /// one of them on the same data, by index into `entries`.
  public var ensembleMemberPairs: [(ensemble: Int, member: Int)] {
    var out: [(Int, Int)] = []
    for (i, e) in entries.enumerated() where e.settings.modelSHA256.count > 1 {
      for (j, m) in entries.enumerated() where m.settings.modelSHA256.count == 1 {
        if m.settings.record.data == e.settings.record.data, e.settings.modelSHA256.contains(m.settings.modelSHA256[0]) {
          out.append((i, j))
        }
      }
    }
    return out
  }

  /// The paper's section 4.6 claim, per image: for each (ensemble, member) pair, the paired
  /// SIS-size differences ensemble − member at each threshold over the images both have finished
  /// (`run/`, or an unfinished audit's shards; such an ensemble is labelled interim).
  public func ensembleVersusMembers() throws -> [(ensemble: String, member: String, points: [PairedSISPoint])] {
    func finished(_ folder: String) throws -> [ImageRecord] {
      guard let (stores, _) = try? Audit.selectionStores(folder: folder) else { return [] }
      return try stores.flatMap { try $0.records() }
    }
    return try ensembleMemberPairs.compactMap { i, j in
      let (e, m) = (entries[i], entries[j])
      let (first, second) = (try finished(e.folder), try finished(m.folder))
      guard !first.isEmpty, !second.isEmpty else { return nil }
      let label = e.interim ? e.label + " (interim)" : e.label
      return (
        label, m.interim ? m.label + " (interim)" : m.label, pairedSISDifference(first, second, thresholds: e.settings.thresholds)
      )
    }
  }

  /// Table 1's first block with one column per audit (the paper's columns are datasets: an audit
  /// of CIFAR-10, of CIFAR-10-C, of CIFAR-10.1): accuracy of the audited model on the full images,
  /// on their k% backward-selection subsets and on k% random subsets, and the confidence drop on
  /// the backward-selection subsets, as CSV (one row per audit) and a Markdown table.
  public var table1: (csv: String, markdown: String) {
    var csv =
      "audit,images,full_accuracy,bs_accuracy,random_accuracy,bs_confidence_drop_mean,bs_confidence_drop_std,random_commonest_class,random_commonest_share\n"
    let rows = entries.map { e -> [SubsetEvaluation.Row] in e.results.subsets.rows }
    for (e, r) in zip(entries, rows) where r.count == 3 {
      csv +=
        "\(Self.csvField(e.label)),\(r[0].images),\(r[0].accuracy),\(r[1].accuracy),\(r[2].accuracy),\(r[1].confidenceDrop),"
        + "\(r[1].confidenceDropStd),\(r[2].commonestClass ?? ""),\(r[2].commonestShare.map { String($0) } ?? "")\n"
    }
    let kinds = rows.first { $0.count == 3 }?.map(\.kind) ?? ["full images", "backward selection", "random"]
    var md = "| evaluated on | " + entries.map { "\($0.label) (\($0.results.images) images)" }.joined(separator: " | ") + " |\n"
    md += "|---|" + entries.map { _ in "---|" }.joined() + "\n"
    for (k, kind) in kinds.enumerated() {
      md +=
        "| \(kind) (accuracy %) | "
        + rows.map { $0.count == 3 ? fmt($0[k].accuracy * 100, digits: 2) : "-" }.joined(separator: " | ") + " |\n"
    }
    md +=
      "| confidence drop on the \(kinds[1]) subsets, mean (std) | "
      + rows.map { $0.count == 3 ? "\(fmt($0[1].confidenceDrop, digits: 3)) (\(fmt($0[1].confidenceDropStd, digits: 3)))" : "-" }
      .joined(separator: " | ") + " |\n"
    return (csv, md)
  }

  /// Figure 6 and Figure 5 with one series per audit.
  public var charts: (sisSize: String, correctIncorrect: String) {
    let series = entries.map { (name: $0.legend, results: $0.results) }
    return (Audit.sisSizeChart(series).svg, Audit.correctIncorrectChart(series).svg)
  }

  /// Writes `sis-size-vs-threshold.svg`/`.csv` and `correct-vs-incorrect.svg`/`.csv` (the audits'
  /// own CSV columns after an `audit` column) into `folder`; returns a text summary.
  @discardableResult
  public func write(to folder: String) throws -> String {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    func labelled(_ csv: (Entry) -> String) -> String {
      var lines: [String] = []
      for (i, e) in entries.enumerated() {
        let rows = csv(e).split(separator: "\n")
        if i == 0, let header = rows.first { lines.append("audit," + header) }
        lines += rows.dropFirst().map { "\(Self.csvField(e.label))," + $0 }
      }
      return lines.joined(separator: "\n") + "\n"
    }
    let svg = charts
    try writeFileAtomically(Array(svg.sisSize.utf8), to: folder + "/sis-size-vs-threshold.svg")
    try writeFileAtomically(Array(svg.correctIncorrect.utf8), to: folder + "/correct-vs-incorrect.svg")
    try writeFileAtomically(
      Array(labelled { Audit.curveCSV($0.results.sisSize) }.utf8), to: folder + "/sis-size-vs-threshold.csv")
    try writeFileAtomically(
      Array(labelled { Audit.groupCSV($0.results.correctIncorrect) }.utf8), to: folder + "/correct-vs-incorrect.csv")
    let table = table1
    try writeFileAtomically(Array(table.csv.utf8), to: folder + "/table1.csv")
    try writeFileAtomically(Array(table.markdown.utf8), to: folder + "/table1.md")
    var text = "Table 1, first block (the audited model on each audit's images):\n" + table.markdown
    let paired = try ensembleVersusMembers()
    if !paired.isEmpty {
      var csv =
        "ensemble,member,threshold,images,mean_difference,ci95_lower,ci95_upper,ensemble_larger,member_larger,sign_test_p\n"
      for (e, m, points) in paired {
        for p in points {
          func v(_ x: Double?) -> String { x.map { String($0) } ?? "" }
          csv +=
            "\(Self.csvField(e)),\(Self.csvField(m)),\(p.threshold),\(p.images),\(v(p.meanDifference)),\(v(p.interval?.lower)),"
            + "\(v(p.interval?.upper)),\(p.firstLarger),\(p.secondLarger),\(p.signTestP)\n"
        }
        let summary = points.map { p in
          let ci = p.interval.map { " [\(fmt($0.lower, digits: 1)), \(fmt($0.upper, digits: 1))]" } ?? ""
          return "τ \(fmt(p.threshold, digits: 2)): \(p.meanDifference.map { fmt($0, digits: 1) } ?? "-")\(ci) (n=\(p.images))"
        }
        text +=
          "\(e) against its member \(m), SIS size ensemble − member per image, mean [95% CI]: \(summary.joined(separator: "; "))\n"
      }
      try writeFileAtomically(Array(csv.utf8), to: folder + "/ensemble-vs-members.csv")
      text += Self.ensembleVerdicts(paired).joined(separator: "\n") + "\n"
    }
    for e in entries {
      let sizes = e.results.sisSize.map { p in "τ \(fmt(p.threshold, digits: 2)): \(p.mean.map { fmt($0, digits: 1) } ?? "-")" }
      text += "\(e.legend)\n  mean SIS size (pixels of \(e.results.featureCount)): \(sizes.joined(separator: ", "))\n"
    }
    text +=
      "wrote \(folder)/sis-size-vs-threshold.svg, .csv, correct-vs-incorrect.svg, .csv, table1.csv, .md"
      + (paired.isEmpty ? "" : ", ensemble-vs-members.csv") + "\n"
    return text
  }

  /// The section 4.6 claim for each ensemble, one line each: the thresholds at which its SIS are
  /// larger than every member's (each paired 95% interval above 0), those at which they are
  /// smaller than some member's (an interval below 0), and the rest (undecided, or too few images).
  static func ensembleVerdicts(_ paired: [(ensemble: String, member: String, points: [PairedSISPoint])]) -> [String] {
    var order: [String] = []
    var byEnsemble: [String: [[PairedSISPoint]]] = [:]
    for (e, _, points) in paired {
      if byEnsemble[e] == nil { order.append(e) }
      byEnsemble[e, default: []].append(points)
    }
    return order.map { e in
      let members = byEnsemble[e] ?? []
      var (larger, smaller, open) = ([String](), [String](), [String]())
      for (k, tau) in (members.first ?? []).map(\.threshold).enumerated() {
        let intervals = members.map { $0.indices.contains(k) ? $0[k].interval : nil }
        let label = fmt(tau, digits: 2)
        if intervals.contains(where: { ($0?.upper ?? 0) < 0 }) {
          smaller.append(label)
        } else if intervals.allSatisfy({ ($0?.lower ?? 0) > 0 }) {
          larger.append(label)
        } else {
          open.append(label)
        }
      }
      func list(_ l: [String]) -> String { l.isEmpty ? "none" : l.joined(separator: ", ") }
      return
        "\(e) against its \(members.count) member(s), paired 95% intervals of the SIS size difference: larger than every member's at τ = \(list(larger)); smaller than some member's at τ = \(list(smaller)); undecided at τ = \(list(open))"
    }
  }

  /// A CSV field, quoted when it holds a comma or a quote.
  static func csvField(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }
}
