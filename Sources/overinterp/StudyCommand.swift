import ArgumentParser
import Base
import Datasets
import Foundation
import Models
import SIS
import Study
import StudyServer
import Torch

struct StudyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "study",
    abstract: "The human classification study of the paper (section 3.4): make the image sets, analyse the answers.",
    subcommands: [Make.self, Serve.self, Report.self, LoadCheckCommand.self])

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
    var runs: [String] = []

    @Option(
      help: ArgumentHelp(
        "Instead of runs: a folder with images.npy (N,H,W,C uint8), labels.npy (N) and masks.npy (N,F,H,W; nonzero = kept, one mask per fraction), and optionally class_names.txt (one per line; default CIFAR-10's).",
        valueName: "dir"))
    var folder: String?

    @Option(help: "Comma-separated fractions of pixels kept.")
    var fractions: String = "0.05,0.3,0.5"

    @Option(help: "Images per class (with --run; --folder uses every image).")
    var perClass: Int = 10

    @Option(help: "Minimum confidence of the model on the full image (with --run).")
    var confidence: Double = 0.99

    @Option(help: "Seed of the image draw (with --run).")
    var seed: UInt64 = 0

    @Option(help: "Study folder to write.")
    var out: String

    func parsedFractions() -> [Double]? {
      let f = fractions.split(separator: ",").compactMap { Double($0) }
      return f.count == fractions.split(separator: ",").count && f.allSatisfy({ $0 > 0 && $0 <= 1 }) && !f.isEmpty ? f : nil
    }

    func validate() throws {
      if runs.isEmpty == (folder == nil) { throw ValidationError("give at least one --run, or a --folder of arrays (not both)") }
      if parsedFractions() == nil { throw ValidationError("--fractions must be comma-separated numbers in (0, 1], got '\(fractions)'") }
      if perClass < 1 { throw ValidationError("--per-class must be at least 1") }
      if !(confidence >= 0 && confidence <= 1) { throw ValidationError("--confidence must be in [0, 1]") }
    }

    func run() throws {
      if let folder {
        let namesFile = folder + "/class_names.txt"
        let names = FileManager.default.fileExists(atPath: namesFile) ? try ModelLoader.classNames(parsing: namesFile) : CIFAR10.classNames
        let set = try StudySet.make(
          images: try NpyArray.read(folder + "/images.npy"), labels: try NpyArray.read(folder + "/labels.npy").integers(),
          masks: try NpyArray.read(folder + "/masks.npy"), fractions: parsedFractions() ?? [], classNames: names,
          maskColor: Normalization.cifar10.meanColor, source: folder, out: out)
        print("\(out): \(set.images.count) images (\(set.images.count / max(set.fractions.count, 1)) images x \(set.fractions.count) fractions)")
        return
      }
      var loaded: [(name: String, records: [ImageRecord], data: ImageDataset)] = []
      var maskColor = Normalization.cifar10.meanColor
      for r in runs {
        let store = RunStore(directory: r)
        let manifest = try store.readManifest()
        loaded.append((r, try store.records(), try manifest.loadData(embeddedSample: try? Resources.path("sample"))))
        if let model = manifest.modelPaths.first,
          let n = ModelCheckpoint.recordedNormalization(model == "default" ? try Resources.path("default-model.safetensors") : model)
        {
          maskColor = n.meanColor
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

  struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Serve the study to participants over HTTP (the paper's human benchmark as a web app).",
      discussion: """
        Participants open http://HOST:PORT/ in a browser, get an anonymous participant code and \
        classify every image of the study: all images of the smallest fraction first, then the next \
        fraction, shuffled per participant. Each answer is stored in the SQLite database at once; a \
        participant who closes the tab continues where they stopped. Results: GET /admin/report and \
        /admin/answers.csv (with the admin token if one is set), or `overinterp study report`. \
        Listens on loopback by default: put a TLS reverse proxy in front to serve beyond this machine.
        """)

    @Argument(help: "The study folder (made by `overinterp study make`).")
    var study: String

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 8080

    @Option(help: "Answers database (SQLite, created if missing; default STUDY/answers.sqlite).")
    var db: String?

    @Option(
      help: ArgumentHelp(
        "Token required by /admin/report and /admin/answers.csv (default: the OVERINTERP_ADMIN_TOKEN environment variable; without one they are open).",
        valueName: "token"))
    var adminToken: String?

    func validate() throws {
      if !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535, got \(port)") }
      if let adminToken, adminToken.count < 8 { throw ValidationError("--admin-token must have at least 8 characters") }
    }

    func run() async throws {
      let database = db ?? study + "/answers.sqlite"
      let service = try StudyService(studyFolder: study, database: database)
      let token = resolvedAdminToken(adminToken)
      let images = service.study.images.count
      let host = self.host
      let app = StudyApp(service: service, adminToken: token).application(host: host, port: port) { bound in
        // Unbuffered, so that scripts waiting for this line (tests, the load check) see it at once.
        var line = "serving \(images) images to participants at http://\(host):\(bound)/ (answers in \(database))\n"
        if token == nil { line += "no admin token: /admin/report and /admin/answers.csv are open to anyone who can reach this port\n" }
        FileHandle.standardOutput.write(Data(line.utf8))
      }
      try await app.runService()
    }
  }

  struct LoadCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "load-check",
      abstract: "Simulated participants answer a running study server concurrently; checks that no answer is lost or duplicated.",
      discussion: """
        Each simulated participant starts, fetches its current image and answers it (a seeded \
        random class) until the study is done, then a new one starts, until --duration has passed. \
        Afterwards every acknowledged answer must be in /admin/answers.csv exactly once. Prints \
        response-time percentiles. Writes real answers: point it at a throwaway database.
        """)

    @Option(help: "The server's base URL.")
    var url: String = "http://127.0.0.1:8080/"

    @Option(help: "Concurrent simulated participants.")
    var participants: Int = 50

    @Option(help: "Seconds to run.")
    var duration: Double = 60

    @Option(help: "Seed of the simulated answers.")
    var seed: UInt64 = 0

    @Option(help: "The server's admin token, if it has one (default: OVERINTERP_ADMIN_TOKEN).")
    var adminToken: String?

    func validate() throws {
      if participants < 1 { throw ValidationError("--participants must be at least 1") }
      if !(duration > 0 && duration.isFinite) { throw ValidationError("--duration must be a positive number of seconds") }
      if URL(string: url)?.host == nil { throw ValidationError("--url must be an http URL such as http://127.0.0.1:8080/, got '\(url)'") }
    }

    func run() async throws {
      guard let base = URL(string: url) else { return }
      let token = resolvedAdminToken(adminToken)
      let check = LoadCheck(participants: participants, duration: duration, seed: seed, adminToken: token)
      let result = try await check.run(client: StudyClient(base: base, maxConnections: participants + 1))
      print(result)
      if result.lost > 0 || result.duplicated > 0 || result.unexpected > 0 { throw ExitCode(1) }
    }
  }
}

/// The admin token from the flag, else from OVERINTERP_ADMIN_TOKEN (kept out of process lists).
func resolvedAdminToken(_ flag: String?) -> String? {
  flag ?? ProcessInfo.processInfo.environment["OVERINTERP_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
}
