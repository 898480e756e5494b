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
  struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Serve the study to participants over HTTP (the paper's human benchmark as a web app).",
      discussion: """
        Participants open http://HOST:PORT/ in a browser, get an anonymous participant code and \
        classify every image of the study: all images of the smallest fraction first, then the next \
        fraction, shuffled per participant. Each answer is stored in the SQLite database at once; a \
        participant who closes the tab continues where they stopped. Results: GET /admin/report and \
        /admin/answers.csv (with the admin token if one is set), or `overinterp study report`. \
        Several study folders are conditions: each new participant is assigned to the one with the \
        fewest participants (ties at random) and stays in it; the exports record the condition. \
        Listens on loopback by default: put a TLS reverse proxy in front to serve beyond this machine.
        """)

    @Argument(help: "The study folder (made by `overinterp study make`); several: one per condition (same classes and parts).")
    var studies: [String]

    var study: String { studies[0] }

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 8080

    @Option(help: "Answers database (SQLite, created if missing; default STUDY/answers.sqlite).")
    var db: String?

    @Option(
      help: ArgumentHelp(
        "Token required by /admin/report and /admin/answers.csv (default: the OVERINTERP_ADMIN_TOKEN environment variable; without one they are open).",
        valueName: "token"))
    var adminToken: String?

    @Option(
      help: ArgumentHelp(
        "Give the participant cookie the Secure attribute (HTTPS only): on by default when --host is not a loopback address, since participants elsewhere reach the study through a TLS proxy.",
        valueName: "on|off"))
    var secureCookie: Toggle?

    enum Toggle: String, ExpressibleByArgument { case on, off }

    @Option(
      help:
        "New participants one client address may start per minute (then 429 with Retry-After); 0: no limit. Raise it when many participants share an address (a classroom behind NAT, or a reverse proxy)."
    )
    var participantsPerMinute: Int = 30

    @Option(help: "Seconds a connection may stay silent, idle or in the middle of a request, before it is closed.")
    var idleTimeout: Double = 30

    @Option(help: "A completion code shown to participants who answered every image (for crowdsourcing platforms).")
    var completionCode: String?

    /// Loopback addresses (the default host) serve this machine only, over plain HTTP.
    var isLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }

    func validate() throws {
      if !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535, got \(port)") }
      if participantsPerMinute < 0 { throw ValidationError("--participants-per-minute must be 0 (no limit) or more") }
      if !(idleTimeout > 0 && idleTimeout.isFinite) {
        throw ValidationError("--idle-timeout must be a positive number of seconds")
      }
      if let adminToken, adminToken.count < 8 { throw ValidationError("--admin-token must have at least 8 characters") }
      if adminToken == nil, let token = resolvedAdminToken(nil), token.count < 8 {
        throw ValidationError("OVERINTERP_ADMIN_TOKEN must have at least 8 characters, like --admin-token")
      }
    }

    func run() async throws {
      let database = db ?? study + "/answers.sqlite"
      let services = try studies.enumerated().map { try StudyService(studyFolder: $1, database: database, condition: $0) }
      for s in services.dropFirst()
      where s.study.classNames != services[0].study.classNames || s.study.fractions.count != services[0].study.fractions.count {
        throw ValidationFailure(
          "\(s.folder) has other classes or another number of parts than \(study): conditions must share them")
      }
      let token = resolvedAdminToken(adminToken)
      let images = services.map { $0.study.images.count }.reduce(0, +)
      let host = self.host
      let secure = secureCookie.map { $0 == .on } ?? !isLoopback
      // The host's information and consent text, if the study folder has one.
      let consent = FileManager.default.contents(atPath: study + "/consent.html").map { String(decoding: $0, as: UTF8.self) }
      let app = StudyApp(
        services: services, adminToken: token, secureCookie: secure, participantsPerMinute: participantsPerMinute,
        idleTimeout: idleTimeout, consentHTML: consent, completionCode: completionCode
      ).application(host: host, port: port) { bound in
        // Unbuffered, so that scripts waiting for this line (tests, the load check) see it at once.
        var line =
          "serving \(images) images\(services.count > 1 ? " in \(services.count) conditions" : "") to participants at http://\(host):\(bound)/ (answers in \(database))\n"
        if !secure && !isLoopback {
          line += "the participant cookie is not Secure (--secure-cookie off): serve this only over HTTPS or a trusted network\n"
        }
        if token == nil {
          line += "no admin token: /admin/report and /admin/answers.csv are open to anyone who can reach this port\n"
        }
        FileHandle.standardOutput.write(Data(line.utf8))
      }
      try await app.runService()
    }
  }
}
