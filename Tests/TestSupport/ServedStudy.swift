import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The built `overinterp` binary: next to the test bundle (`swift test`), else `.build/debug`.
public let overinterpBinary: String = {
  let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for candidate in [dir, dir.deletingLastPathComponent()] {
    let p = candidate.appendingPathComponent("overinterp").path
    if FileManager.default.isExecutableFile(atPath: p) { return p }
  }
  return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug/overinterp")
    .standardized.path
}()

/// `overinterp study serve` running in its own process on a free loopback port, for tests that
/// talk to it over HTTP or through a browser. Its own process, because an in-process server shares
/// Swift's cooperative thread pool with every test running in parallel, and blocking tests can
/// starve it.
public final class ServedStudy {
  public struct Failure: Error, CustomStringConvertible { public let description: String }

  public let process = Process()
  /// The base URL from the server's start-up line, e.g. http://127.0.0.1:40123/.
  public let url: String

  public init(study: String, database: String, adminToken: String?, arguments: [String] = []) throws {
    process.executableURL = URL(fileURLWithPath: overinterpBinary)
    process.arguments =
      ["study", "serve", study, "--port", "0", "--db", database] + (adminToken.map { ["--admin-token", $0] } ?? []) + arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    var banner = ""
    while !banner.contains("\n") {
      let chunk = out.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      banner += String(decoding: chunk, as: UTF8.self)
    }
    guard let url = banner.split(separator: " ").first(where: { $0.hasPrefix("http://") }) else {
      process.terminate()
      throw Failure(description: "study serve printed no URL: '\(banner)'")
    }
    self.url = String(url)
  }

  /// Ctrl-C, then the exit status.
  public func stop() -> Int32 {
    if process.isRunning {
      kill(process.processIdentifier, SIGINT)
      process.waitUntilExit()
    }
    return process.terminationStatus
  }

  deinit { _ = stop() }
}
