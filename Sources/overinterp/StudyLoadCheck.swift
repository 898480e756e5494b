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

        A request that fails or gets no answer within --timeout seconds stops the check with an \
        error (within --duration plus --timeout). --acknowledged FILE writes the answers the server \
        acknowledged (also when stopped), and --verify FILE later checks them against the export \
        of the restarted server, without sending answers: the test that a killed server lost none.
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

    @Option(help: "Seconds a request may take before the check stops with an error.")
    var timeout: Double = 10

    @Option(help: "Write the acknowledged answers (participant,image) to this CSV file, also when the check stops early.")
    var acknowledged: String?

    @Option(help: "Only check that the answers in this CSV file (from --acknowledged) are in the server's export.")
    var verify: String?

    func validate() throws {
      if participants < 1 { throw ValidationError("--participants must be at least 1") }
      if !(duration > 0 && duration.isFinite) { throw ValidationError("--duration must be a positive number of seconds") }
      if !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a positive number of seconds") }
      if URL(string: url)?.host == nil {
        throw ValidationError("--url must be an http URL such as http://127.0.0.1:8080/, got '\(url)'")
      }
    }

    func run() async throws {
      guard let base = URL(string: url) else { return }
      let token = resolvedAdminToken(adminToken)
      let client = StudyClient(base: base, maxConnections: participants + 1, timeout: timeout)
      if let verify {
        let expected = LoadCheck.parseAcknowledged(String(decoding: try readFile(verify), as: UTF8.self))
        let check = LoadCheck.compare(
          acknowledged: expected, export: try await LoadCheck.export(client: client, adminToken: token))
        let count = expected.values.reduce(0) { $0 + $1.count }
        print("\(count) acknowledged answer(s) from \(verify): lost \(check.lost), duplicated \(check.duplicated)")
        if check.lost > 0 || check.duplicated > 0 { throw ExitCode(1) }
        return
      }
      let check = LoadCheck(participants: participants, duration: duration, seed: seed, adminToken: token)
      do {
        let result = try await check.run(client: client)
        try saveAcknowledged(result.acknowledgedAnswers)
        print(result)
        if result.lost > 0 || result.duplicated > 0 || result.unexpected > 0 { throw ExitCode(1) }
      } catch let stopped as LoadCheck.Interrupted {
        try saveAcknowledged(stopped.acknowledged)
        throw ValidationFailure(
          "\(stopped)"
            + (acknowledged.map { "; they are in \($0): check them with --verify \($0) once the server is back" } ?? ""))
      }
    }

    func saveAcknowledged(_ answers: [String: Set<String>]) throws {
      guard let acknowledged else { return }
      try writeFileAtomically(Array(LoadCheck.csv(answers).utf8), to: acknowledged)
    }
  }
}
