/// A benchmark that cannot run as asked (bad sizes, missing data); the message says why.
public struct BenchmarkError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
