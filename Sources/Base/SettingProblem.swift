import Foundation

/// A setting whose value a library cannot use: the setting, by the library's name for it (e.g.
/// `learningRate`), and what is wrong with the value. Libraries report these; the CLI names the
/// flag that sets it (`SettingNames.install`), so no library needs to know its command line.
public struct SettingProblem: Error, Equatable, Sendable, CustomStringConvertible {
  public var setting: String
  public var message: String

  public init(_ setting: String, _ message: String) {
    self.setting = setting
    self.message = message
  }

  /// "learningRate must be a positive number, got 0.0" (or "--lr must ..." once the CLI has
  /// installed its names).
  public var description: String { "\(SettingNames.name(setting)) \(SettingNames.render(message))" }

  /// The problem with every setting called what `names` calls it (a flag), or the library's name.
  public func named(by names: [String: String]) -> String {
    "\(names[setting] ?? setting) \(SettingNames.render(message, names: names))"
  }
}

/// What the front end calls each setting. Library messages that tell the user which setting to
/// give write it as `{name}` (e.g. "an .npy of images needs {labels}"); error descriptions render
/// it with the names installed here, which the CLI fills with its flags at start ("--labels"),
/// and as the bare name otherwise ("labels").
public enum SettingNames {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var table: [String: String] = [:]

  /// Replaces the names (the CLI calls this once, before it runs a command).
  public static func install(_ names: [String: String]) {
    lock.withLock { table = names }
  }

  /// The front end's name of `setting`, or the setting's own.
  public static func name(_ setting: String) -> String { lock.withLock { table[setting] } ?? setting }

  /// The installed names.
  public static var installed: [String: String] { lock.withLock { table } }

  /// `text` with every `{setting}` replaced by the front end's name of it. Braces around anything
  /// but a plain identifier (letters and digits) are left as they are.
  public static func render(_ text: String, names: [String: String]? = nil) -> String {
    guard text.contains("{") else { return text }
    let names = names ?? installed
    var out = ""
    var rest = Substring(text)
    while let open = rest.firstIndex(of: "{") {
      out += rest[..<open]
      let after = rest[rest.index(after: open)...]
      if let close = after.firstIndex(of: "}"), after[..<close].allSatisfy({ $0.isLetter || $0.isNumber }),
        !after[..<close].isEmpty
      {
        let setting = String(after[..<close])
        out += names[setting] ?? setting
        rest = after[after.index(after: close)...]
      } else {
        out += "{"
        rest = after
      }
    }
    return out + rest
  }
}
