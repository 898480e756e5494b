import ArgumentParser

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmarks that compare overinterp with PyTorch in Python on this machine.",
    subcommands: [BenchInference.self, BenchBackSelect.self, BenchTrain.self])
}
