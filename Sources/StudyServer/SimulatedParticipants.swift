import Base
import Datasets
import Foundation
#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// A small HTTP client that speaks to the study app the way the page's script does: it keeps the
/// participant cookie itself (no shared cookie store), so many participants can share a session.
public struct StudyClient: Sendable {
  public struct Reply: Sendable {
    public var status: Int
    public var body: Data
    public var headers: [String: String]
    public func json<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: body) }
    public var text: String { String(decoding: body, as: UTF8.self) }
  }

  public let base: URL
  let session: URLSession
  /// Seconds a request may take before it fails, whatever the network does.
  public let timeout: Double

  public init(base: URL, maxConnections: Int = 64, timeout: Double = 10) {
    self.base = base
    self.timeout = timeout
    let configuration = URLSessionConfiguration.ephemeral
    configuration.httpCookieAcceptPolicy = .never
    configuration.httpShouldSetCookies = false
    configuration.httpMaximumConnectionsPerHost = maxConnections
    configuration.timeoutIntervalForRequest = timeout
    configuration.timeoutIntervalForResource = timeout
    session = URLSession(configuration: configuration)
  }

  /// One request; `cookie` is the participant id, `body` raw bytes sent with `contentType`.
  public func send(
    _ method: String, _ path: String, cookie: String? = nil, body: Data? = nil, contentType: String? = "application/json",
    headers: [String: String] = [:]
  ) async throws -> Reply {
    guard let url = URL(string: path, relativeTo: base) else { throw URLError(.badURL) }
    var request = URLRequest(url: url)
    request.httpMethod = method
    request.httpShouldHandleCookies = false
    if let cookie { request.setValue("\(StudyApp.cookieName)=\(cookie)", forHTTPHeaderField: "Cookie") }
    if let body {
      request.httpBody = body
      if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
    }
    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
    let what = "\(method) \(url.absoluteString)"
    let (data, response) = try await fetch(request, what: what)
    guard let http = response as? HTTPURLResponse else { throw URLError(.badServerResponse) }
    var fields: [String: String] = [:]
    for (k, v) in http.allHeaderFields {
      if let k = k as? String, let v = v as? String { fields[k.lowercased()] = v }
    }
    return Reply(status: http.statusCode, body: data, headers: fields)
  }

  /// Sends an answer as the page does.
  public func answer(_ cookie: String, image: String, answer: Int, milliseconds: Int) async throws -> Reply {
    let body = try JSONSerialization.data(withJSONObject: ["image": image, "answer": answer, "milliseconds": milliseconds])
    return try await send("POST", "/api/answers", cookie: cookie, body: body)
  }

  /// The server refused a new participant for now (429): wait `seconds`.
  public struct RateLimited: Error { public var seconds: Double }

  /// Starts a participant; returns its id (from the cookie) and state.
  public func start() async throws -> (String, StudyService.State) {
    let reply = try await send("POST", "/api/participants")
    if reply.status == 429 { throw RateLimited(seconds: Double(reply.headers["retry-after"] ?? "") ?? 1) }
    guard reply.status == 201 || reply.status == 200 else {
      throw LoadFailure("POST /api/participants answered \(reply.status): \(reply.text)")
    }
    let state = try reply.json(StudyService.State.self)
    return (state.participant, state)
  }
}

struct LoadFailure: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}

extension StudyClient {
  /// One request, answered within `timeout` seconds or failed. URLSession's async API on Linux
  /// can block threads of Swift's cooperative pool while it waits, so with a few requests in
  /// flight to a server that never answers no timer could run (the check waited for ever); this
  /// uses the callback API and a Dispatch timer, both off that pool, and gives up on a request
  /// that outlives the timeout or whose caller is cancelled.
  func fetch(_ request: URLRequest, what: String) async throws -> (Data, URLResponse) {
    let once = Once<(Data, URLResponse)>()
    let task = session.dataTask(with: request) { data, response, error in
      if let response, error == nil {
        once.finish(.success((data ?? Data(), response)))
      } else {
        let reason =
          (error as NSError?)?.userInfo[NSLocalizedDescriptionKey] as? String ?? "\(error.map { "\($0)" } ?? "no response")"
        once.finish(.failure(LoadFailure("\(what): \(reason)")))
      }
    }
    let timeout = self.timeout
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        once.start(continuation)
        once.onFinish { task.cancel() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
          once.finish(.failure(LoadFailure("\(what): no answer within \(fmt(timeout, digits: 0)) s")))
        }
        task.resume()
      }
    } onCancel: {
      once.finish(.failure(CancellationError()))
    }
  }
}

/// A continuation resumed exactly once, by whichever party finishes first.
final class Once<T: Sendable>: @unchecked Sendable {
  private let lock = NSLock()
  private var continuation: CheckedContinuation<T, Error>?
  private var result: Result<T, Error>?
  private var cleanup: (@Sendable () -> Void)?

  func start(_ c: CheckedContinuation<T, Error>) {
    lock.lock()
    if let result {
      lock.unlock()
      c.resume(with: result)
      return
    }
    continuation = c
    lock.unlock()
  }

  /// Runs `body` once the result is in (now, if it already is).
  func onFinish(_ body: @escaping @Sendable () -> Void) {
    lock.lock()
    if result != nil {
      lock.unlock()
      body()
      return
    }
    cleanup = body
    lock.unlock()
  }

  /// Whether this call decided the result.
  @discardableResult func finish(_ r: Result<T, Error>) -> Bool {
    lock.lock()
    guard result == nil else {
      lock.unlock()
      return false
    }
    result = r
    let c = continuation
    continuation = nil
    let done = cleanup
    cleanup = nil
    lock.unlock()
    c?.resume(with: r)
    done?()
    return true
  }
}

/// A load check: `participants` simulated participants answer concurrently for `duration`
/// seconds (each one, when done with the study, is replaced by a new one). Every request's
/// response time is recorded; afterwards the answers the server acknowledged are compared with
/// its export, which must hold each of them exactly once.
public struct LoadCheck: Sendable {
  public var participants: Int
  public var duration: Double
  public var seed: UInt64
  public var adminToken: String?

  public init(participants: Int, duration: Double, seed: UInt64 = 0, adminToken: String? = nil) {
    self.participants = participants
    self.duration = duration
    self.seed = seed
    self.adminToken = adminToken
  }

  public struct Result: Sendable, CustomStringConvertible {
    public var participantsStarted: Int
    public var requests: Int
    public var acknowledged: Int
    public var exported: Int
    public var lost: Int
    public var duplicated: Int
    public var unexpected: Int
    public var latencies: [Double]
    public var seconds: Double
    /// New participants the server's rate limit refused for a while (all simulated participants
    /// share one address; the check then waits as asked and goes on).
    public var rateLimited = 0
    /// participant -> the images whose answers the server acknowledged.
    public var acknowledgedAnswers: [String: Set<String>] = [:]

    public func percentile(_ p: Double) -> Double {
      guard !latencies.isEmpty else { return 0 }
      // Nearest-rank percentile.
      let sorted = latencies.sorted()
      let rank = Int((p * Double(sorted.count)).rounded(.up))
      return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    public var description: String {
      String(
        format: """
          %d participants, %d requests in %.1f s (%.0f requests/s)
          answers acknowledged %d, in the export %d: lost %d, duplicated %d; unexpected responses %d
          response time ms: p50 %.1f, p90 %.1f, p99 %.1f, max %.1f
          new participants held back by the rate limit: %d
          """, participantsStarted, requests, seconds, Double(requests) / max(seconds, 1e-9), acknowledged, exported, lost,
        duplicated,
        unexpected, percentile(0.5) * 1000, percentile(0.9) * 1000, percentile(0.99) * 1000, (latencies.max() ?? 0) * 1000,
        rateLimited)
    }
  }

  struct Worker: Sendable {
    var started = 0
    var requests = 0
    var unexpected = 0
    var latencies: [Double] = []
    var acknowledged: [String: Set<String>] = [:]
    var failure: String?
    var rateLimited = 0
  }

  /// The run stopped early: a request failed (the server died, or did not answer within the
  /// client's timeout). `acknowledged` holds the answers the server had acknowledged by then, to
  /// check against its export once it is back.
  public struct Interrupted: Error, CustomStringConvertible {
    public var reason: String
    public var acknowledged: [String: Set<String>]
    public var description: String {
      "load check stopped: \(reason) (\(acknowledged.values.reduce(0) { $0 + $1.count }) answer(s) acknowledged before)"
    }
  }

  /// Set when one participant fails, so that the others stop too.
  final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    var isSet: Bool { lock.withLock { stopped } }
    func set() { lock.withLock { stopped = true } }
  }

  public func run(client: StudyClient) async throws -> Result {
    let clock = ContinuousClock()
    let begin = clock.now
    let deadline = begin + .milliseconds(Int64(duration * 1000))
    let stop = StopFlag()
    let workers = await withTaskGroup(of: Worker.self) { group in
      for w in 0..<participants {
        group.addTask {
          var rng = SplitMix64(seed: seed, stream: UInt64(w))
          var worker = Worker()
          /// One request, its response time recorded.
          func timed<T>(_ body: () async throws -> T) async throws -> T {
            let t0 = clock.now
            let reply = try await body()
            worker.latencies.append(Self.seconds(clock.now - t0))
            worker.requests += 1
            return reply
          }
          func going() -> Bool { clock.now < deadline && !stop.isSet }
          do {
            while going() {
              let started: (String, StudyService.State)
              do { started = try await timed { try await client.start() } } catch let limited as StudyClient.RateLimited {
                worker.rateLimited += 1
                let left = Self.seconds(deadline - clock.now)
                if left > 0 { try await Task.sleep(for: .milliseconds(Int64(min(limited.seconds, left) * 1000))) }
                continue
              }
              let (id, first) = started
              worker.started += 1
              var state = first
              if state.questionsPending {
                // Skips the host's questions with an empty response; required questions stop the
                // check (every new participant would be refused the same way).
                let body = try JSONSerialization.data(withJSONObject: ["responses": [String: String]()])
                let reply = try await timed { try await client.send("POST", "/api/responses", cookie: id, body: body) }
                guard reply.status == 200 else {
                  throw LoadFailure(
                    "the study's questions cannot be skipped (POST /api/responses answered \(reply.status): \(reply.text)); the load check answers no questions"
                  )
                }
                state = try reply.json(StudyService.State.self)
              }
              while let image = state.image, going() {
                let png = try await timed { try await client.send("GET", "/images/\(image).png", cookie: id) }
                if png.status != 200 { worker.unexpected += 1 }
                let reply = try await timed {
                  try await client.answer(
                    id, image: image, answer: Int(rng.next() % UInt64(state.classNames.count)),
                    milliseconds: 500 + Int(rng.next() % 3000))
                }
                guard reply.status == 201 else {
                  worker.unexpected += 1
                  break
                }
                worker.acknowledged[id, default: []].insert(image)
                state = try reply.json(StudyService.State.self)
              }
            }
          } catch {
            worker.failure = "\(error)"
            stop.set()
          }
          return worker
        }
      }
      var all: [Worker] = []
      for await w in group { all.append(w) }
      return all
    }
    var acknowledged: [String: Set<String>] = [:]
    for w in workers { acknowledged.merge(w.acknowledged) { $0.union($1) } }
    if let failure = workers.compactMap(\.failure).first {
      throw Interrupted(reason: failure, acknowledged: acknowledged)
    }
    let seconds = clock.now - begin
    let exportText: String
    do { exportText = try await Self.export(client: client, adminToken: adminToken) } catch {
      throw Interrupted(reason: "\(error)", acknowledged: acknowledged)
    }
    let check = Self.compare(acknowledged: acknowledged, export: exportText)
    return Result(
      participantsStarted: workers.reduce(0) { $0 + $1.started }, requests: workers.reduce(0) { $0 + $1.requests },
      acknowledged: acknowledged.values.reduce(0) { $0 + $1.count }, exported: check.exported, lost: check.lost,
      duplicated: check.duplicated, unexpected: workers.reduce(0) { $0 + $1.unexpected },
      latencies: workers.flatMap(\.latencies), seconds: Self.seconds(seconds),
      rateLimited: workers.reduce(0) { $0 + $1.rateLimited },
      acknowledgedAnswers: acknowledged)
  }

  /// The server's answers export (`/admin/answers.csv`).
  public static func export(client: StudyClient, adminToken: String?) async throws -> String {
    var headers: [String: String] = [:]
    if let adminToken { headers["Authorization"] = "Bearer \(adminToken)" }
    let export = try await client.send("GET", "/admin/answers.csv", headers: headers)
    guard export.status == 200 else { throw LoadFailure("GET /admin/answers.csv answered \(export.status): \(export.text)") }
    return export.text
  }

  /// Acknowledged answers (participant -> images) against an export: how many of the
  /// participants' rows it holds, how many acknowledged answers it lacks, how many rows repeat.
  public static func compare(acknowledged: [String: Set<String>], export: String) -> (
    exported: Int, lost: Int, duplicated: Int
  ) {
    var exported: [String: [String]] = [:]
    for line in export.split(separator: "\n").dropFirst() {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false)
      if fields.count >= 2 { exported[String(fields[0]), default: []].append(String(fields[1])) }
    }
    var lost = 0
    var duplicated = 0
    var exportedCount = 0
    for (participant, images) in acknowledged {
      let rows = exported[participant] ?? []
      exportedCount += rows.count
      duplicated += rows.count - Set(rows).count
      lost += images.subtracting(rows).count
    }
    return (exportedCount, lost, duplicated)
  }

  /// Acknowledged answers as CSV lines `participant,image` (a header first), sorted.
  public static func csv(_ acknowledged: [String: Set<String>]) -> String {
    "participant,image\n"
      + acknowledged.sorted { $0.key < $1.key }.flatMap { p in p.value.sorted().map { "\(p.key),\($0)\n" } }.joined()
  }

  /// Reads what `csv` wrote.
  public static func parseAcknowledged(_ text: String) -> [String: Set<String>] {
    var out: [String: Set<String>] = [:]
    for line in text.split(separator: "\n").dropFirst() {
      let f = line.split(separator: ",")
      if f.count == 2 { out[String(f[0]), default: []].insert(String(f[1])) }
    }
    return out
  }

  static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}
