import Analysis
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Stage 3's tables and charts: CSV files and SVG line charts of the results.
extension Audit {
  static func curveCSV(_ c: [SISSizePoint]) -> String {
    func v(_ x: Double?) -> String { x.map { String($0) } ?? "" }
    return
      "threshold,images,mean_sis_size,ci95_lower,ci95_upper,empty_sis,mean_nonempty_sis_size,nonempty_ci95_lower,nonempty_ci95_upper\n"
      + c.map {
        "\($0.threshold),\($0.images),\(v($0.mean)),\(v($0.interval?.lower)),\(v($0.interval?.upper)),\($0.empty.map { String($0) } ?? ""),"
          + "\(v($0.meanNonEmpty)),\(v($0.intervalNonEmpty?.lower)),\(v($0.intervalNonEmpty?.upper))"
      }.joined(separator: "\n")
      + "\n"
  }

  static func groupCSV(_ g: [CorrectIncorrectPoint]) -> String {
    func v(_ x: Double?) -> String { x.map { String($0) } ?? "" }
    return
      "threshold,correct,incorrect,correct_mean_size,incorrect_mean_size,percent_increase,percent_increase_fieller_ci95_lower,percent_increase_fieller_ci95_upper,fieller_unbounded,mann_whitney_p,correct_empty_sis,incorrect_empty_sis,correct_confidence,incorrect_confidence\n"
      + g.map {
        "\($0.threshold),\($0.correct),\($0.incorrect),\(v($0.correctMeanSize)),\(v($0.incorrectMeanSize)),\(v($0.percentIncrease)),"
          + "\(v($0.percentIncreaseInterval?.lower)),\(v($0.percentIncreaseInterval?.upper)),"
          + "\($0.percentIncreaseUnbounded.map { $0 ? "1" : "0" } ?? ""),\(v($0.mannWhitneyP)),"
          + "\($0.correctEmpty.map { String($0) } ?? ""),\($0.incorrectEmpty.map { String($0) } ?? ""),"
          + "\(v($0.correctConfidence?.estimate)),\(v($0.incorrectConfidence?.estimate))"
      }.joined(separator: "\n") + "\n"
  }

  /// Figure 6: mean SIS size against threshold with 95% intervals, a series per named result.
  static func sisSizeChart(_ series: [(name: String, results: AuditResults)]) -> LineChart {
    LineChart(
      title: "SIS size against threshold (Figure 6 form)", xLabel: "threshold τ", yLabel: "mean SIS size (pixels), 95% CI",
      series: series.map { name, r in
        .init(
          name: name,
          points: r.sisSize.compactMap { p in
            p.mean.map { .init(x: p.threshold, y: $0, lower: p.interval?.lower, upper: p.interval?.upper) }
          })
      })
  }

  /// Figure 5: percentage increase of mean SIS size of correctly over misclassified images with
  /// 95% intervals, a series per named result, against a reference line at 0.
  static func correctIncorrectChart(_ series: [(name: String, results: AuditResults)]) -> LineChart {
    LineChart(
      title: "SIS of correctly over misclassified images (Figure 5 form)", xLabel: "threshold τ",
      yLabel: "% increase of mean SIS size, 95% CI",
      series: series.map { name, r in
        .init(
          name: name,
          points: r.correctIncorrect.compactMap { p in
            p.percentIncrease.map {
              .init(x: p.threshold, y: $0, lower: p.percentIncreaseInterval?.lower, upper: p.percentIncreaseInterval?.upper)
            }
          })
      }, reference: 0)
  }

  /// The three figures as SVG.
  public func charts(_ r: AuditResults) -> (sisSize: String, correctIncorrect: String, confidence: String) {
    let label =
      settings.modelPaths.count > 1 ? "ensemble of \(settings.modelPaths.count)" : (settings.modelPaths.first ?? "model")
    var sis = Self.sisSizeChart([
      (
        "\(label), accuracy \(fmt(r.subsets.rows.first.map { $0.accuracy * 100 } ?? 0, digits: 1))% on the audited images", r
      )
    ])
    var groups = Self.correctIncorrectChart([(label, r)])
    // Images with an empty SIS (the masked image alone keeps the class) pull the means down: the
    // same curves without them, where there are any.
    if r.sisSize.contains(where: { ($0.empty ?? 0) > 0 }) {
      sis.series.append(
        .init(
          name: "without the images whose SIS is empty",
          points: r.sisSize.compactMap { p in
            p.meanNonEmpty.map {
              .init(x: p.threshold, y: $0, lower: p.intervalNonEmpty?.lower, upper: p.intervalNonEmpty?.upper)
            }
          }))
      if let nonEmpty = r.correctIncorrectNonEmpty {
        var without = r
        without.correctIncorrect = nonEmpty
        groups.series += Self.correctIncorrectChart([("without the images whose SIS is empty", without)]).series
      }
    }
    let confidence = LineChart(
      title: "Confidence of correctly and misclassified images (Figure S3 form)", xLabel: "threshold τ",
      yLabel: "mean confidence f(x), 95% CI",
      series: [
        .init(
          name: "correctly classified",
          points: r.correctIncorrect.compactMap { p in
            p.correctConfidence.map {
              .init(x: p.threshold, y: $0.estimate, lower: $0.lower, upper: $0.upper)
            }
          }),
        .init(
          name: "misclassified",
          points: r.correctIncorrect.compactMap { p in
            p.incorrectConfidence.map {
              .init(x: p.threshold, y: $0.estimate, lower: $0.lower, upper: $0.upper)
            }
          }),
      ])
    return (sis.svg, groups.svg, confidence.svg)
  }
}
