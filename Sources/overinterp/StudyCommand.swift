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
}

/// The admin token from the flag, else from OVERINTERP_ADMIN_TOKEN (kept out of process lists).
func resolvedAdminToken(_ flag: String?) -> String? {
  flag ?? ProcessInfo.processInfo.environment["OVERINTERP_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
}
