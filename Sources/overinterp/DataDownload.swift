import ArgumentParser
import Base
import Datasets
import Foundation
import Torch

extension DataCommand {
  struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Download an official dataset archive, verify its size and checksum, and unpack it.",
      discussion: "Needs curl and tar. An interrupted download resumes where it stopped.")

    @Argument(help: "Dataset: \(Downloads.catalog.keys.sorted().joined(separator: ", ")).")
    var dataset: String

    @Option(help: "Destination folder.")
    var out: String = "data"

    func validate() throws {
      if Downloads.catalog[dataset] == nil {
        throw ValidationError(
          "unknown dataset '\(dataset)'; choose one of \(Downloads.catalog.keys.sorted().joined(separator: ", "))")
      }
    }

    func run() throws {
      for entry in Downloads.catalog[dataset] ?? [] {
        try Downloads.fetch(entry, into: out) { printError($0) }
      }
      print("\(dataset) is in \(out)")
    }
  }
}
