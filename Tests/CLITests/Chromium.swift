import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Headless Chromium driven through the DevTools protocol over `--remote-debugging-pipe`
/// (commands on fd 3, replies on fd 4, each message ending in a NUL byte): no websocket client,
/// no Python. Used by the browser test of the human-study app.
final class Chromium {
  struct Failure: Error, CustomStringConvertible { let description: String }

  /// The browser executable: $CHROMIUM, or chromium / chromium-browser / google-chrome on PATH.
  static let executable: String? = {
    if let path = ProcessInfo.processInfo.environment["CHROMIUM"], FileManager.default.isExecutableFile(atPath: path) {
      return path
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
      for dir in ["/usr/bin", "/usr/local/bin", "/snap/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)")
      {
        return "\(dir)/\(name)"
      }
    }
    return nil
  }()

  let pid: pid_t
  let commands: Int32
  let replies: Int32
  let profile: String
  var nextID = 1
  var buffer: [UInt8] = []
  var session: String?

  init(executable: String) throws {
    profile = NSTemporaryDirectory() + "/chromium-profile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    var toBrowser: [Int32] = [0, 0]
    var fromBrowser: [Int32] = [0, 0]
    guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw Failure(description: "pipe() failed") }
    // Keep our ends off fds 3 and 4, which the child's dup2 calls overwrite.
    for fd in toBrowser + fromBrowser where fd <= 4 { throw Failure(description: "unexpected low fd \(fd)") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
    posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
    posix_spawn_file_actions_addclose(&actions, toBrowser[1])
    posix_spawn_file_actions_addclose(&actions, fromBrowser[0])
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let args = [
      executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage", "--user-data-dir=\(profile)",
      "about:blank",
    ]
    let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var child: pid_t = 0
    let status = posix_spawn(&child, executable, &actions, nil, argv, environ)
    close(toBrowser[0])
    close(fromBrowser[1])
    guard status == 0 else { throw Failure(description: "cannot start \(executable): posix_spawn \(status)") }
    pid = child
    commands = toBrowser[1]
    replies = fromBrowser[0]
  }

  deinit {
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    close(commands)
    close(replies)
    try? FileManager.default.removeItem(atPath: profile)
  }

  /// Sends one command (to the attached page unless `browser`) and returns its `result`,
  /// skipping events; throws on a protocol error or after `timeout` seconds.
  @discardableResult
  func send(_ method: String, _ params: [String: Any] = [:], browser: Bool = false, timeout: Double = 90) throws -> [String: Any]
  {
    let id = nextID
    nextID += 1
    var message: [String: Any] = ["id": id, "method": method, "params": params]
    if !browser, let session { message["sessionId"] = session }
    var bytes = Array(try JSONSerialization.data(withJSONObject: message))
    bytes.append(0)
    var written = 0
    while written < bytes.count {
      let n = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
      guard n > 0 else { throw Failure(description: "browser closed its command pipe") }
      written += n
    }
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      while let end = buffer.firstIndex(of: 0) {
        let data = Data(buffer[..<end])
        buffer.removeSubrange(...end)
        guard let reply = try JSONSerialization.jsonObject(with: data) as? [String: Any], reply["id"] as? Int == id else {
          if let event = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { record(event) }
          continue
        }
        if let error = reply["error"] { throw Failure(description: "\(method): \(error)") }
        return reply["result"] as? [String: Any] ?? [:]
      }
      var poller = pollfd(fd: replies, events: Int16(POLLIN), revents: 0)
      let left = deadline.timeIntervalSinceNow
      guard left > 0 else { throw Failure(description: "\(method): no reply within \(timeout) s") }
      if poll(&poller, 1, Int32(min(left, 1) * 1000)) > 0 {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(replies, $0.baseAddress, $0.count) }
        guard n > 0 else { throw Failure(description: "browser exited") }
        buffer += chunk[..<n]
      }
    }
  }

  /// Console errors, uncaught exceptions and failed loads seen since `watchConsole()`.
  var consoleErrors: [String] = []

  func record(_ event: [String: Any]) {
    let params = event["params"] as? [String: Any] ?? [:]
    switch event["method"] as? String {
    case "Runtime.consoleAPICalled" where params["type"] as? String == "error":
      consoleErrors.append("console.error: \(params["args"] ?? "")")
    case "Runtime.exceptionThrown":
      consoleErrors.append("exception: \(params["exceptionDetails"] ?? "")")
    case "Log.entryAdded":
      let entry = params["entry"] as? [String: Any] ?? [:]
      if entry["level"] as? String == "error" { consoleErrors.append("log: \(entry["text"] ?? "")") }
    default: break
    }
  }

  /// Opens an empty page, turns on console, exception and log events, then navigates to `url`,
  /// so that errors during loading are recorded in `consoleErrors`.
  func openWatchingConsole(_ url: String) throws {
    try open("about:blank")
    try send("Runtime.enable")
    try send("Log.enable")
    try send("Page.enable")
    try send("Page.navigate", ["url": url])
  }

  /// Opens `url` in a new page and attaches to it (later commands go to that page).
  func open(_ url: String) throws {
    let target = try send("Target.createTarget", ["url": url], browser: true)
    guard let targetID = target["targetId"] as? String else { throw Failure(description: "no targetId") }
    let attached = try send("Target.attachToTarget", ["targetId": targetID, "flatten": true], browser: true)
    session = attached["sessionId"] as? String
  }

  /// Evaluates a JavaScript expression in the page and returns its value (JSON types).
  func evaluate(_ expression: String) throws -> Any? {
    let result = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
    if let exception = result["exceptionDetails"] { throw Failure(description: "\(expression): \(exception)") }
    return (result["result"] as? [String: Any])?["value"]
  }

  /// Polls `expression` until it is true.
  func wait(for expression: String, timeout: Double = 90) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if (try? evaluate(expression)) as? Bool == true { return }
      usleep(50_000)
    }
    throw Failure(description: "timed out waiting for \(expression)")
  }

  /// Presses and releases a key on the keyboard, as a user would (through the browser's input
  /// pipeline, so the page's keydown handler sees a trusted event).
  /// `repeats`: auto-repeated keyDown events while the key is held (as a keyboard sends them).
  func press(_ key: String, code: String, keyCode: Int, text: String? = nil, repeats: Int = 0, every: useconds_t = 30_000)
    throws
  {
    for k in 0...repeats {
      if k > 0 { usleep(every) }
      try send(
        "Input.dispatchKeyEvent",
        [
          "type": "keyDown", "key": key, "code": code, "text": text ?? key, "windowsVirtualKeyCode": keyCode, "autoRepeat": k > 0,
        ])
    }
    try send("Input.dispatchKeyEvent", ["type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": keyCode])
  }
}
