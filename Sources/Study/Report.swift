import Base
import Datasets
import Foundation

/// Table 2 of the paper (human accuracy per fraction, mean ± std over participants), per-class
/// accuracy, and the relation between subset size and accuracy (Figure S5).
public struct StudyReport: Sendable {
  public struct FractionRow: Sendable {
    public var fraction: Double
    /// Accuracy of each participant on the images of this fraction they answered.
    public var perParticipant: [String: Double]
    /// Mean and sample std over participants; nil without answers (std also with one participant).
    public var mean: Double?
    public var std: Double?
    /// Accuracy per true class, over all participants.
    public var perClass: [Double?]
  }

  public var rows: [FractionRow]
  /// R² of a least-squares line through (kept pixels, mean human accuracy) over all images; nil
  /// when undefined (fewer than two images answered, or no spread in either).
  public var rSquared: Double?
  /// Participants with at least one answer in the analysis, and those who answered every image.
  public var participants: Int
  public var completed: Int
  public var answers: Int
  /// Whether only participants who answered every image were analysed.
  public var completeOnly: Bool
  /// Each participant's accuracy on the catch trials (full images among the trials), and the
  /// participants left out for falling below `minAttention`.
  public var attention: [String: Double]
  public var minAttention: Double?
  public var excludedForAttention: Int

  /// The paper's Table 2: mean ± std human accuracy (%) at 5%, 30% and 50% of pixels.
  public static let paper: [(Double, Double, Double)] = [(0.05, 19.2, 4.8), (0.3, 40.0, 2.5), (0.5, 68.2, 3.6)]

  /// Answers naming images the study does not have (from another study's database): refused by
  /// `study report`, which names them.
  public static func foreignAnswers(_ answers: [AnswerStore.Row], study: StudySet) -> [AnswerStore.Row] {
    let ids = Set(study.images.map(\.id))
    return answers.filter { !ids.contains($0.image) }
  }

  /// Practice and catch answers are left out of Table 2 and R²; `minAttention` also leaves out
  /// the participants whose catch-trial accuracy is below it.
  public init(study: StudySet, answers all: [AnswerStore.Row], completeOnly: Bool = false, minAttention: Double? = nil) {
    let byImage = Dictionary(uniqueKeysWithValues: study.images.map { ($0.id, $0) })
    let counts = Dictionary(grouping: all, by: \.participant).mapValues { Set($0.map(\.image)).count }
    let complete = Set(counts.filter { $0.value >= study.images.count }.keys)
    var attention: [String: Double] = [:]
    for (p, list) in Dictionary(grouping: all.filter { byImage[$0.image]?.kind == .attention }, by: \.participant) {
      attention[p] = Self.accuracy(list)
    }
    let inattentive = Set(attention.filter { a in minAttention.map { a.value < $0 } ?? false }.keys)
    let answers = all.filter {
      byImage[$0.image]?.kind == nil && (!completeOnly || complete.contains($0.participant))
        && !inattentive.contains($0.participant)
    }
    var rows: [FractionRow] = []
    for f in study.fractions {
      let here = answers.filter { $0.fraction == f }
      var perParticipant: [String: Double] = [:]
      for (p, list) in Dictionary(grouping: here, by: \.participant) {
        perParticipant[p] = Self.accuracy(list)
      }
      let values = Array(perParticipant.values)
      let (mean, std) = meanStd(values)
      let perClass: [Double?] = study.classNames.indices.map { c in
        let list = here.filter { $0.label == c }
        return list.isEmpty ? nil : Self.accuracy(list)
      }
      rows.append(
        FractionRow(
          fraction: f, perParticipant: perParticipant, mean: values.isEmpty ? nil : mean, std: values.count < 2 ? nil : std,
          perClass: perClass))
    }
    var points: [(Double, Double)] = []
    for (image, list) in Dictionary(grouping: answers, by: \.image) {
      guard let info = byImage[image] else { continue }
      points.append((Double(info.keptPixels), Self.accuracy(list)))
    }
    self.rows = rows
    self.rSquared = Self.rSquared(points)
    self.participants = Set(answers.map(\.participant)).count
    self.completed = complete.count
    self.answers = answers.count
    self.completeOnly = completeOnly
    self.attention = attention
    self.minAttention = minAttention
    self.excludedForAttention = inattentive.count
  }

  /// The share of `answers` that name their image's class (answers must not be empty).
  static func accuracy(_ answers: [AnswerStore.Row]) -> Double {
    Double(answers.count { $0.answer == $0.label }) / Double(answers.count)
  }

  static func rSquared(_ points: [(Double, Double)]) -> Double? {
    guard points.count > 1 else { return nil }
    let n = Double(points.count)
    let mx = points.reduce(0) { $0 + $1.0 } / n
    let my = points.reduce(0) { $0 + $1.1 } / n
    var sxy = 0.0
    var sxx = 0.0
    var syy = 0.0
    for (x, y) in points {
      sxy += (x - mx) * (y - my)
      sxx += (x - mx) * (x - mx)
      syy += (y - my) * (y - my)
    }
    guard sxx > 0, syy > 0 else { return nil }
    return sxy * sxy / (sxx * syy)
  }

  /// The report as text (Table 2's form).
  public func text(classNames: [String]) -> String {
    let who =
      completeOnly
      ? "\(participants) participant(s) who answered all images (only they are analysed)"
      : "\(participants) participant(s), \(completed) of them answered all images"
    var lines = ["\(who); \(answers) answer(s)", "", "fraction   human accuracy (%) mean ± std   paper"]
    for r in rows {
      let paper = Self.paper.first { abs($0.0 - r.fraction) < 1e-9 }.map { String(format: "%.1f ± %.1f", $0.1, $0.2) } ?? "-"
      let ours: String
      if let mean = r.mean {
        ours =
          String(format: "%6.1f ± ", mean * 100) + (r.std.map { String(format: "%4.1f", $0 * 100) } ?? "   -")
          + "  (n = \(r.perParticipant.count))".padding(toLength: 17, withPad: " ", startingAt: 0)
      } else {
        ours = "no answers".padding(toLength: 30, withPad: " ", startingAt: 0)
      }
      lines.append(String(format: "%5.0f%%     ", r.fraction * 100) + ours + paper)
    }
    lines.append("")
    lines.append("per class (%): " + classNames.joined(separator: ", "))
    for r in rows {
      lines.append(
        String(format: "%5.0f%%  ", r.fraction * 100)
          + r.perClass.map { $0.map { String(format: "%5.1f", $0 * 100) } ?? "    -" }.joined(separator: " "))
    }
    if !attention.isEmpty {
      let values = Array(attention.values)
      lines.append("")
      lines.append(
        "catch trials (full images): mean accuracy \(fmt(mean(values) * 100, digits: 1))% over \(values.count) participant(s)"
          + (minAttention.map { "; \(excludedForAttention) left out below \(fmt($0 * 100, digits: 0))%" } ?? ""))
    }
    lines.append("")
    lines.append(
      "R² between kept pixels and per-image human accuracy: "
        + (rSquared.map { String(format: "%.3f", $0) } ?? "undefined (fewer than two images answered, or no spread)"))
    return lines.joined(separator: "\n") + "\n"
  }

  /// Accuracy against fraction, ours (mean ± std) beside the paper's, as SVG.
  public func svg() -> String {
    let (w, h, left, bottom) = (480.0, 320.0, 60.0, 40.0)
    func x(_ f: Double) -> Double { left + f * (w - left - 20) }
    func y(_ a: Double) -> Double { h - bottom - a / 100 * (h - bottom - 20) }
    var s =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s +=
      "<line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(x(1))\" y2=\"\(y(0))\" stroke=\"black\"/><line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(left)\" y2=\"\(y(100))\" stroke=\"black\"/>\n"
    for a in stride(from: 0, through: 100, by: 20) {
      s += "<text x=\"\(left - 8)\" y=\"\(y(Double(a)) + 4)\" text-anchor=\"end\">\(a)</text>\n"
    }
    for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
      s += "<text x=\"\(x(f))\" y=\"\(y(0) + 18)\" text-anchor=\"middle\">\(Int(f * 100))%</text>\n"
    }
    s += "<text x=\"\(w / 2)\" y=\"\(h - 4)\" text-anchor=\"middle\">pixels kept</text>\n"
    s += "<text x=\"14\" y=\"\(h / 2)\" transform=\"rotate(-90 14 \(h / 2))\" text-anchor=\"middle\">human accuracy (%)</text>\n"
    for (f, m, sd) in Self.paper {
      s +=
        "<line x1=\"\(x(f) + 4)\" y1=\"\(y(m - sd))\" x2=\"\(x(f) + 4)\" y2=\"\(y(m + sd))\" stroke=\"gray\"/><circle cx=\"\(x(f) + 4)\" cy=\"\(y(m))\" r=\"4\" fill=\"gray\"/>\n"
    }
    // A fraction without answers is not drawn (it is not 0%); one without a std has no bar.
    for r in rows {
      guard let mean = r.mean else { continue }
      if let std = r.std {
        s +=
          "<line x1=\"\(x(r.fraction) - 4)\" y1=\"\(y((mean - std) * 100))\" x2=\"\(x(r.fraction) - 4)\" y2=\"\(y((mean + std) * 100))\" stroke=\"#1f77b4\"/>"
      }
      s += "<circle cx=\"\(x(r.fraction) - 4)\" cy=\"\(y(mean * 100))\" r=\"4\" fill=\"#1f77b4\"/>\n"
    }
    s += "<circle cx=\"\(left + 20)\" cy=\"20\" r=\"4\" fill=\"#1f77b4\"/><text x=\"\(left + 30)\" y=\"24\">this study</text>\n"
    s +=
      "<circle cx=\"\(left + 120)\" cy=\"20\" r=\"4\" fill=\"gray\"/><text x=\"\(left + 130)\" y=\"24\">paper (Table 2)</text>\n"
    return s + "</svg>\n"
  }
}

/// All answers as CSV (participant, image, fraction, label, answer, correct, milliseconds).
public func answersCSV(_ rows: [AnswerStore.Row]) -> String {
  var out = "participant,image,fraction,label,answer,correct,milliseconds\n"
  for r in rows {
    out += "\(r.participant),\(r.image),\(r.fraction),\(r.label),\(r.answer),\(r.answer == r.label ? 1 : 0),\(r.milliseconds)\n"
  }
  return out
}

/// The study's data for analysis elsewhere: per participant the start time, the end time (their
/// last answer, when they answered every image) and every answer with its time and its position
/// in the participant's sequence (1 = the first photo shown).
public struct StudyExport: Codable, Sendable {
  public struct Answer: Codable, Sendable {
    public var image: String
    public var position: Int
    /// "trial", "practice" or "catch".
    public var kind: String
    public var fraction: Double
    public var label: Int
    public var answer: Int
    public var correct: Bool
    public var milliseconds: Int
    public var answeredAt: String
  }
  public struct Participant: Codable, Sendable {
    public var id: String
    public var startedAt: String
    public var finishedAt: String?
    /// The condition (study) the participant was assigned to; 0 with one study.
    public var condition: Int
    /// Responses to the study's questions (questions.json), if any.
    public var responses: [String: String]?
    public var answers: [Answer]
  }
  public var images: Int
  public var participants: [Participant]

  static func iso(_ t: Double) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date(timeIntervalSince1970: t))
  }

  /// `condition`: only the participants of that condition (nil: all, one study).
  public init(study: StudySet, store: AnswerStore, condition: Int? = nil) throws {
    let answers = Dictionary(grouping: try store.allAnswers(condition: condition), by: \.participant)
    let kinds = Dictionary(uniqueKeysWithValues: study.images.map { ($0.id, $0.kind?.rawValue ?? "trial") })
    let responses = try store.allResponses()
    images = study.images.count
    participants = try store.allParticipants(condition: condition).map { p in
      let positions = Dictionary(
        study.order(participantSeed: p.seed).enumerated().map { ($1.id, $0 + 1) }, uniquingKeysWith: { a, _ in a })
      let rows = (answers[p.id] ?? []).sorted { $0.created < $1.created }
      return Participant(
        id: p.id, startedAt: Self.iso(p.created),
        finishedAt: rows.count >= study.images.count ? rows.last.map { Self.iso($0.created) } : nil,
        condition: condition ?? 0, responses: responses[p.id],
        answers: rows.map {
          Answer(
            image: $0.image, position: positions[$0.image] ?? 0, kind: kinds[$0.image] ?? "trial", fraction: $0.fraction,
            label: $0.label, answer: $0.answer,
            correct: $0.answer == $0.label, milliseconds: $0.milliseconds, answeredAt: Self.iso($0.created))
        })
    }
  }

  /// One row per answer: participant, image, position, fraction, label, answer, correct,
  /// milliseconds, answered_at, participant_started_at, participant_finished_at (empty until done).
  public var csv: String {
    var out =
      "participant,image,position,kind,fraction,label,answer,correct,milliseconds,answered_at,participant_started_at,participant_finished_at,condition\n"
    for p in participants {
      for a in p.answers {
        out +=
          "\(p.id),\(a.image),\(a.position),\(a.kind),\(a.fraction),\(a.label),\(a.answer),\(a.correct ? 1 : 0),\(a.milliseconds),\(a.answeredAt),\(p.startedAt),\(p.finishedAt ?? ""),\(p.condition)\n"
      }
    }
    return out
  }

  public var json: String {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self) + "\n"
  }
}

/// Figure S4: every image of one fraction in a grid (8x nearest-neighbour), as PNG.
public func contactSheet(_ study: StudySet, folder: String, fraction: Double, to path: String) throws {
  let images = study.images.filter { $0.fraction == fraction }.sorted { ($0.label, $0.sourceIndex) < ($1.label, $1.sourceIndex) }
  guard !images.isEmpty else { return }
  let columns = max(study.perClass, 1)
  let rows = (images.count + columns - 1) / columns
  let tile = 32 * 4
  let gap = 4
  let width = columns * (tile + gap) + gap
  let height = rows * (tile + gap) + gap
  var canvas = [UInt8](repeating: 255, count: width * height * 3)
  for (k, image) in images.enumerated() {
    let file = folder + "/" + image.file
    let png = try ImageIO.decodePNGAsRGB(try readFile(file), path: file)
    let big = ImageIO.upscale(png.pixels, width: png.width, height: png.height, channels: 3, factor: tile / max(png.width, 1))
    let x0 = gap + (k % columns) * (tile + gap)
    let y0 = gap + (k / columns) * (tile + gap)
    let bw = png.width * (tile / max(png.width, 1))
    for y in 0..<min(tile, big.count / (bw * 3)) {
      for x in 0..<min(tile, bw) {
        for c in 0..<3 { canvas[((y0 + y) * width + x0 + x) * 3 + c] = big[(y * bw + x) * 3 + c] }
      }
    }
  }
  try ImageIO.writePNG(canvas, width: width, height: height, channels: 3, to: path)
}
