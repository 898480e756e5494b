import Analysis
import ArgumentParser
import Audit
import Base
import Corruptions
import Datasets
import Foundation
import Models
import SIS
import Torch

struct AuditCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit",
    abstract:
      "Audit a classifier for overinterpretation: from a model and images to report.html (SIS, sparse subsets, heatmaps, galleries).",
    discussion: """
      Stages, each written into --out and skipped when done, so running the same command again \
      continues where it stopped: select the images predicted with confidence >= --min-confidence \
      (default: the lowest threshold) and a seeded --sample of them; backward selection \
      (--method; resumable, --shard i/n for several machines); the analyses (results/: SIS size \
      against threshold with 95% CIs, correctly against misclassified images, accuracy and \
      confidence on full images and on k% backward-selection and random subsets, heatmaps, a \
      gallery; JSON, CSV, SVG, PNG); and report.html, one self-contained page. The default method \
      is fast BackSelect (docs/SIS.md): exact-like SIS at about 3 s per CIFAR-10 image on a 2-core \
      machine in float32 (about 1 s with --precision bf16 on CPUs with AMX or AVX-512 BF16); \
      --method gradient (a quarter of a second per image, SIS several times larger than exact ones), \
      hybrid (half a minute or more) and exact (4-8 minutes) are the alternatives.
      """)

  @OptionGroup(title: "Model") var model: ModelOptions
  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  @Option(help: "Audit folder.")
  var out: String = "audit"

  @Option(
    help:
      "Audit the paper's random sample of CIFAR-10-C from this folder (its sample files, or a complete folder of corruption files) instead of --data."
  )
  var cifar10c: String?

  @Option(help: "With --cifar10c: the sample's size (the paper: 2000).")
  var cifar10cSample: Int = 2000

  @Option(help: "With --cifar10c: the sample's seed (the paper: 1234).")
  var cifar10cSeed: UInt32 = 1234

  @Option(help: "Comma-separated confidence thresholds τ in [0, 1] for the SIS analyses.")
  var thresholds = Thresholds([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])

  @Option(help: "Audit images predicted with at least this confidence (default: the lowest threshold).")
  var minConfidence: Double?

  @Flag(help: "Only images that are also classified correctly (leaves the correct-vs-misclassified analysis empty).")
  var correctOnly = false

  @Option(help: "A seeded random sample of this many of the selected images (default: all).")
  var sample: Int?

  @Option(help: "Seed of the sample, the random subsets and the gallery.")
  var seed: UInt64 = 0

  @Option(help: "Fraction of pixels in the backward-selection and random subsets.")
  var fraction: Double = 0.05

  @OptionGroup(title: "Selection method") var methodOptions: MethodOptions

  /// The audit's method when --method is not given.
  static let defaultMethod = SelectionMethod.fast

  @Option(
    help:
      "Run the backward-selection groups g with g % n == i: i/n, or auto (from the Slurm job array; the default inside one); the analyses and report wait until the run is complete."
  )
  var shard: ShardFlag?

  @Option(
    help: ArgumentHelp(
      "Copy the backward selection of the images that this finished audit or run folder already selected with the same model, data and method, instead of selecting them again (repeatable).",
      valueName: "folder"))
  var reuse: [String] = []

  @Flag(help: "Print the selection, the cost in model passes and the estimated time, and stop.")
  var plan = false

  @Flag(
    help:
      "Write an interim report of the images that have finished backward selection so far (interim/report.html) and stop; runs no backward selection, so it can be used beside a running audit or its shards."
  )
  var interim = false

  func validate() throws {
    if let minConfidence, !(minConfidence >= 0 && minConfidence <= 1) {
      throw ValidationError("--min-confidence must be in [0, 1], got \(minConfidence)")
    }
    if let sample, sample < 1 { throw ValidationError("--sample must be at least 1, got \(sample)") }
    if cifar10c != nil, dataOptions.data != nil { throw ValidationError("give --data or --cifar10c, not both") }
    if cifar10cSample < 1 { throw ValidationError("--cifar10c-sample must be at least 1, got \(cifar10cSample)") }
  }

  /// The images: --data, or the paper's CIFAR-10-C sample, which is kept in the audit folder
  /// (`cifar10c-sample.npy` and its labels) so that the run can load its images again.
  func loadData(classifier: any Classifier) throws -> ImageDataset {
    guard let cifar10c else { return try dataOptions.load(for: classifier.info) }
    return try CorruptedSample.load(folder: cifar10c, count: cifar10cSample, seed: cifar10cSeed)
  }

  /// The data as audit.json names it.
  var recordedDataPath: String {
    if let cifar10c { return "cifar10c \(absolutePath(cifar10c)), sample \(cifar10cSample), seed \(cifar10cSeed)" }
    return dataOptions.data.map(absolutePath) ?? DataRecord.embeddedSamplePath
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let grid = thresholds.values
    let networks = try model.loadClassifiers(device: device)
    let classifier: any Classifier = networks.count == 1 ? networks[0] : try Ensemble(networks)
    let files = try model.files()
    let selectionSettings = methodOptions.settings(defaultMethod: Self.defaultMethod, defaultGroup: 32, device: device)
    let method = selectionSettings.method
    let settings = AuditSettings(
      modelPaths: files.map(\.recordedPath), modelSHA256: try files.map { try SHA256.hex(file: $0.file) },
      dataPath: recordedDataPath, dataSplit: dataOptions.split.rawValue,
      dataHoldout: dataOptions.holdout, dataLabels: dataOptions.labels.map(absolutePath), minConfidence: minConfidence ?? grid[0],
      correctOnly: correctOnly, sample: sample, seed: seed, method: method.rawValue, score: selectionSettings.score.rawValue,
      k: selectionSettings.k, thresholds: grid, fraction: fraction, selection: selectionSettings)
    let audit = try Audit(folder: out, settings: settings, selection: selectionSettings)
    let data = try loadData(classifier: classifier)
    try audit.prepare()
    let dataRecord = cifar10c == nil ? dataOptions.record(data) : try audit.keep(sample: data, as: "cifar10c-sample")

    let selection = try audit.select(classifier: classifier, data: data, device: device)
    // A shard (several machines or a Slurm array) writes into shards/; whoever finds every shard
    // complete merges them into run/ and goes on with the analyses.
    let shardSetting = try resolveShard(shard)
    guard !selection.positions.isEmpty else {
      throw ValidationFailure("no image is predicted with confidence >= \(settings.minConfidence); lower --min-confidence")
    }
    var job = try BackSelectJob(
      classifier: classifier, models: files, data: data, dataRecord: dataRecord, positions: selection.positions,
      selection: selection.description, layout: .pixels(data.imageShape), maskValue: .mean, settings: selectionSettings,
      shard: shardSetting, device: device, out: audit.selectionFolder(for: shardSetting),
      version: Overinterp.configuration.version, foldBatchNorm: methodOptions.foldBatchNorm)
    // A resumed audit: the plan is for the images still to do (over every shard), at the finished
    // images' pace; a new hybrid audit measures its exact phase on a pilot.
    for line in try job.reuse(reuse) { printError("audit: " + line) }
    let finished = (try? audit.finishedPositions()) ?? []
    let done = finished.count
    // Reused images of every shard, not only this one's, are left out of the plan.
    let reusedLeft = job.reusedPositions.subtracting(finished).count
    let cost = try job.costPlan(
      images: Swift.max(selection.positions.count - done - reusedLeft, 0),
      finished: (try? audit.finishedCosts()) ?? [], pilot: !interim)
    printError(
      "audit: \(selection.description); " + (done > 0 ? "\(done) of \(selection.positions.count) image(s) done; " : "")
        + cost.text)
    if plan { return }
    let members = networks.count > 1 ? Array(zip(files, networks)).map { (file: $0.0, network: $0.1) } : []
    if interim {
      try writeInterim(
        audit.interimSnapshot(), selected: selection.positions.count, classifier: classifier, data: data, members: members)
      return
    }

    guard try audit.backSelect(job, shard: shardSetting, cost: cost, selected: selection.positions.count) else {
      print("\(out): this shard's backward selection is done; the analyses run once every shard is (run this command again then)")
      return
    }
    let results =
      try audit.finishedResults() ?? audit.analyse(classifier: classifier, data: data, device: device, members: members)
    let report = try audit.writeReport(machine: machineDescription())
    printSummary(results, report: report)
  }

  /// `--interim`: the analyses and report of the images finished so far, in `interim/`.
  func writeInterim(
    _ audit: Audit, selected: Int, classifier: any Classifier, data: ImageDataset,
    members: [(file: ModelFile, network: any Classifier)]
  ) throws {
    let finished: Int
    do {
      finished = try audit.finishedPositions().count
    } catch {
      throw ValidationFailure("\(out): backward selection has not started yet (\(error)); nothing to report")
    }
    guard finished > 0 else { throw ValidationFailure("\(out): no image has finished backward selection yet; nothing to report") }
    print(
      "interim: \(finished) of \(selected) image(s) finished"
        + (finished == selected ? " (all: run the command without --interim for the final report)" : ""))
    let results = try audit.analyse(classifier: classifier, data: data, device: runtime.resolvedDevice, members: members)
    printSummary(results, report: try audit.writeReport(machine: machineDescription()))
  }

  func printSummary(_ results: AuditResults, report: String) {
    for row in results.subsets.rows {
      print(
        "\(pad(row.kind, 26)) accuracy \(pct(row.accuracy)), mean confidence \(pct(row.meanConfidence)), confidence drop \(fmt(row.confidenceDrop, digits: 3)) ± \(fmt(row.confidenceDropStd, digits: 3))"
      )
    }
    if let top = results.sisSize.last, let size = top.mean {
      print(
        "SIS at τ = \(top.threshold): \(top.images) image(s), mean size \(fmt(size, digits: 1)) pixels of \(results.featureCount)"
      )
    }
    print("report: \(report)")
  }
}
