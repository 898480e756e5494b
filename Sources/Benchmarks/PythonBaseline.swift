import Base
import Foundation

/// Runs a Python baseline script and returns the JSON objects it printed, one per line (empty
/// when `python` is '' or the script fails, which is reported on stderr).
public func runPythonBaseline(_ python: String, _ arguments: [String]) throws -> [[String: Any]] {
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
