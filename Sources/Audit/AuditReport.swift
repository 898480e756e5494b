import Analysis
import Base
import Datasets
import Foundation
import SIS

extension Audit {
  /// Stage 4: `report.html`, one self-contained page (images embedded as data URIs, figures as
  /// inline SVG, no scripts, no external resources) with every figure and table of `results/`,
  /// each with a sentence on what it shows, and the audit's settings. Reads only files.
  @discardableResult
  public func writeReport(machine: String) throws -> String {
    let results = try JSONDecoder().decode(AuditResults.self, from: Data(try readFile(resultsFolder + "/results.json")))
    let (stores, manifest) = try selectionStores()
    let costs = stores.reduce(into: [Int: ImageCost]()) { all, s in all.merge(s.costs()) { a, _ in a } }
    let selection = try JSONDecoder().decode(Selection.self, from: Data(try readFile(selectionPath)))
    let seconds = costs.values.reduce(0) { $0 + Double($1.seconds) }
    let charts = charts(results)
    func esc(_ s: String) -> String { LineChart.escape(s) }
    func png(_ name: String, alt: String) -> String {
      guard let bytes = try? readFile(resultsFolder + "/" + name) else { return "<p>(missing \(esc(name)))</p>" }
      return "<img alt=\"\(esc(alt))\" src=\"data:image/png;base64,\(Data(bytes).base64EncodedString())\">"
    }
    func pct(_ x: Double?) -> String { x.map { fmt($0 * 100, digits: 1) + "%" } ?? "-" }
    func num(_ x: Double?, _ digits: Int = 1) -> String { x.map { fmt($0, digits: digits) } ?? "-" }
    var h = """
      <!doctype html>
      <html lang="en"><head><meta charset="utf-8"><title>overinterp audit</title>
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <style>
      body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#222}
      table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
      th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{image-rendering:pixelated;max-width:100%}
      .gallery img{width:16rem;margin:.25rem}.heatmap{display:flex;align-items:center;gap:1rem}.heatmap img{width:24rem}code{background:#f3f3f3;padding:0 .2rem}svg{width:100%;max-width:44rem;height:auto}.heatmap svg{width:96px}
      .interim{background:#fff4d6;border:1px solid #e0b400;padding:.5rem .75rem}
      </style></head><body>
      <h1>Overinterpretation audit</h1>

      """
    if interim {
      h +=
        "<p class=\"interim\"><strong>Interim report</strong>: \(results.images) of the \(selection.positions.count) selected images had finished backward selection when it was written (\(esc(Self.timestamp()))). Every number below is over those images only. The audit goes on with the same command; its final report is <code>report.html</code> in the audit folder.</p>\n"
    }
    h += "<h2>Settings</h2><table>"
    let rows: [(String, String)] = [
      (
        "models",
        zip(settings.modelPaths, settings.modelSHA256).map { "\(esc($0)) (sha256 \($1.prefix(16))…)" }.joined(separator: "<br>")
      ),
      ("architecture", esc(manifest.architecture)),
      ("data", esc(manifest.data.description)),
      (
        "images",
        "\(selection.predicted) predicted, \(selection.confident) with confidence ≥ \(settings.minConfidence), \(results.images) audited (\(esc(selection.description)))"
      ),
      (
        "method",
        esc(manifest.label)
          + {
            switch manifest.settings.method {
            case .gradient: return " (Batched Gradient BackSelect: SIS cut at block boundaries, larger than exact SIS)"
            case .fast:
              return " (screened exact selection: its fidelity to exact selection is measured in docs/studies/fast-selection.md)"
            case .exact, .hybrid: return ""
            }
          }()
      ),
      ("thresholds", settings.thresholds.map { fmt($0, digits: 2) }.joined(separator: ", ")),
      (
        "subsets",
        "\(fmt(settings.fraction * 100))% of \(results.featureCount) pixels; random subsets seeded with \(settings.seed)"
      ),
      ("time", "\(fmt(seconds, digits: 0)) s of backward selection over \(costs.count) images"),
      ("machine", esc(machine)),
      (
        "versions",
        "overinterp \(esc(manifest.overinterpVersion)), libtorch \(esc(manifest.libtorchVersion)), device \(esc(manifest.device))"
      ),
    ]
    for (k, v) in rows { h += "<tr><th>\(k)</th><td style=\"text-align:left\">\(v)</td></tr>" }
    h += "</table>\n"

    h += "<h2>Confident predictions from sparse pixel subsets</h2>\n"
    h +=
      "<p>Accuracy and mean confidence of the model on the audited images, on their \(fmt(settings.fraction * 100))% backward-selection subsets (all other pixels at the dataset mean) and on random subsets of the same size. A model that overinterprets stays accurate and confident on the backward-selection subsets; the confidence drop is f(x) minus f(subset) for the class predicted on the full image (negative: more confident on the subset).</p>"
    h +=
      "<table><tr><th>evaluated on</th><th>images</th><th>accuracy</th><th>mean confidence</th><th>same prediction as on the full image</th><th>confidence drop (mean ± std)</th><th>most frequent prediction</th></tr>"
    for r in results.subsets.rows {
      let commonest = r.commonestClass.map { "\(esc($0)) (\(pct(r.commonestShare ?? 0)))" } ?? "–"
      h +=
        "<tr><td>\(esc(r.kind))</td><td>\(r.images)</td><td>\(pct(r.accuracy))</td><td>\(pct(r.meanConfidence))</td><td>\(pct(r.agreement))</td><td>\(fmt(r.confidenceDrop, digits: 3)) ± \(fmt(r.confidenceDropStd, digits: 3))</td><td>\(commonest)</td></tr>"
    }
    h += "</table>\n"
    if let random = results.subsets.rows.last, let name = random.commonestClass, let share = random.commonestShare, share >= 0.5 {
      h +=
        "<p>The random subsets collapse to one class: \(pct(share)) of them are predicted as \(esc(name)), so their accuracy is mostly the share of \(esc(name)) images among the audited ones.</p>\n"
    }

    h += "<h2>SIS size against threshold</h2>\n"
    h +=
      "<p>Mean size of the sufficient input subsets at each confidence threshold τ over the images with f(x) ≥ τ, with 95% t-intervals (the paper's Figure 6). Small SIS at high τ mean confident predictions from few pixels.</p>\n"
    h += charts.sisSize
    h +=
      "<table><tr><th>τ</th><th>images</th><th>mean SIS size</th><th>95% CI</th><th>empty SIS</th><th>mean without them</th><th>95% CI</th></tr>"
    for p in results.sisSize {
      h +=
        "<tr><td>\(fmt(p.threshold, digits: 2))</td><td>\(p.images)</td><td>\(num(p.mean))</td><td>\(num(p.interval?.lower)) – \(num(p.interval?.upper))</td>"
        + "<td>\(p.empty.map { String($0) } ?? "–")</td><td>\(num(p.meanNonEmpty))</td><td>\(num(p.intervalNonEmpty?.lower)) – \(num(p.intervalNonEmpty?.upper))</td></tr>"
    }
    h += "</table>\n"
    if let empty = results.sisSize.first(where: { ($0.empty ?? 0) > 0 }) {
      h +=
        "<p>An empty SIS means the fully masked image alone is predicted as the image's class with probability at least τ (at τ = \(fmt(empty.threshold, digits: 2)): \(empty.empty ?? 0) image(s)). They pull the means down and change the groups below; the columns without them, and the second table below, leave them out.</p>\n"
    }

    h += "<h2>Correctly against misclassified images</h2>\n"
    h +=
      "<p>Percentage increase of the mean SIS size of correctly classified images over misclassified ones at each threshold (the paper's Figure 5), with Fieller's 95% interval for the ratio of the two means (unbounded where the misclassified mean cannot be told apart from 0), the two-sided Mann-Whitney test of the sizes, and the two groups' mean confidence (Figure S3). Larger SIS for correct predictions mean the model needs more evidence when it is right. The thresholds test nested sets of the same images (an image with f(x) ≥ 0.99 is in every row), so the rows are not independent tests.</p>\n"
    h += charts.correctIncorrect + charts.confidence
    func groupTable(_ points: [CorrectIncorrectPoint]) -> String {
      var t =
        "<table><tr><th>τ</th><th>correct</th><th>misclassified</th><th>mean SIS (correct)</th><th>mean SIS (misclassified)</th><th>increase</th><th>95% CI (Fieller)</th><th>Mann-Whitney p</th><th>empty SIS (correct / misclassified)</th></tr>"
      for p in points {
        let ci =
          p.percentIncreaseUnbounded == true
          ? "unbounded" : "\(num(p.percentIncreaseInterval?.lower)) – \(num(p.percentIncreaseInterval?.upper))"
        t +=
          "<tr><td>\(fmt(p.threshold, digits: 2))</td><td>\(p.correct)</td><td>\(p.incorrect)</td><td>\(num(p.correctMeanSize))</td><td>\(num(p.incorrectMeanSize))</td><td>\(num(p.percentIncrease))%</td><td>\(ci)</td>"
          + "<td>\(p.mannWhitneyP.map { fmt($0, digits: 4) } ?? "–")</td><td>\(p.correctEmpty.map { String($0) } ?? "–") / \(p.incorrectEmpty.map { String($0) } ?? "–")</td></tr>"
      }
      return t + "</table>\n"
    }
    h += groupTable(results.correctIncorrect)
    let excluding = results.correctIncorrect.filter { ($0.percentIncreaseInterval?.lower ?? -1) > 0 }.map {
      fmt($0.threshold, digits: 2)
    }
    h +=
      "<p>The interval lies above 0 at \(excluding.isEmpty ? "no threshold" : "τ = " + excluding.joined(separator: ", ")).</p>\n"
    if let nonEmpty = results.correctIncorrectNonEmpty, results.sisSize.contains(where: { ($0.empty ?? 0) > 0 }) {
      h += "<p>The same without the images whose SIS is empty:</p>\n" + groupTable(nonEmpty)
    }

    h += "<h2>Where the pixels are</h2>\n"
    for (t, file) in [(results.heatmapSubsets, "heatmap-subsets.png"), (results.heatmapSIS, "heatmap-sis.png")] {
      h +=
        "<p>How often each pixel location is in the \(esc(t.what)) of the \(t.subsets) images (the paper's Figures 2 and 4; yellow: most often). \(esc(t.text)).</p>"
      // The colour bar's top is the largest frequency, which the colormap's top colour shows.
      let npy = resultsFolder + "/" + file.replacingOccurrences(of: ".png", with: ".npy")
      let top = (try? NpyArray.read(npy).values(as: Double.self).max()) ?? nil
      h += "<div class=\"heatmap\">" + png(file, alt: "pixel frequency of the \(t.what)")
      if let top { h += colorBarSVG(maximum: top) }
      h += "</div>\n"
    }

    h += "<h2>SIS gallery</h2>\n"
    let threshold = settings.thresholds.max() ?? 0.99
    h +=
      "<p>Up to two images per predicted class, drawn with the audit's seed: the image, its SIS at τ = \(fmt(threshold, digits: 2)) in red, and the image with everything outside the SIS masked (the paper's Figure 1).</p><div class=\"gallery\">"
    let files = ((try? FileManager.default.contentsOfDirectory(atPath: resultsFolder)) ?? []).filter { $0.hasPrefix("gallery-") }
      .sorted()
    for f in files { h += png(f, alt: f) }
    h += "</div>\n"
    let ensembleRows =
      files.isEmpty
      ? []
      : ((try? FileManager.default.contentsOfDirectory(atPath: resultsFolder)) ?? [])
        .filter { $0.hasPrefix("ensemble-") }.sorted()
    if !ensembleRows.isEmpty {
      h += "<h2>The ensemble against its members</h2>\n"
      h +=
        "<p>For the gallery images: the image, the ensemble's SIS at τ = \(fmt(threshold, digits: 2)), then each member's SIS for its own prediction, in the order of the models above (grey tile: no SIS at that threshold). The paper (Figure S2) found the ensemble's SIS larger and less sparse than its members'.</p><div class=\"gallery\">"
      for f in ensembleRows { h += png(f, alt: f) }
      h += "</div>\n"
    }
    h += "<p>Numbers: <code>results/results.json</code> and the CSV files beside it.</p>\n</body></html>\n"
    try writeFileAtomically(Array(h.utf8), to: reportPath)
    return reportPath
  }

  /// Now, UTC, to the second (the interim report's time).
  static func timestamp() -> String { ISO8601DateFormatter().string(from: Date()) }
}
