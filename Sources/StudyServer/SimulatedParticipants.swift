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

  public init(base: URL, maxConnections: Int = 64) {
    self.base = base
    let configuration = URLSessionConfiguration.ephemeral
    configuration.httpCookieAcceptPolicy = .never
    configuration.httpShouldSetCookies = false
    configuration.httpMaximumConnectionsPerHost = maxConnections
    configuration.timeoutIntervalForRequest = 30
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
    let data: Data
    let response: URLResponse
    do { (data, response) = try await session.data(for: request) } catch let error as URLError {
      let reason = (error as NSError).userInfo[NSLocalizedDescriptionKey] as? String ?? "\(error.code)"
      throw LoadFailure("\(method) \(url.absoluteString): \(reason)")
    }
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

  /// Starts a participant; returns its id (from the cookie) and state.
  public func start() async throws -> (String, StudyService.State) {
    let reply = try await send("POST", "/api/participants")
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
          """, participantsStarted, requests, seconds, Double(requests) / max(seconds, 1e-9), acknowledged, exported, lost,
        duplicated,
        unexpected, percentile(0.5) * 1000, percentile(0.9) * 1000, percentile(0.99) * 1000, (latencies.max() ?? 0) * 1000)
    }
  }

  struct Worker: Sendable {
    var started = 0
    var requests = 0
    var unexpected = 0
    var latencies: [Double] = []
    var acknowledged: [String: Set<String>] = [:]
  }

  public func run(client: StudyClient) async throws -> Result {
    let clock = ContinuousClock()
    let begin = clock.now
    let deadline = begin + .milliseconds(Int64(duration * 1000))
    let workers = try await withThrowingTaskGroup(of: Worker.self) { group in
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
          while clock.now < deadline {
            let (id, first) = try await timed { try await client.start() }
            worker.started += 1
            var state = first
            while let image = state.image, clock.now < deadline {
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
          return worker
        }
      }
      var all: [Worker] = []
      for try await w in group { all.append(w) }
      return all
    }
    let seconds = clock.now - begin
    var headers: [String: String] = [:]
    if let adminToken { headers["Authorization"] = "Bearer \(adminToken)" }
    let export = try await client.send("GET", "/admin/answers.csv", headers: headers)
    guard export.status == 200 else { throw LoadFailure("GET /admin/answers.csv answered \(export.status): \(export.text)") }
    var exported: [String: [String]] = [:]
    for line in export.text.split(separator: "\n").dropFirst() {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false)
      if fields.count >= 2 { exported[String(fields[0]), default: []].append(String(fields[1])) }
    }
    var acknowledged: [String: Set<String>] = [:]
    for w in workers { acknowledged.merge(w.acknowledged) { $0.union($1) } }
    var lost = 0
    var duplicated = 0
    var exportedCount = 0
    for (participant, images) in acknowledged {
      let rows = exported[participant] ?? []
      exportedCount += rows.count
      duplicated += rows.count - Set(rows).count
      lost += images.subtracting(rows).count
    }
    return Result(
      participantsStarted: workers.reduce(0) { $0 + $1.started }, requests: workers.reduce(0) { $0 + $1.requests },
      acknowledged: acknowledged.values.reduce(0) { $0 + $1.count }, exported: exportedCount, lost: lost, duplicated: duplicated,
      unexpected: workers.reduce(0) { $0 + $1.unexpected }, latencies: workers.flatMap(\.latencies),
      seconds: Self.seconds(seconds))
  }

  static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}
