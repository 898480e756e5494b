import Base
import Foundation

/// Optional questions asked before the first photo (demographics, vision, ...), configured by the
/// host in `STUDY/questions.json`:
///
///     {"questions": [
///       {"id": "age", "label": "Your age in years", "type": "number", "min": 18, "max": 120, "required": false},
///       {"id": "vision", "label": "Your eyesight", "type": "choice", "options": ["normal", "corrected", "other"]},
///       {"id": "comment", "label": "Anything else?", "type": "text", "maxLength": 200}
///     ]}
///
/// Answers are stored per participant (`AnswerStore.addResponses`) and exported with the answers.
public struct Questionnaire: Codable, Equatable, Sendable {
  public struct Question: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case number, choice, text }
    public var id: String
    public var label: String
    public var type: Kind
    public var options: [String]?
    public var min: Int?
    public var max: Int?
    public var maxLength: Int?
    public var required: Bool?
  }

  public var questions: [Question]

  public init(questions: [Question]) { self.questions = questions }

  /// Reads and checks `questions.json` (absent: nil).
  public static func load(studyFolder: String) throws -> Questionnaire? {
    let path = studyFolder + "/questions.json"
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    let q: Questionnaire
    do { q = try JSONDecoder().decode(Questionnaire.self, from: data) } catch {
      throw FileFormatError(path, "not a questionnaire: \(error)")
    }
    var ids = Set<String>()
    for question in q.questions {
      guard !question.id.isEmpty, question.id.count <= 40, ids.insert(question.id).inserted else {
        throw FileFormatError(path, "question ids must be unique and 1-40 characters ('\(question.id)')")
      }
      if question.type == .choice, (question.options ?? []).isEmpty {
        throw FileFormatError(path, "question '\(question.id)' is a choice without options")
      }
    }
    return q
  }

  /// Checks a participant's responses (question id -> value as text): known questions, numbers
  /// that are integers in range, choices among the options, texts within their length, required
  /// questions present. Returns them, or the first problem.
  public func validate(_ responses: [String: String]) -> Result<[String: String], QuestionError> {
    let byID = Dictionary(uniqueKeysWithValues: questions.map { ($0.id, $0) })
    for (id, value) in responses {
      guard let q = byID[id] else { return .failure(QuestionError("no question '\(id.prefix(40))'")) }
      switch q.type {
      case .number:
        guard let n = Int(value), n >= (q.min ?? .min), n <= (q.max ?? .max) else {
          return .failure(QuestionError("'\(q.id)' must be a whole number from \(q.min ?? 0) to \(q.max ?? Int.max)"))
        }
      case .choice:
        guard (q.options ?? []).contains(value) else { return .failure(QuestionError("'\(q.id)' must be one of the options")) }
      case .text:
        guard value.count <= (q.maxLength ?? 200) else {
          return .failure(QuestionError("'\(q.id)' may have at most \(q.maxLength ?? 200) characters"))
        }
      }
    }
    if let missing = questions.first(where: { $0.required == true && (responses[$0.id] ?? "").isEmpty }) {
      return .failure(QuestionError("'\(missing.id)' needs an answer"))
    }
    return .success(responses.filter { !$0.value.isEmpty })
  }
}

public struct QuestionError: Error, CustomStringConvertible {
  public let description: String
  init(_ d: String) { description = d }
}
