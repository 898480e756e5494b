/// A setting whose value a library cannot use: the setting, by the library's name for it (e.g.
/// `learningRate`), and what is wrong with the value. Libraries report these; the CLI names the
/// flag that sets it (`named(by:)`), so no library needs to know its command line.
public struct SettingProblem: Error, Equatable, Sendable, CustomStringConvertible {
  public var setting: String
  public var message: String

  public init(_ setting: String, _ message: String) {
    self.setting = setting
    self.message = message
  }

  /// "learningRate must be a positive number, got 0.0".
  public var description: String { "\(setting) \(message)" }

  /// The problem with the setting called what `names` calls it (a flag), or the library's name.
  public func named(by names: [String: String]) -> String { "\(names[setting] ?? setting) \(message)" }
}
