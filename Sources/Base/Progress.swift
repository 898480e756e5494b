#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A one-line progress display (count, rate, ETA) on standard error when it is a terminal, and
/// silence in pipes and files.
public final class Progress {
  let total: Int
  let label: String
  let unit: String
  let enabled: Bool
  let start: Double
  var lastDraw: Double = 0
  public private(set) var done = 0

  public init(total: Int, label: String, unit: String = "images", enabled: Bool? = nil) {
    self.total = total
    self.label = label
    self.unit = unit
    self.enabled = enabled ?? (isatty(2) == 1)
    self.start = Self.now()
  }

  public static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  public var elapsed: Double { Self.now() - start }

  public func advance(by n: Int, extra: String = "") {
    done += n
    guard enabled else { return }
    let t = Self.now()
    if t - lastDraw < 0.2 && done < total { return }
    lastDraw = t
    let rate = Double(done) / Swift.max(t - start, 1e-9)
    let eta = rate > 0 ? Double(total - done) / rate : 0
    let line =
      "\r\(label) \(done)/\(total) \(unit)  \(Self.format(rate))/s  ETA \(Self.duration(eta))\(extra.isEmpty ? "" : "  " + extra)"
    printError(line + "\u{1b}[K", newline: false)
  }

  public func finish() {
    guard enabled else { return }
    printError("\r\u{1b}[K", newline: false)
  }

  static func format(_ v: Double) -> String {
    v >= 100 ? String(Int(v.rounded())) : String(Double(Int(v * 10)) / 10)
  }

  public static func duration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let total = Int(s.rounded())
    if total >= 3600 { return "\(total / 3600)h\(String(format2: (total % 3600) / 60))m" }
    if total >= 60 { return "\(total / 60)m\(String(format2: total % 60))s" }
    return "\(total)s"
  }
}

extension String {
  init(format2 v: Int) { self = v < 10 ? "0\(v)" : "\(v)" }
}

/// Writes to standard error (diagnostics and progress; results go to stdout and files).
public func printError(_ text: String, newline: Bool = true) {
  let s = newline ? text + "\n" : text
  let bytes = Array(s.utf8)
  var offset = 0
  while offset < bytes.count {
    let n = bytes.withUnsafeBytes { buf in buf.baseAddress.map { write(2, $0 + offset, buf.count - offset) } ?? 0 }
    if n <= 0 { break }
    offset += n
  }
}
