import Datasets
import Foundation
import Testing

@testable import Study

func tempStudyDir(_ n: String) -> String {
  NSTemporaryDirectory() + "/study-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(n)"
}

func syntheticStudy() -> StudySet {
  var images: [StudyImage] = []
  for (k, f) in [0.05, 0.3].enumerated() {
    for i in 0..<4 {
      images.append(
        StudyImage(
          id: "i\(i)-f\(k)", file: "i\(i)-f\(k).png", sourceIndex: i, label: i % 2, run: "r", fraction: f,
          keptPixels: [52, 308][k]))
    }
  }
  return StudySet(classNames: ["a", "b"], fractions: [0.05, 0.3], perClass: 2, seed: 0, confidence: 0.99, images: images)
}

@Suite struct StudyTests {
  @Test func everyLowFractionImageComesFirstAndOrderIsSeeded() {
    let s = syntheticStudy()
    let a = s.order(participantSeed: 1)
    #expect(a.prefix(4).allSatisfy { $0.fraction == 0.05 })
    #expect(a.suffix(4).allSatisfy { $0.fraction == 0.3 })
    #expect(a == s.order(participantSeed: 1))
    #expect(Set(a.map(\.id)) == Set(s.images.map(\.id)))
  }

  @Test func answersAreStoredOnceAndReportMatchesHandComputation() throws {
    let path = tempStudyDir("db.sqlite")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let s = syntheticStudy()
    let store = try AnswerStore(path: path)
    try store.addParticipant(id: "p1", seed: 1)
    try store.addParticipant(id: "p2", seed: 2)
    let byID = Dictionary(uniqueKeysWithValues: s.images.map { ($0.id, $0) })
    // p1: at 5% right on i0, i1; wrong on i2, i3 -> 0.5. At 30%: all right -> 1.0.
    // p2: at 5% right on i0 only -> 0.25. At 30%: right on i0, i1, i2 -> 0.75.
    let answers: [(String, String, Bool)] = [
      ("p1", "i0-f0", true), ("p1", "i1-f0", true), ("p1", "i2-f0", false), ("p1", "i3-f0", false),
      ("p1", "i0-f1", true), ("p1", "i1-f1", true), ("p1", "i2-f1", true), ("p1", "i3-f1", true),
      ("p2", "i0-f0", true), ("p2", "i1-f0", false), ("p2", "i2-f0", false), ("p2", "i3-f0", false),
      ("p2", "i0-f1", true), ("p2", "i1-f1", true), ("p2", "i2-f1", true), ("p2", "i3-f1", false),
    ]
    for (p, id, right) in answers {
      let image = try #require(byID[id])
      #expect(
        try store.addAnswer(participant: p, image: image, answer: right ? image.label : 1 - image.label, milliseconds: 1000))
    }
    // A second answer to the same image is refused and changes nothing.
    let first = try #require(byID["i0-f0"])
    #expect(try store.addAnswer(participant: "p1", image: first, answer: 1 - first.label, milliseconds: 5) == false)
    #expect(try store.answeredImages("p1").count == 8)

    let report = StudyReport(study: s, answers: try store.allAnswers())
    #expect(report.participants == 2 && report.answers == 16)
    let low = report.rows[0]
    #expect(low.perParticipant == ["p1": 0.5, "p2": 0.25])
    #expect(abs((low.mean ?? -1) - 0.375) < 1e-12)
    #expect(abs((low.std ?? -1) - (0.125 * 0.125 * 2).squareRoot()) < 1e-12)
    #expect(abs((report.rows[1].mean ?? -1) - 0.875) < 1e-12)
    // Class a (label 0: i0, i2) at 5%: p1 i0 right, i2 wrong; p2 i0 right, i2 wrong -> 0.5.
    #expect(low.perClass[0] == 0.5)
    // Per-image accuracy rises with kept pixels: R² of the 8 points (52 -> mean 0.375, 308 -> 0.875 on average) is positive.
    #expect((report.rSquared ?? 0) > 0.3 && (report.rSquared ?? 2) <= 1)
    #expect(report.completed == 2)
    let csv = answersCSV(try store.allAnswers())
    #expect(csv.split(separator: "\n").count == 17)
    #expect(report.svg().contains("<svg"))
  }

  /// Defect 6 of #22: a fraction without answers printed 0.0 ± 0.0 and was plotted at 0%, an
  /// undefined R² printed 0.000, a std of one participant 0.0, and participants who stopped early
  /// counted like those who finished, with no count of completions.
  @Test func reportSaysWhatItCannotKnow() throws {
    let s = syntheticStudy()
    let byID = Dictionary(uniqueKeysWithValues: s.images.map { ($0.id, $0) })
    func row(_ p: String, _ id: String, right: Bool) throws -> AnswerStore.Row {
      let image = try #require(byID[id])
      return AnswerStore.Row(
        participant: p, image: id, fraction: image.fraction, label: image.label, answer: right ? image.label : 1 - image.label,
        milliseconds: 500)
    }
    // Only p1 has answered, one image of the 5% part.
    let one = StudyReport(study: s, answers: [try row("p1", "i0-f0", right: true)])
    #expect(one.rows[0].mean == 1 && one.rows[0].std == nil && one.rows[1].mean == nil && one.rSquared == nil)
    let text = one.text(classNames: s.classNames)
    #expect(text.contains("   30%     no answers"), "\(text)")
    #expect(text.contains("  100.0 ±    -  (n = 1)"), "\(text)")
    #expect(text.contains("R² between kept pixels and per-image human accuracy: undefined"), "\(text)")
    #expect(text.contains("1 participant(s), 0 of them answered all images"), "\(text)")
    // Only the 5% point is drawn (plus the two legend dots and the paper's three).
    #expect(one.svg().components(separatedBy: "fill=\"#1f77b4\"").count - 1 == 2)
    // p2 finishes all 8 images (all right); p1 stopped after one (wrong this time).
    var rows = [try row("p1", "i0-f0", right: false)]
    for image in s.images { rows.append(try row("p2", image.id, right: true)) }
    let all = StudyReport(study: s, answers: rows)
    #expect(all.participants == 2 && all.completed == 1 && all.rows[0].mean == 0.5)
    let complete = StudyReport(study: s, answers: rows, completeOnly: true)
    #expect(complete.participants == 1 && complete.answers == 8 && complete.rows[0].mean == 1)
    #expect(complete.text(classNames: s.classNames).contains("1 participant(s) who answered all images"))
    // Answers to images the study does not have are found (study report refuses them).
    var foreign = try row("p3", "i0-f0", right: true)
    foreign.image = "elsewhere"
    #expect(StudyReport.foreignAnswers(rows + [foreign], study: s).map(\.image) == ["elsewhere"])
  }

  @Test func sqlIsParameterized() throws {
    let path = tempStudyDir("inj.sqlite")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let store = try AnswerStore(path: path)
    let evil = "x'); DROP TABLE answers; --"
    try store.addParticipant(id: evil, seed: 3)
    #expect(try store.participantSeed(evil) == 3)
    #expect(try store.allAnswers().isEmpty)
  }
}

/// A study.json built to attack the server (issue #21): image files outside the study folder
/// (the server sends them to participants), repeated ids and labels outside the classes.
@Suite struct StudyHostileInputTests {
  @Test func studyFilesThatPointOutsideTheFolderAreRefused() throws {
    let good = Array(try JSONEncoder().encode(syntheticStudy()))
    #expect(try StudySet.parse(good, path: "study.json") == syntheticStudy())
    func changed(_ change: (inout StudySet) -> Void) throws -> [UInt8] {
      var set = syntheticStudy()
      change(&set)
      return Array(try JSONEncoder().encode(set))
    }
    let bad: [(String, (inout StudySet) -> Void)] = [
      ("a path outside the folder", { $0.images[0].file = "../../etc/passwd.png" }),
      ("a hidden file", { $0.images[0].file = ".x.png" }),
      ("not a PNG", { $0.images[0].file = "a.txt" }),
      ("a repeated id", { $0.images[1].id = $0.images[0].id }),
      ("a label outside the classes", { $0.images[0].label = $0.classNames.count }),
      ("another format", { $0.format = "overinterp-study/9" }),
    ]
    for (what, change) in bad {
      #expect(throws: Error.self, "\(what)") { try StudySet.parse(try changed(change), path: "study.json") }
    }
  }
}
