import ArgumentParser
import Base
import Datasets
import Foundation
import Torch

struct DataCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data", abstract: "Fetch and generate datasets.", subcommands: [Download.self, DataCorrupt.self])
}
