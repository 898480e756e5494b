import Base

/// What went wrong in an audit stage (the folder, its files, the images chosen). Settings with
/// bad values are `SettingProblem`s; run-store errors from backward selection stay `SISError`s.
public struct AuditError: Error, CustomStringConvertible, Equatable, Sendable {
  public enum Kind: Equatable, Sendable {
    /// The folder holds an audit made with other settings (the differing ones are in the message).
    case otherAudit
    case other
  }

  public let message: String
  public let kind: Kind

  public init(_ message: String, kind: Kind = .other) {
    self.message = message
    self.kind = kind
  }

  public var description: String { SettingNames.render(message) }
}
