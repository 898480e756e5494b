import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import SIS
import Study
import StudyServer
import Torch

extension StudyCommand {
  struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract:
        "Table 2 (accuracy per fraction, mean ± std over participants), per-class accuracy, R² of accuracy vs kept pixels, CSV, figure, contact sheets."
    )

    @Option(help: "The study folder.")
    var study: String

    @Option(help: "The answers database.")
    var db: String

    @Option(help: "Folder for report.txt, answers.csv, accuracy.svg and contact sheets.")
    var out: String

    @Flag(help: "Analyse only the participants who answered every image.")
    var completeOnly = false

    @Option(help: "With a database of several conditions (study serve S1 S2 ...): the condition of --study (0 = the first).")
    var condition: Int?

    @Option(help: "Leave out participants whose accuracy on the catch trials is below this (0-1).")
    var minCatchAccuracy: Double?

    func validate() throws {
      if let m = minCatchAccuracy, !(0...1).contains(m) { throw ValidationError("--min-catch-accuracy must be in [0, 1]") }
    }

    func run() throws {
      let set = try StudySet.load(study)
      guard FileManager.default.fileExists(atPath: db) else { throw FileFormatError(db, "no such database (--db)") }
      let store = try AnswerStore(path: db)
      // A database that recorded its study (every one `study serve` opened) must match it.
      if try store.studySHA256(condition: condition ?? 0) != nil {
        try store.bind(studySHA256: try SHA256.hex(file: study + "/study.json"), studyPath: study, condition: condition ?? 0)
      }
      let rows = try store.allAnswers(condition: condition)
      let foreign = StudyReport.foreignAnswers(rows, study: set)
      guard foreign.isEmpty else {
        let names = Set(foreign.map(\.image)).sorted().prefix(5).joined(separator: ", ")
        throw FileFormatError(
          db, "holds \(foreign.count) answer(s) to images that \(study) does not have (\(names)): answers to another study")
      }
      let report = StudyReport(study: set, answers: rows, completeOnly: completeOnly, minAttention: minCatchAccuracy)
      try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
      let text = report.text(classNames: set.classNames)
      try writeFileAtomically(Array(text.utf8), to: out + "/report.txt")
      let export = try StudyExport(study: set, store: store, condition: condition)
      try writeFileAtomically(Array(export.csv.utf8), to: out + "/answers.csv")
      try writeFileAtomically(Array(export.json.utf8), to: out + "/answers.json")
      try writeFileAtomically(Array(report.svg().utf8), to: out + "/accuracy.svg")
      for f in set.fractions {
        try contactSheet(set, folder: study, fraction: f, to: out + "/contact-sheet-\(Int((f * 100).rounded()))pct.png")
      }
      print(text, terminator: "")
      print("wrote \(out)/report.txt, answers.csv, answers.json, accuracy.svg and contact sheets")
    }
  }
}
