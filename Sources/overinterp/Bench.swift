import ArgumentParser
import Base
import Foundation
import Torch

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmarks that compare overinterp with PyTorch in Python on this machine.",
    subcommands: [BenchInference.self, BenchBackSelect.self, BenchGradient.self, BenchTrain.self])
}

/// Runs a Python baseline script and returns the JSON objects it printed, one per line (empty
/// when `python` is '' or the script fails, which is reported on stderr).
func runPythonBaseline(_ python: String, _ arguments: [String]) throws -> [[String: Any]] {
  guard !python.isEmpty else { return [] }
  let p = Process()
  p.executableURL = URL(fileURLWithPath: python)
  p.arguments = arguments
  let pipe = Pipe()
  p.standardOutput = pipe
  try p.run()
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  if p.terminationStatus != 0 { printError("python baseline \(arguments.first ?? "") failed (status \(p.terminationStatus))") }
  return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
  }
}

/// Options every benchmark shares: the thread count of both sides and the Python baseline.
struct BaselineOptions: ParsableArguments {
  @Option(help: "Threads for both sides (default: all cores).")
  var threads: Int?

  @Option(help: "Python interpreter with PyTorch for the baseline ('' to skip it).")
  var python: String = "/usr/bin/python3"

  var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }
}
