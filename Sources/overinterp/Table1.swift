import Analysis
import ArgumentParser
import Base
import Datasets
import Models

struct Table1: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "table1",
    abstract:
      "Accuracy of groups of models on several datasets, mean ± std per group: the paper's Table 1 and its transfer matrix.",
    discussion: """
      Rows are model groups ("trained on"), columns datasets ("evaluated on"). Table 1: \
      --model full=r20-a.safetensors --model full=r20-b.safetensors --model bs=r20-bs.safetensors \
      --model random=r20-rand.safetensors --data full=HELDOUT --data bs=BS-SUBSETS --data random=RANDOM-SUBSETS. \
      Transfer: each model as its own group, each model's subsets as a column. Writes table.txt, \
      table.csv (one row per model and dataset) and table.json.
      """)

  @Option(name: .customLong("model"), help: "GROUP=FILE (repeat; `default` is the embedded model).")
  var models: [String] = []

  @Option(name: .customLong("data"), help: "LABEL=PATH (repeat; any --data path, e.g. a pixel-subset folder).")
  var data: [String] = []

  @Option(help: "CIFAR-10 binary folders: the split to read (the held-out images are clean).")
  var split: Split = .holdout

  @Flag(
    help:
      "Allow TorchScript model files (their normalization and input shape from the JSON beside them); loading one runs its code.")
  var trustCode = false

  @Option(help: "Output folder.")
  var out: String

  @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

  func validate() throws {
    if models.isEmpty || data.isEmpty { throw ValidationError("give at least one --model GROUP=FILE and one --data LABEL=PATH") }
    for m in models { _ = try labelledPath(m, flag: "--model") }
    for d in data { _ = try labelledPath(d, flag: "--data") }
  }

  func run() throws {
    try runtime.apply()
    let device = runtime.resolvedDevice
    let options = ModelFileOptions(trustCode: trustCode)
    let networks = try models.map { text -> (group: String, name: String, network: any Classifier) in
      let (group, path) = try labelledPath(text, flag: "--model")
      let file = path == "default" ? try Resources.path("default-model.safetensors") : path
      return (group, path, try ModelLoader.loadClassifier(file, options: options, device: device))
    }
    let datasets = try data.map { text -> (label: String, dataset: ImageDataset) in
      let (label, path) = try labelledPath(text, flag: "--data")
      return (label, try DataSource(path: path, split: split).load())
    }
    let matrix = try AccuracyMatrix(models: networks, data: datasets, device: device)
    try matrix.write(to: out)
    print(matrix.text, terminator: "")
    print("wrote \(out)/table.txt, table.csv, table.json")
  }
}
