import Base
import Foundation
import Study

/// What a participant may do, independent of HTTP: who they are, which image is theirs now, and
/// the one-time recording of an answer. The web app (`StudyApp`) is a thin layer over this.
///
/// Every participant answers every image of the study, in the order `StudySet.order` gives for
/// their seed (every image of the smallest fraction before any image of the next, shuffled within
/// each fraction). Only the first unanswered image of that order can be answered or fetched, so a
/// participant cannot skip ahead, see a larger subset of an image before answering a smaller one,
/// or answer for an image that is not theirs; an answer, once stored, is final.
public final class StudyService: @unchecked Sendable {
  public enum Failure: Error, Equatable, CustomStringConvertible {
    case unknownParticipant
    case unknownImage(String)
    case notCurrent(image: String)
    case alreadyAnswered(image: String)
    case finished
    case invalid(String)
    case questionsFirst

    public var description: String {
      switch self {
      case .unknownParticipant: return "unknown participant: start the study at / first"
      case .unknownImage(let id): return "no image '\(id)' in this study"
      case .notCurrent(let id): return "image '\(id)' is not your current image; answer the images in the order they are shown"
      case .alreadyAnswered(let id): return "image '\(id)' has already been answered; answers cannot be changed"
      case .finished: return "every image has been answered"
      case .invalid(let message): return message
      case .questionsFirst: return "answer the questions first (POST /api/responses)"
      }
    }
  }

  /// A participant's position in the study.
  public struct State: Codable, Equatable, Sendable {
    public var participant: String
    public var total: Int
    public var answered: Int
    public var done: Bool
    /// The current image's id, `nil` when done.
    public var image: String?
    /// 1-based number of the current batch (fraction) and the number of batches.
    public var part: Int
    public var parts: Int
    public var classNames: [String]
    /// Whether the study's questions (questions.json) still wait for this participant.
    public var questionsPending: Bool = false
  }

  public let study: StudySet
  public let store: AnswerStore
  /// The host's questions (`questions.json`), asked before the first photo.
  public let questionnaire: Questionnaire?
  let images: [String: StudyImage]
  let pngs: [String: [UInt8]]
  /// Serializes "is this the current image?" with the insert, so two concurrent requests of one
  /// participant cannot both pass the check.
  private let lock = NSLock()

  /// Loads the study folder (`study.json` and its PNG files, read once into memory) and opens
  /// (or creates) the answers database.
  /// The condition this study is in a server hosting several (0 with one study).
  public let condition: Int
  public let folder: String

  public init(studyFolder: String, database: String, condition: Int = 0) throws {
    self.condition = condition
    folder = studyFolder
    study = try StudySet.load(studyFolder)
    guard !study.images.isEmpty else { throw FileFormatError(studyFolder + "/study.json", "the study has no images") }
    var images: [String: StudyImage] = [:]
    var pngs: [String: [UInt8]] = [:]
    for image in study.images {
      guard images[image.id] == nil else {
        throw FileFormatError(studyFolder + "/study.json", "image id '\(image.id)' appears twice")
      }
      images[image.id] = image
      let path = studyFolder + "/" + image.file
      guard let data = FileManager.default.contents(atPath: path), data.starts(with: [0x89, 0x50, 0x4e, 0x47]) else {
        throw FileFormatError(path, "missing or not a PNG file (listed in study.json)")
      }
      pngs[image.id] = Array(data)
    }
    self.images = images
    self.pngs = pngs
    questionnaire = try Questionnaire.load(studyFolder: studyFolder)
    store = try AnswerStore(path: database)
    try store.bind(
      studySHA256: try SHA256.hex(file: studyFolder + "/study.json"), studyPath: studyFolder, condition: condition)
  }

  /// A new anonymous participant: a random 128-bit id (the participant's only credential) and a
  /// random shuffling seed.
  public func newParticipant() throws -> String {
    var generator = SystemRandomNumberGenerator()
    let id = (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    try store.addParticipant(id: id, seed: generator.next() & 0x7fff_ffff_ffff_ffff, condition: condition)
    return id
  }

  static func plausibleID(_ id: String) -> Bool {
    id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase }
  }

  private func order(_ participant: String) throws -> [(image: StudyImage, part: Int)] {
    guard Self.plausibleID(participant), let known = try store.participant(participant), known.condition == condition else {
      throw Failure.unknownParticipant
    }
    return study.orderWithParts(participantSeed: known.seed)
  }

  /// The participant's current image and its part: the first of their order not answered yet
  /// (nil when done).
  private func current(_ order: [(image: StudyImage, part: Int)], answered: Set<String>) -> (image: StudyImage, part: Int)? {
    order.first { !answered.contains($0.image.id) }
  }

  /// `part` is 0 during practice.
  private func state(_ participant: String, order: [(image: StudyImage, part: Int)], answered: Set<String>) throws -> State {
    let current = current(order, answered: answered)
    return State(
      participant: participant, total: order.count, answered: order.count(where: { answered.contains($0.image.id) }),
      done: current == nil,
      image: current?.image.id, part: current?.part ?? study.fractions.count, parts: study.fractions.count,
      classNames: study.classNames, questionsPending: try questionsPending(participant))
  }

  func questionsPending(_ participant: String) throws -> Bool {
    guard let questionnaire, !questionnaire.questions.isEmpty else { return false }
    return try !store.hasResponses(participant)
  }

  /// Stores the participant's responses to the questions (once), after checking them.
  public func respond(participant: String, responses: [String: String]) throws -> State {
    let order = try order(participant)
    guard let questionnaire else { throw Failure.invalid("this study asks no questions") }
    let checked: [String: String]
    switch questionnaire.validate(responses) {
    case .success(let r): checked = r
    case .failure(let e): throw Failure.invalid(e.description)
    }
    lock.lock()
    defer { lock.unlock() }
    guard try store.addResponses(participant: participant, responses: checked) else {
      throw Failure.invalid("the questions have been answered already")
    }
    return try state(participant, order: order, answered: try store.answeredImages(participant))
  }

  public func state(_ participant: String) throws -> State {
    let order = try order(participant)
    return try state(participant, order: order, answered: try store.answeredImages(participant))
  }

  /// Records `answer` (a class index) for `image`, which must be the participant's current image.
  /// Returns the new state.
  public func submit(participant: String, image: String, answer: Int, milliseconds: Int) throws -> State {
    let order = try order(participant)
    guard let info = images[image] else { throw Failure.unknownImage(image) }
    guard study.classNames.indices.contains(answer) else {
      throw Failure.invalid("answer must be a class index from 0 to \(study.classNames.count - 1), got \(answer)")
    }
    guard (0...86_400_000).contains(milliseconds) else {
      throw Failure.invalid("milliseconds must be between 0 and 86400000, got \(milliseconds)")
    }
    if try questionsPending(participant) { throw Failure.questionsFirst }
    lock.lock()
    defer { lock.unlock() }
    var answered = try store.answeredImages(participant)
    if answered.contains(image) { throw Failure.alreadyAnswered(image: image) }
    guard let current = current(order, answered: answered) else { throw Failure.finished }
    guard current.image.id == image else { throw Failure.notCurrent(image: image) }
    guard try store.addAnswer(participant: participant, image: info, answer: answer, milliseconds: milliseconds) else {
      throw Failure.alreadyAnswered(image: image)
    }
    answered.insert(image)
    return try state(participant, order: order, answered: answered)
  }

  /// The PNG of `image` if the participant has reached it (their current image or one already
  /// answered); images further on are not shown early.
  public func png(participant: String, image: String) throws -> [UInt8] {
    let order = try order(participant)
    guard let bytes = pngs[image] else { throw Failure.unknownImage(image) }
    let answered = try store.answeredImages(participant)
    guard answered.contains(image) || current(order, answered: answered)?.image.id == image else {
      throw Failure.notCurrent(image: image)
    }
    return bytes
  }
}

extension String {
  fileprivate func leftPadded(to length: Int) -> String {
    count >= length ? self : String(repeating: "0", count: length - count) + self
  }
}
