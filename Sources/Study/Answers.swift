import Base
import Foundation

/// The answers database: participants and their answers, one row per (participant, image),
/// written as each answer arrives.
public final class AnswerStore: @unchecked Sendable {
  public let db: Database

  public init(path: String) throws {
    db = try Database(path: path)
    try db.execute(
      "CREATE TABLE IF NOT EXISTS participants (id TEXT PRIMARY KEY, seed INTEGER NOT NULL, created REAL NOT NULL)")
    try db.execute(
      """
      CREATE TABLE IF NOT EXISTS answers (
        participant TEXT NOT NULL REFERENCES participants(id), image TEXT NOT NULL, fraction REAL NOT NULL,
        label INTEGER NOT NULL, answer INTEGER NOT NULL, milliseconds INTEGER NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (participant, image))
      """)
    // The condition each participant was assigned to (one server hosting several studies);
    // databases made before conditions get the column, every participant in condition 0.
    let columns = try db.execute("PRAGMA table_info(participants)").compactMap { $0.count > 1 ? $0[1].text : nil }
    if !columns.contains("condition") {
      try db.execute("ALTER TABLE participants ADD COLUMN condition INTEGER NOT NULL DEFAULT 0")
    }
    // The study hash (`bind`) and the responses to the host's questions.
    try db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    try db.execute(
      "CREATE TABLE IF NOT EXISTS responses (participant TEXT PRIMARY KEY REFERENCES participants(id), json TEXT NOT NULL, created REAL NOT NULL)"
    )
  }

  /// Ties the database to one study: the SHA-256 of its `study.json` is stored the first time,
  /// and a database that holds another study's hash is refused (answers of one study analysed or
  /// extended as another's would be wrong without a sign).
  /// With conditions, each condition's study is bound on its own.
  public func bind(studySHA256 hash: String, studyPath: String, condition: Int = 0) throws {
    let key = Self.studyKey(condition)
    if let stored = try db.execute("SELECT value FROM meta WHERE key = ?", [.text(key)]).first?.first?.text {
      guard stored == hash else {
        throw FileFormatError(
          db.path,
          "holds answers to another study (study.json SHA-256 \(stored.prefix(12))...), not to \(studyPath) (\(hash.prefix(12))...): use the database made for that study, or a new one"
        )
      }
      return
    }
    try db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", [.text(key), .text(hash)])
  }

  static func studyKey(_ condition: Int) -> String { condition == 0 ? "study_sha256" : "study_sha256_condition_\(condition)" }

  /// The study hash stored by `bind`, if any (databases made before it have none).
  public func studySHA256(condition: Int = 0) throws -> String? {
    try db.execute("SELECT value FROM meta WHERE key = ?", [.text(Self.studyKey(condition))]).first?.first?.text
  }

  /// Stores a participant's responses to the questions (once: a second call returns false).
  public func addResponses(participant: String, responses: [String: String]) throws -> Bool {
    let json = String(decoding: try JSONSerialization.data(withJSONObject: responses, options: [.sortedKeys]), as: UTF8.self)
    do {
      try db.execute(
        "INSERT INTO responses (participant, json, created) VALUES (?, ?, ?)",
        [.text(participant), .text(json), .double(Date().timeIntervalSince1970)])
      return true
    } catch let e as Database.Failure where e.code == 19 {
      return false
    }
  }

  /// Whether the participant has responded to the questions.
  public func hasResponses(_ participant: String) throws -> Bool {
    try !db.execute("SELECT 1 FROM responses WHERE participant = ?", [.text(participant)]).isEmpty
  }

  /// Every participant's responses to the questions.
  public func allResponses() throws -> [String: [String: String]] {
    var out: [String: [String: String]] = [:]
    for row in try db.execute("SELECT participant, json FROM responses") {
      guard let p = row[0].text, let text = row[1].text,
        let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String]
      else { continue }
      out[p] = object
    }
    return out
  }

  public func addParticipant(id: String, seed: UInt64, condition: Int = 0) throws {
    try db.execute(
      "INSERT INTO participants (id, seed, created, condition) VALUES (?, ?, ?, ?)",
      [.text(id), .int(Int(seed & 0x7fff_ffff_ffff_ffff)), .double(Date().timeIntervalSince1970), .int(condition)])
  }

  /// The condition a participant was assigned to.
  public func participantCondition(_ id: String) throws -> Int? { try participant(id)?.condition }

  /// A participant's shuffling seed and condition, in one query.
  public func participant(_ id: String) throws -> (seed: UInt64, condition: Int)? {
    guard let row = try db.execute("SELECT seed, condition FROM participants WHERE id = ?", [.text(id)]).first,
      let seed = row[0].int, let condition = row[1].int
    else { return nil }
    return (UInt64(seed), condition)
  }

  /// Participants per condition.
  public func conditionCounts() throws -> [Int: Int] {
    var out: [Int: Int] = [:]
    for row in try db.execute("SELECT condition, COUNT(*) FROM participants GROUP BY condition") {
      if let c = row[0].int, let n = row[1].int { out[c] = n }
    }
    return out
  }

  public func participantSeed(_ id: String) throws -> UInt64? { try participant(id)?.seed }

  /// Stores an answer; a second answer for the same image is refused (returns false).
  public func addAnswer(participant: String, image: StudyImage, answer: Int, milliseconds: Int) throws -> Bool {
    do {
      try db.execute(
        "INSERT INTO answers (participant, image, fraction, label, answer, milliseconds, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
          .text(participant), .text(image.id), .double(image.fraction), .int(image.label), .int(answer), .int(milliseconds),
          .double(Date().timeIntervalSince1970),
        ])
      return true
    } catch let e as Database.Failure where e.code == 19 {  // SQLITE_CONSTRAINT: already answered
      return false
    }
  }

  public func answeredImages(_ participant: String) throws -> Set<String> {
    Set(try db.execute("SELECT image FROM answers WHERE participant = ?", [.text(participant)]).compactMap { $0.first?.text })
  }

  public struct Row: Sendable {
    public var participant: String
    public var image: String
    public var fraction: Double
    public var label: Int
    public var answer: Int
    public var milliseconds: Int
    /// When the answer was stored (seconds since 1970, UTC).
    public var created: Double = 0

    public init(
      participant: String, image: String, fraction: Double, label: Int, answer: Int, milliseconds: Int, created: Double = 0
    ) {
      self.participant = participant
      self.image = image
      self.fraction = fraction
      self.label = label
      self.answer = answer
      self.milliseconds = milliseconds
      self.created = created
    }
  }

  /// Every answer, or only those of the participants in `condition`.
  public func allAnswers(condition: Int? = nil) throws -> [Row] {
    try db.execute(
      """
      SELECT a.participant, a.image, a.fraction, a.label, a.answer, a.milliseconds, a.created
      FROM answers a JOIN participants p ON p.id = a.participant
      WHERE ? IS NULL OR p.condition = ? ORDER BY a.participant, a.created
      """, [condition.map { .int($0) } ?? .null, condition.map { .int($0) } ?? .null]
    )
    .map {
      Row(
        participant: $0[0].text ?? "", image: $0[1].text ?? "", fraction: $0[2].double ?? 0, label: $0[3].int ?? -1,
        answer: $0[4].int ?? -1, milliseconds: $0[5].int ?? 0, created: $0[6].double ?? 0)
    }
  }

  /// Every participant: id, shuffling seed, and when they started (seconds since 1970, UTC).
  public func allParticipants(condition: Int? = nil) throws -> [(id: String, seed: UInt64, created: Double)] {
    try db.execute(
      "SELECT id, seed, created FROM participants WHERE ? IS NULL OR condition = ? ORDER BY created",
      [condition.map { .int($0) } ?? .null, condition.map { .int($0) } ?? .null]
    ).map {
      ($0[0].text ?? "", UInt64($0[1].int ?? 0), $0[2].double ?? 0)
    }
  }
}
