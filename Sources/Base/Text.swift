/// Number and column formatting for reports.

import Foundation

/// `x` with a fixed number of decimals ("3.14").
public func fmt(_ x: Double, digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

/// `s` padded with spaces to `width` characters, on the right (or on the left for numbers).
public func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
  let fill = String(repeating: " ", count: max(0, width - s.count))
  return left ? fill + s : s + fill
}

/// A fraction as a right-aligned percentage column ("  92.10%").
public func pct(_ x: Double) -> String { pad(fmt(x * 100) + "%", 7, left: true) }

/// Positions written as `0..<100`, `0...99` or `3,17,42` (nil if the text is none of these).
public func parseIndexList(_ text: String) -> [Int]? {
  if let r = text.range(of: "..<") {
    guard let a = Int(text[..<r.lowerBound]), let b = Int(text[r.upperBound...]), a <= b else { return nil }
    return Array(a..<b)
  }
  if let r = text.range(of: "...") {
    guard let a = Int(text[..<r.lowerBound]), let b = Int(text[r.upperBound...]), a <= b else { return nil }
    return Array(a...b)
  }
  let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
  guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
  return parts.compactMap { $0 }
}

/// "AMD EPYC (2 cores), Linux 6.1": the CPU model from /proc/cpuinfo, the core count and the
/// kernel, for reports that state where they were measured.
public func machineDescription() -> String {
  let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
  let model =
    info.split(separator: "\n").first { $0.hasPrefix("model name") }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
    .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
  let os = ProcessInfo.processInfo.operatingSystemVersionString
  let flags = Set(
    info.split(separator: "\n").first { $0.hasPrefix("flags") }.map { $0.split(separator: " ").map(String.init) } ?? [])
  // The vector extensions libtorch's kernels choose between (and that change their timing).
  let isa =
    [("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2")]
    .first { flags.contains($0.0) }.map { ", \($0.1)" } ?? ""
  return "\(model) (\(ProcessInfo.processInfo.activeProcessorCount) cores\(isa)), \(os)"
}

/// An absolute, standardized path (runs record where their inputs were, and compare them): no
/// `.`, `..` or repeated `/` (Foundation keeps `a//b`, and resolves `a//b/..` to `a/`).
public func absolutePath(_ p: String) -> String {
  let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
  let single = p.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
  return URL(fileURLWithPath: p.hasPrefix("/") ? "/" + single : single, relativeTo: cwd).absoluteURL.standardized.path
}
