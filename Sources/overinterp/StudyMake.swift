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

    @Option(help: "Full images shown first as practice (not analysed; with --run).")
    var practice: Int = 0

    @Option(
      name: .customLong("catch"),
      help: "Full images mixed into each part as catch trials (an attention check, analysed on their own; with --run).")
    var attentionPerPart: Int = 0

    @Option(help: "Study folder to write.")
    var out: String

    func parsedFractions() -> [Double]? {
      let f = fractions.split(separator: ",").compactMap { Double($0) }
      return f.count == fractions.split(separator: ",").count && f.allSatisfy({ $0 > 0 && $0 <= 1 }) && !f.isEmpty ? f : nil
    }

    func validate() throws {
      if runs.isEmpty == (folder == nil) { throw ValidationError("give at least one --run, or a --folder of arrays (not both)") }
      if parsedFractions() == nil {
        throw ValidationError("--fractions must be comma-separated numbers in (0, 1], got '\(fractions)'")
      }
      if perClass < 1 { throw ValidationError("--per-class must be at least 1") }
      if practice < 0 || attentionPerPart < 0 { throw ValidationError("--practice and --catch must be 0 or more") }
      if folder != nil && (practice > 0 || attentionPerPart > 0) {
        throw ValidationError("--practice and --catch need --run (they draw further images from the run)")
      }
      if !(confidence >= 0 && confidence <= 1) { throw ValidationError("--confidence must be in [0, 1]") }
    }

    func run() throws {
      // Never overwrite a study: its images may have been shown and its answers database may
      // sit beside it.
      let existing = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
      guard existing.isEmpty else {
        throw ValidationFailure(
          "--out \(out) already exists and is not empty (\(existing.sorted().prefix(3).joined(separator: ", "))\(existing.count > 3 ? ", ..." : "")): choose a new folder, or delete it first"
        )
      }
      if let folder {
        let namesFile = folder + "/class_names.txt"
        let names =
          FileManager.default.fileExists(atPath: namesFile) ? try ModelLoader.classNames(parsing: namesFile) : CIFAR10.classNames
        let set = try StudySet.make(
          images: try NpyArray.read(folder + "/images.npy"), labels: try NpyArray.read(folder + "/labels.npy").integers(),
          masks: try NpyArray.read(folder + "/masks.npy"), fractions: parsedFractions() ?? [], classNames: names,
          maskColor: Normalization.cifar10.meanColor, source: folder, out: out)
        print(
          "\(out): \(set.images.count) images (\(set.images.count / max(set.fractions.count, 1)) images x \(set.fractions.count) fractions)"
        )
        return
      }
      var loaded: [(name: String, records: [ImageRecord], data: ImageDataset)] = []
      var maskColor = Normalization.cifar10.meanColor
      for r in runs {
        let store = RunStore(directory: r)
        let manifest = try store.readManifest()
        loaded.append((r, try store.records(), try manifest.loadData(embeddedSample: try? Resources.path("sample"))))
        maskColor = maskNormalization(manifest).meanColor
      }
      let set = try StudySet.make(
        runs: loaded, fractions: parsedFractions() ?? [], perClass: perClass, confidence: confidence, seed: seed,
        maskColor: maskColor, practice: practice, attentionPerPart: attentionPerPart,
        out: out)
      print(
        "\(out): \(set.images.count) images (\(set.images.count { $0.kind == nil } / max(set.fractions.count, 1)) test images x \(set.fractions.count) fractions"
          + (practice + attentionPerPart > 0
            ? ", \(set.images.count { $0.kind == .practice }) practice, \(set.images.count { $0.kind == .attention }) catch"
            : "") + ")"
      )
      print(
        "serve it with: overinterp study serve \(out)   (or analyse answers with: overinterp study report --study \(out) --db DB)"
      )
    }
  }
}
