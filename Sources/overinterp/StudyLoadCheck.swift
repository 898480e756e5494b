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
      if URL(string: url)?.host == nil {
        throw ValidationError("--url must be an http URL such as http://127.0.0.1:8080/, got '\(url)'")
      }
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
