import Base

/// A benchmark that cannot run as asked (bad sizes, missing data); the message says why.
public struct BenchmarkError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = SettingNames.render(description) }
}

/// What every benchmark shares: the thread count of both sides and the Python interpreter of the
/// baseline ('' to skip it).
public struct Baseline: Sendable {
  public var threadCount: Int
  public var python: String

  public init(threadCount: Int, python: String) {
    self.threadCount = threadCount
    self.python = python
  }
}
