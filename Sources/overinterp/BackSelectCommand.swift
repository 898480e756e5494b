import ArgumentParser
import Audit
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

struct BackSelectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "backselect",
    abstract: "Exact backward selection (the SIS BackSelect procedure) for many images, stored resumably.",
    discussion: """
      For each selected image, f is the classifier's probability of the class it predicts on the \
      full image. BackSelect masks features one at a time, always the one whose masking leaves \
      the highest score (ties: lowest index), until all are masked, and stores the whole removal \
      order with the probability after each removal. SIS at any threshold and the paper's \
      k% pixel subsets are then derived from the store by `overinterp sis` without recomputation. \
      Masked features take the value 0 after normalization (the dataset mean). \
      One exact BackSelect of a 32x32 image costs up to 524,801 forward passes; steps where the \
      score sits at its ceiling (a saturated softmax under --score prob) stop after the first \
      two candidates that reach it, with the same outcome.
      """)

  @OptionGroup(title: "Model") var model: ModelOptions
  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Image selection") var selection: SelectionOptions
  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  @Option(help: "Run folder for the manifest and shards.")
  var out: String

  @Flag(help: "Continue the run in --out.")
  var resume = false

  @Option(help: "Process the lockstep groups g with g % n == i: i/n, or auto (from the Slurm job array; the default inside one).")
  var shard: ShardFlag?

  @Option(help: "Features: pixel (all channels of a pixel; the paper's), value, row, column, channel, patchK.")
  var features: String = "pixel"

  @Option(
    help:
      "Masked value: zero (the dataset mean after normalization), or an .npy of one uint8 image (H, W, C) normalized like the inputs."
  )
  var maskValue: String = "zero"

  @OptionGroup(title: "Selection method") var methodOptions: MethodOptions

  @Option(
    help: ArgumentHelp(
      "Copy the records of the images that this run (or audit) folder already selected with the same model, data, features, mask and method, instead of selecting them again (repeatable).",
      valueName: "folder"))
  var reuse: [String] = []

  func validate() throws {
    try selection.requireOne()
    if let tasks, tasks < 1 { throw ValidationError("--tasks must be at least 1, got \(tasks)") }
  }

  @Flag(
    help:
      "With --method fast: also evaluate every candidate at each screened step and record in timings.jsonl how often the screened pick was the full step's best (a study: same results, exact-phase cost of the hybrid)."
  )
  var screenCheck = false

  @Flag(help: "Print the cost (model passes, the throughput measured here, the estimated time on --tasks tasks) and stop.")
  var plan = false

  @Option(help: "With --plan: tasks (machines or array tasks) the estimate divides the time by (default: the shard count).")
  var tasks: Int?

  /// The method and its parameters as the flags give them: with `device`, the precisions that run
  /// there; without (`--plan`), as asked.
  func settings(on device: Device? = nil) -> SelectionSettings {
    guard let device else {
      return methodOptions.settings(defaultMethod: .exact, defaultGroup: 4, precision: methodOptions.precision)
    }
    return methodOptions.settings(defaultMethod: .exact, defaultGroup: 4, device: device)
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let classifier = try model.load(device: device)
    let data = try dataOptions.load(for: classifier.info)
    let layout: FeatureLayout
    let mask: MaskValue
    do { layout = try FeatureLayout(parsing: features, inputShape: data.imageShape) } catch {
      throw ValidationFailure("--features: \(error)")
    }
    do {
      mask = try MaskValue(parsing: maskValue, inputShape: data.imageShape, normalization: classifier.info.normalization)
    } catch { throw ValidationFailure("--mask-value: \(error)") }
    let (positions, description) = try selection.select(data, classifier: classifier, device: device)
    var job = try BackSelectJob(
      classifier: classifier, models: try model.files(), data: data, dataRecord: dataOptions.record(data), positions: positions,
      selection: description, layout: layout, maskValue: mask,
      settings: settings(on: plan ? nil : device),
      shard: try resolveShard(shard),
      device: device, out: out, version: Overinterp.configuration.version, screenCheck: screenCheck,
      foldBatchNorm: methodOptions.foldBatchNorm)
    for line in try job.reuse(reuse) { printError("backselect: " + line) }
    if !plan { try job.prepare(resume: resume) }
    if plan {
      print(try job.costPlan(tasks: tasks ?? job.manifest.shard.count).text)
      return
    }
    let imageCount = job.pendingImages
    let copied = job.reusedPendingImages
    printError(
      "backselect: \(imageCount) image(s) to do in \(job.pendingGroups) group(s) of \(positions.count) selected (\(description))"
        + (copied > 0 ? ", \(copied) of them copied from --reuse" : "") + "; data: \(data.description)"
    )
    // Progress in candidates: the hybrid's and fast method's per image depend on where their
    // gradient phase ends, which the plan measures on a pilot.
    let hasPilot = [.hybrid, .fast].contains(job.manifest.settings.method) && imageCount > copied
    try job.runShowingProgress(label: "backselect", cost: hasPilot ? try job.costPlan() : nil)
    print(try job.summary())
    print("next: overinterp sis --run \(out) --threshold 0.99")
  }
}
