#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A one-line progress display (count, rate, ETA) on standard error. On a terminal the line is
/// redrawn in place; in a pipe or file (a job under nohup or Slurm) a plain line is written every
/// `OVERINTERP_PROGRESS_SECONDS` seconds (default 300; 0 turns it off), so commands that end
/// sooner write nothing.
public final class Progress {
  let total: Int
  let label: String
  let unit: String
  let enabled: Bool
  /// Seconds between plain lines when standard error is not a terminal (nil: redraw in place).
  let logInterval: Double?
  let start: Double
  var lastDraw: Double = 0
  /// The last `fractionDone` seen and the seconds since `start` at which it was first seen.
  var fraction: (value: Double, elapsed: Double)?
  public private(set) var done = 0

  public init(total: Int, label: String, unit: String = "images", enabled: Bool? = nil) {
    self.total = total
    self.label = label
    self.unit = unit
    self.start = Self.now()
    if let enabled {
      self.enabled = enabled
      logInterval = nil
    } else if isatty(2) == 1 {
      self.enabled = true
      logInterval = nil
    } else {
      let interval = getenv("OVERINTERP_PROGRESS_SECONDS").flatMap { Double(String(cString: $0)) } ?? 300
      self.enabled = interval > 0
      logInterval = interval > 0 ? interval : nil
      lastDraw = start
    }
  }

  public static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  public var elapsed: Double { Self.now() - start }

  /// Adds `n` units. `fractionDone` (0-1, e.g. images finished over images planned) gives a
  /// second ETA, from the pace of whole steps (images): the line shows the longer of the two, so a
  /// units total that was an estimate and runs short (candidates of selections that end later than
  /// planned) does not show "ETA 28s" with 40 images to go.
  public func advance(by n: Int, extra: String = "", fractionDone: Double? = nil) {
    done += n
    let t = Self.now()
    if let f = fractionDone, f != fraction?.value { fraction = (f, t - start) }
    guard enabled else { return }
    if let logInterval {
      if t - lastDraw < logInterval { return }
    } else if t - lastDraw < 0.2 && done < total {
      return
    }
    lastDraw = t
    let rate = Double(done) / Swift.max(t - start, 1e-9)
    let eta = Self.eta(
      done: done, total: total, elapsed: t - start, fractionDone: fraction?.value, fractionElapsed: fraction?.elapsed)
    let line =
      "\(label) \(done)/\(total) \(unit)  \(Self.format(rate))/s  ETA \(Self.duration(eta))\(extra.isEmpty ? "" : "  " + extra)"
    if logInterval != nil {
      printError(line)
    } else {
      printError("\r" + line + "\u{1b}[K", newline: false)
    }
  }

  /// Seconds left (infinity: unknown): the longer of the units' pace (while `done` is below
  /// `total`) and the steps' pace, where `fractionDone` of the steps had finished `fractionElapsed`
  /// seconds in (by default `elapsed`: just now): the steps still to go at the finished ones' pace,
  /// less the time already spent on the step under way.
  public static func eta(
    done: Int, total: Int, elapsed: Double, fractionDone: Double? = nil, fractionElapsed: Double? = nil
  ) -> Double {
    if let f = fractionDone, f >= 1 { return 0 }
    if done == total && fractionDone == nil { return 0 }
    let units = done < total && done > 0 ? Double(total - done) * elapsed / Double(done) : nil
    var steps: Double?
    if let f = fractionDone, f > 0 {
      let at = fractionElapsed ?? elapsed
      // Clamped at nothing left means the step under way runs longer than the average: unknown.
      let left = at * (1 - f) / f - (elapsed - at)
      if left > 0 { steps = left }
    }
    return [units, steps].compactMap { $0 }.max() ?? .infinity
  }

  public func finish() {
    guard enabled, logInterval == nil else { return }
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
