import ArgumentParser
import Datasets
import Foundation
import SIS
import Study
import Torch

struct StudyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "study",
    abstract: "The human classification study of the paper (section 3.4): make the image sets, analyse the answers.",
    subcommands: [Make.self, Report.self])

  struct Make: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Pick test images from backselect runs and write them at each fraction of kept pixels.",
      discussion: """
        As the paper: images the run's model classified correctly with confidence >= --confidence, \
        --per-class per class, spread over the given runs (models); each image is written at every \
        fraction with the last fraction of its backward-selection order kept and the other pixels \
        at the dataset mean (the mask value).
        """)

    @Option(name: .customLong("run"), help: "Backselect run folders (repeat for several models).")
    var runs: [String]

    @Option(help: "Comma-separated fractions of pixels kept.")
    var fractions: String = "0.05,0.3,0.5"

    @Option(help: "Images per class.")
    var perClass: Int = 10

    @Option(help: "Minimum confidence of the model on the full image.")
    var confidence: Double = 0.99

    @Option(help: "Seed of the image draw.")
    var seed: UInt64 = 0

    @Option(help: "Study folder to write.")
    var out: String

    func parsedFractions() -> [Double]? {
      let f = fractions.split(separator: ",").compactMap { Double($0) }
      return f.count == fractions.split(separator: ",").count && f.allSatisfy({ $0 > 0 && $0 <= 1 }) && !f.isEmpty ? f : nil
    }

    func validate() throws {
      if runs.isEmpty { throw ValidationError("give at least one --run") }
      if parsedFractions() == nil { throw ValidationError("--fractions must be comma-separated numbers in (0, 1], got '\(fractions)'") }
      if perClass < 1 { throw ValidationError("--per-class must be at least 1") }
      if !(confidence >= 0 && confidence <= 1) { throw ValidationError("--confidence must be in [0, 1]") }
    }

    func run() throws {
      var loaded: [(name: String, records: [ImageRecord], data: ImageDataset)] = []
      var maskColor: [UInt8] = [125, 123, 114]
      for r in runs {
        let store = RunStore(directory: r)
        let manifest = try store.readManifest()
        loaded.append((r, try store.records(), try loadRunData(manifest)))
        if let model = manifest.modelPaths.first {
          let path = model == "default" ? try Resources.path("default-model.safetensors") : model
          if let text = try? Safetensors.read(path).metadata["normalization"], let n = Normalization(parsing: text) {
            maskColor = n.mean.map { UInt8(($0 * 255).rounded()) }
          }
        }
      }
      let set = try StudySet.make(
        runs: loaded, fractions: parsedFractions() ?? [], perClass: perClass, confidence: confidence, seed: seed, maskColor: maskColor,
        out: out)
      print("\(out): \(set.images.count) images (\(set.images.count / max(set.fractions.count, 1)) test images x \(set.fractions.count) fractions)")
      print("serve it with: overinterp study serve \(out)   (or analyse answers with: overinterp study report --study \(out) --db DB)")
    }
  }

  struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Table 2 (accuracy per fraction, mean ± std over participants), per-class accuracy, R² of accuracy vs kept pixels, CSV, figure, contact sheets.")

    @Option(help: "The study folder.")
    var study: String

    @Option(help: "The answers database.")
    var db: String

    @Option(help: "Folder for report.txt, answers.csv, accuracy.svg and contact sheets.")
    var out: String

    func run() throws {
      let set = try StudySet.load(study)
      guard FileManager.default.fileExists(atPath: db) else { throw FileFormatError(db, "no such database (--db)") }
      let rows = try AnswerStore(path: db).allAnswers()
      let report = StudyReport(study: set, answers: rows)
      try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
      let text = report.text(classNames: set.classNames)
      try writeFileAtomically(Array(text.utf8), to: out + "/report.txt")
      try writeFileAtomically(Array(answersCSV(rows).utf8), to: out + "/answers.csv")
      try writeFileAtomically(Array(report.svg().utf8), to: out + "/accuracy.svg")
      for f in set.fractions {
        try contactSheet(set, folder: study, fraction: f, to: out + "/contact-sheet-\(Int((f * 100).rounded()))pct.png")
      }
      print(text, terminator: "")
      print("wrote \(out)/report.txt, answers.csv, accuracy.svg and contact sheets")
    }
  }
}
