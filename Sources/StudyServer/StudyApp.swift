import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Study

/// The human-study web app (paper section 3.4) over HTTP: server-rendered page, a small script,
/// a JSON API and admin exports. Endpoints:
///
/// - `GET /`, `/app.js`, `/app.css`: the participant page (no external resources).
/// - `POST /api/participants`: a new anonymous participant; sets the participant cookie.
/// - `GET /api/state`: the participant's position (current image, answered, total).
/// - `POST /api/answers` with JSON `{"image": id, "answer": 0-9, "milliseconds": n}`: stores the
///   answer for the current image at once and returns the new state.
/// - `GET /images/{id}.png`: the current (or an answered) image of this participant.
/// - `GET /resume/{participant}`: sets the cookie again (another browser or device) and redirects.
/// - `GET /admin/report`, `/admin/answers.csv`, `/admin/answers.json`, `/admin/progress`: Table 2,
///   every answer with its time and trial position (CSV, JSON), and a progress page; protected by
///   the admin token when one is set (`Authorization: Bearer TOKEN` or `?token=TOKEN`).
///
/// Errors are JSON `{"error": {"message": …}}` with a 4xx status: 400 malformed body or value,
/// 401 no participant, 403 not the participant's current image or wrong admin token, 404 unknown
/// image or path, 405 a method the path does not take (with `Allow`), 409 already answered, 413
/// body too large, 415 not JSON. HEAD works on every GET route; an unknown resume code gets a page.
public struct StudyApp: Sendable {
  public static let cookieName = "overinterp_participant"
  /// Largest request body accepted (an answer is about 60 bytes).
  public static let maxBodyBytes = 4096

  /// One study per condition; new participants are assigned to the condition with the fewest
  /// participants (ties at random), and stay in it.
  public let services: [StudyService]
  public var service: StudyService { services[0] }
  public let adminToken: String?
  /// Whether the participant cookie has `Secure` (sent over HTTPS only): for a server behind a
  /// TLS proxy.
  public let secureCookie: Bool
  /// New participants one client address may create per minute (a burst of that many, then one
  /// every 60/n seconds); 0: no limit. Behind a proxy every client shares the proxy's address.
  public let participantsPerMinute: Int
  /// Seconds a connection may stay silent (idle, or in the middle of a request) before it is closed.
  public let idleTimeout: Double
  /// The host's information and consent text (HTML) and the completion code shown at the end.
  public let consentHTML: String?
  public let completionCode: String?
  let limiter: RateLimiter

  public init(
    service: StudyService, adminToken: String?, secureCookie: Bool = false, participantsPerMinute: Int = 30,
    idleTimeout: Double = 30, consentHTML: String? = nil, completionCode: String? = nil
  ) {
    self.init(
      services: [service], adminToken: adminToken, secureCookie: secureCookie, participantsPerMinute: participantsPerMinute,
      idleTimeout: idleTimeout, consentHTML: consentHTML, completionCode: completionCode)
  }

  /// `services`: the conditions, `services[k].condition == k`, all on one database.
  public init(
    services: [StudyService], adminToken: String?, secureCookie: Bool = false, participantsPerMinute: Int = 30,
    idleTimeout: Double = 30, consentHTML: String? = nil, completionCode: String? = nil
  ) {
    precondition(!services.isEmpty && services.enumerated().allSatisfy { $0.offset == $0.element.condition })
    self.services = services
    self.consentHTML = consentHTML
    self.completionCode = completionCode
    self.adminToken = adminToken
    self.secureCookie = secureCookie
    self.participantsPerMinute = participantsPerMinute
    self.idleTimeout = idleTimeout
    limiter = RateLimiter(perMinute: participantsPerMinute)
  }

  /// The application, listening on `host:port` (port 0 picks a free one; `onRunning` gets the
  /// port actually bound). The server's own log (start, stop, failures) goes to stderr at
  /// `logLevel`.
  public func application(
    host: String, port: Int, logLevel: Logger.Level = .info, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
  ) -> some ApplicationProtocol {
    var logger = Logger(label: "overinterp-study", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = logLevel
    return Application(
      router: router(),
      server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(idleTimeout * 1000)))),
      configuration: .init(address: .hostname(host, port: port), serverName: "overinterp-study"),
      onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
  }

  public func router() -> Router<StudyContext> {
    let router = Router(context: StudyContext.self, options: .autoGenerateHeadEndpoints)
    let table = RouteTable()
    router.middlewares.add(SecurityHeaders())
    router.middlewares.add(KnownRoutes(table: table))
    /// Registers a route and records it for KnownRoutes' 404 and 405 answers.
    func on(
      _ method: HTTPRequest.Method, _ path: String,
      _ handler: @Sendable @escaping (Request, StudyContext) async throws -> some ResponseGenerator
    ) {
      table.add(path, method)
      router.on(RouterPath(path), method: method, use: handler)
    }
    let service = self.service
    let services = self.services
    let adminToken = self.adminToken
    /// The study (condition) of a participant.
    @Sendable func owner(_ id: String) throws -> StudyService {
      guard StudyService.plausibleID(id), let c = try service.store.participantCondition(id), services.indices.contains(c) else {
        throw HTTPError(.unauthorized, message: StudyService.Failure.unknownParticipant.description)
      }
      return services[c]
    }
    @Sendable func isParticipant(_ id: String) -> Bool { (try? owner(id)) != nil }
    let secure = self.secureCookie
    let limiter = self.limiter

    let page = Page.html(
      title: "Image classification study", parts: service.study.fractions.count, classes: service.study.classNames.count,
      consent: consentHTML, completionCode: completionCode)
    on(.get, "/") { _, _ in Self.text(page, type: "text/html; charset=utf-8") }
    on(.get, "/app.js") { _, _ in Self.text(Page.script, type: "text/javascript; charset=utf-8") }
    on(.get, "/app.css") { _, _ in Self.text(Page.style, type: "text/css; charset=utf-8") }
    on(.get, "/healthz") { _, _ in Self.text("ok\n", type: "text/plain; charset=utf-8") }

    on(.post, "/api/participants") { request, context in
      // A browser that already holds a participant's cookie continues as that participant.
      if let id = try? Self.participant(request), isParticipant(id) { return try Self.json(try owner(id).state(id)) }
      if let wait = limiter.refusal(for: context.remoteAddress?.ipAddress ?? "unknown") {
        throw HTTPError(
          .tooManyRequests, headers: [.retryAfter: String(Int(wait.rounded(.up)))],
          message: "too many new participants from this address; try again in \(Int(wait.rounded(.up))) s")
      }
      let counts = try service.store.conditionCounts()
      let fewest = services.indices.map { counts[$0] ?? 0 }.min() ?? 0
      let assigned = services.filter { (counts[$0.condition] ?? 0) == fewest }.randomElement() ?? service
      let id = try assigned.newParticipant()
      var response = try Self.json(try assigned.state(id), status: .created)
      response.setCookie(Self.cookie(id, secure: secure))
      return response
    }

    on(.get, "/api/state") { request, _ in
      let participant = try Self.participant(request)
      return try Self.json(try Self.call { try owner(participant).state(participant) })
    }

    on(.post, "/api/answers") { request, context in
      let body = try await Self.decodeBody(
        AnswerBody.self, request: request, expected: AnswerBody.expected, integerKeys: AnswerBody.integerKeys)
      let participant = try Self.participant(request)
      return try Self.json(
        try Self.call {
          try owner(participant).submit(
            participant: participant, image: body.image, answer: body.answer, milliseconds: body.milliseconds)
        },
        status: .created)
    }

    on(.get, "/api/questions") { request, _ in
      let study = (try? Self.participant(request)).flatMap { try? owner($0) } ?? service
      return try Self.json(study.questionnaire ?? Questionnaire(questions: []))
    }

    on(.post, "/api/responses") { request, context in
      let body = try await Self.decodeBody(
        ResponsesBody.self, request: request, expected: #"a JSON object {"responses": {question id: answer as a string}}"#)
      let participant = try Self.participant(request)
      return try Self.json(try Self.call { try owner(participant).respond(participant: participant, responses: body.responses) })
    }

    on(.get, "/images/:file") { request, context in
      // Path segments arrive percent-encoded; an invalid encoding names no image.
      let file = (context.parameters.get("file") ?? "").removingPercentEncoding ?? ""
      guard file.hasSuffix(".png") else { throw HTTPError(.notFound, message: "images are named {id}.png") }
      let participant = try Self.participant(request)
      let bytes = try Self.call { try owner(participant).png(participant: participant, image: String(file.dropLast(4))) }
      return Response(
        status: .ok, headers: [.contentType: "image/png", .cacheControl: "private, no-store"],
        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    on(.get, "/resume/:participant") { request, context in
      let id = (context.parameters.get("participant") ?? "").removingPercentEncoding ?? ""
      // A person follows this link: an unknown code gets a page, not JSON.
      guard isParticipant(id) else {
        var page = Self.text(
          Page.message(
            title: "Unknown participant code",
            text:
              "This link's participant code is not known to this study. Check that the whole link was copied, or start the study again."
          ), type: "text/html; charset=utf-8")
        page.status = .notFound
        return page
      }
      var response = Response(status: .seeOther, headers: [.location: "/"])
      response.setCookie(Self.cookie(id, secure: secure))
      return response
    }

    on(.get, "/admin/report") { request, _ in
      try Self.checkAdmin(request, token: adminToken)
      var text = ""
      for s in services {
        let report = StudyReport(
          study: s.study, answers: try s.store.allAnswers(condition: services.count > 1 ? s.condition : nil))
        if services.count > 1 { text += "condition \(s.condition): \(s.folder)\n" }
        text += report.text(classNames: s.study.classNames) + (services.count > 1 ? "\n" : "")
      }
      return Self.text(text, type: "text/plain; charset=utf-8")
    }
    on(.get, "/admin/answers.csv") { request, _ in
      try Self.checkAdmin(request, token: adminToken)
      var response = Self.text(try Self.export(services).csv, type: "text/csv; charset=utf-8")
      response.headers[.contentDisposition] = "attachment; filename=\"answers.csv\""
      return response
    }
    on(.get, "/admin/answers.json") { request, _ in
      try Self.checkAdmin(request, token: adminToken)
      return Self.text(try Self.export(services).json, type: "application/json; charset=utf-8")
    }
    on(.get, "/admin/progress") { request, _ in
      try Self.checkAdmin(request, token: adminToken)
      return Self.text(
        Page.progress(try Self.export(services), fractions: service.study.fractions),
        type: "text/html; charset=utf-8")
    }
    return router
  }

  // MARK: Helpers

  /// Every condition's participants in one export (each with its condition).
  static func export(_ services: [StudyService]) throws -> StudyExport {
    let several = services.count > 1
    var all = try StudyExport(study: services[0].study, store: services[0].store, condition: several ? 0 : nil)
    for s in services.dropFirst() {
      all.participants += try StudyExport(study: s.study, store: s.store, condition: s.condition).participants
    }
    return all
  }

  struct ResponsesBody: Decodable {
    var responses: [String: String]
  }

  struct AnswerBody: Decodable {
    var image: String
    var answer: Int
    var milliseconds: Int
    static let integerKeys = ["answer", "milliseconds"]
    static let expected = #"a JSON object {"image": string, "answer": integer class index, "milliseconds": integer}"#
  }

  static func cookie(_ id: String, secure: Bool) -> Cookie {
    Cookie(
      name: cookieName, value: id, maxAge: 180 * 24 * 3600, path: "/", secure: secure, httpOnly: true, sameSite: .strict)
  }

  static func participant(_ request: Request) throws -> String {
    guard let id = request.cookies[cookieName]?.value, StudyService.plausibleID(id) else {
      throw HTTPError(.unauthorized, message: StudyService.Failure.unknownParticipant.description)
    }
    return id
  }

  /// Runs a service call, turning its failures into 4xx responses.
  static func call<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let failure as StudyService.Failure {
      let status: HTTPResponse.Status
      switch failure {
      case .unknownParticipant: status = .unauthorized
      case .unknownImage: status = .notFound
      case .notCurrent: status = .forbidden
      case .alreadyAnswered, .finished: status = .conflict
      case .invalid: status = .badRequest
      case .questionsFirst: status = .forbidden
      }
      throw HTTPError(status, message: failure.description)
    }
  }

  /// `integerKeys`: fields that must be written as integers (JSONDecoder alone takes 3.0 for 3).
  static func decodeBody<T: Decodable>(
    _ type: T.Type, request: Request, expected: String, integerKeys: [String] = []
  ) async throws -> T {
    // The media type itself, without parameters such as charset: application/json exactly.
    let mediaType = (request.headers[.contentType] ?? "").split(separator: ";", maxSplits: 1).first
      .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    guard mediaType == "application/json" else {
      throw HTTPError(.unsupportedMediaType, message: "send Content-Type: application/json (\(expected))")
    }
    if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
      throw HTTPError(.contentTooLarge, message: "request body of \(length) bytes; at most \(maxBodyBytes) accepted")
    }
    var request = request
    let buffer: ByteBuffer
    do { buffer = try await request.collectBody(upTo: maxBodyBytes) } catch {
      throw HTTPError(.contentTooLarge, message: "request body over \(maxBodyBytes) bytes")
    }
    let data = Data(buffer.readableBytesView)
    if !integerKeys.isEmpty, let text = String(data: data, encoding: .utf8) {
      for key in integerKeys {
        let pattern = "\"\(key)\"\\s*:\\s*(-?[0-9][0-9.eE+-]*)"
        guard let regex = try? NSRegularExpression(pattern: pattern),
          let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
          let range = Range(match.range(at: 1), in: text)
        else { continue }
        if text[range].contains(where: { ".eE".contains($0) }) {
          throw HTTPError(.badRequest, message: "malformed body: '\(key)' must be an integer; expected \(expected)")
        }
      }
    }
    do { return try JSONDecoder().decode(T.self, from: data) } catch {
      throw HTTPError(.badRequest, message: "malformed body: expected \(expected)")
    }
  }

  static func checkAdmin(_ request: Request, token: String?) throws {
    guard let token else { return }
    var given: String? = request.uri.queryParameters.get("token").map { String($0) }
    if let auth = request.headers[.authorization], auth.hasPrefix("Bearer ") { given = String(auth.dropFirst(7)) }
    // No token at all: not authenticated (401); a wrong one: authenticated and refused (403).
    guard let given, !given.isEmpty else {
      throw HTTPError(.unauthorized, message: "admin token required (Authorization: Bearer TOKEN or ?token=TOKEN)")
    }
    guard constantTimeEqual(Array(given.utf8), Array(token.utf8)) else {
      throw HTTPError(.forbidden, message: "admin token required (Authorization: Bearer TOKEN or ?token=TOKEN)")
    }
  }

  static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for i in 0..<max(a.count, b.count) { difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
    return difference == 0
  }

  static func text(_ body: String, type: String) -> Response {
    Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
  }

  static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return Response(
      status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
      body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
  }
}

/// The request context: Hummingbird's, plus the client's address (for the rate limit).
public struct StudyContext: RequestContext, RemoteAddressRequestContext {
  public var coreContext: CoreRequestContextStorage
  public let remoteAddress: SocketAddress?

  public init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    remoteAddress = source.channel.remoteAddress
  }
}

/// A token bucket per client address: `perMinute` tokens at most, refilled at perMinute/60 per
/// second. Buckets that are full again are dropped when there are many.
final class RateLimiter: @unchecked Sendable {
  let perMinute: Int
  private let lock = NSLock()
  private var buckets: [String: (tokens: Double, at: Double)] = [:]

  init(perMinute: Int) { self.perMinute = perMinute }

  /// nil when `key` may go on (a token is taken), else the seconds until it may.
  func refusal(for key: String, now: Double = ProcessInfo.processInfo.systemUptime) -> Double? {
    guard perMinute > 0 else { return nil }
    let capacity = Double(perMinute)
    let rate = capacity / 60
    return lock.withLock {
      if buckets.count > 10_000 {
        buckets = buckets.filter { $0.value.tokens + (now - $0.value.at) * rate < capacity }
      }
      var bucket = buckets[key] ?? (capacity, now)
      bucket.tokens = Swift.min(capacity, bucket.tokens + (now - bucket.at) * rate)
      bucket.at = now
      defer { buckets[key] = bucket }
      guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / rate }
      bucket.tokens -= 1
      return nil
    }
  }
}

/// The routes the app registered (path patterns, `:name` one segment, and their methods):
/// filled while the router is built, read-only once it serves.
final class RouteTable: @unchecked Sendable {
  private let lock = NSLock()
  private var routes: [(segments: [Substring], method: HTTPRequest.Method)] = []

  func add(_ path: String, _ method: HTTPRequest.Method) {
    lock.withLock { routes.append((path.split(separator: "/", omittingEmptySubsequences: false), method)) }
  }

  /// The methods registered for a path, nil when no route matches it.
  func methods(forPath path: String) -> [HTTPRequest.Method]? {
    let segments = path.split(separator: "/", omittingEmptySubsequences: false)
    let methods = lock.withLock {
      routes.filter { route in
        route.segments.count == segments.count
          && zip(route.segments, segments).allSatisfy { pattern, s in pattern.hasPrefix(":") ? !s.isEmpty : pattern == s }
      }.map(\.method)
    }
    return methods.isEmpty ? nil : methods
  }
}

/// 404 with a message for paths the app does not have, and 405 with `Allow` for a method a path
/// does not take.
struct KnownRoutes<Context: RequestContext>: RouterMiddleware {
  let table: RouteTable

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    let path = request.uri.path
    guard let methods = table.methods(forPath: path) else {
      throw HTTPError(.notFound, message: "no page or API at \(path.prefix(200))")
    }
    // HEAD of a GET route is answered by the router (autoGenerateHeadEndpoints).
    guard methods.contains(request.method) || (request.method == .head && methods.contains(.get)) else {
      let allow = (methods + (methods.contains(.get) ? [.head] : [])).map(\.rawValue).joined(separator: ", ")
      throw HTTPError(
        .methodNotAllowed, headers: [.allow: allow], message: "\(request.method.rawValue) is not allowed here; use \(allow)")
    }
    return try await next(request, context)
  }
}

/// Headers on every response, errors included: no framing, no sniffing, no referrer (the resume
/// link carries the participant code), and only this server's own scripts, styles and images.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    var response: Response
    do { response = try await next(request, context) } catch let error as any HTTPResponseError {
      response = try error.response(from: request, context: context)
    }
    response.headers[.contentSecurityPolicy] =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    response.headers[.xContentTypeOptions] = "nosniff"
    response.headers[.referrerPolicy] = "no-referrer"
    return response
  }
}

extension HTTPField.Name {
  static let xContentTypeOptions = known("X-Content-Type-Options")
  static let referrerPolicy = known("Referrer-Policy")
  static let retryAfter = known("Retry-After")

  /// A header name written in the source (valid by construction; checked once at start).
  static func known(_ name: String) -> Self {
    guard let n = Self(name) else { preconditionFailure("invalid HTTP header name '\(name)'") }
    return n
  }
}
