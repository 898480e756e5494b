import Audit
import Base
import Foundation
import SIS
import Testing

/// An audit folder is resumed when its record matches: model contents (not paths), data, images,
/// selection and analysis; folders written before every selection parameter was recorded compare
/// what they recorded.
@Suite struct RecordTests {
  func settings(selection: SelectionSettings?, path: String = "/m/a.safetensors", sha: String = "abc") -> AuditSettings {
    AuditSettings(
      modelPaths: [path], modelSHA256: [sha], dataPath: "/d", dataSplit: "holdout", dataHoldout: 5000, dataLabels: nil,
      minConfidence: 0.5, correctOnly: false, sample: 30, seed: 35, method: selection?.method.rawValue ?? "fast",
      score: "logprob", k: selection?.k ?? 8, thresholds: [0.5, 0.9], fraction: 0.05, selection: selection)
  }

  let fast = SelectionSettings(
    method: .fast, k: 8, hybrid: HybridSettings(switchAt: 0.999, exactLast: 256), screening: ScreeningSettings())

  @Test func comparesContentsNotPathsAndNamesTheField() throws {
    let a = settings(selection: fast)
    #expect(a.record.differences(from: settings(selection: fast, path: "/elsewhere/a.safetensors").record).isEmpty)
    #expect(a.record.differences(from: settings(selection: fast, sha: "abd").record) == ["models"])
    var other = fast
    other.hybrid?.switchAt = 0.99
    #expect(a.record.differences(from: settings(selection: other).record) == ["selection.hybrid.switchAt (0.999 vs 0.99)"])
    var screen = fast
    let top = fast.screening!.top
    screen.screening?.top = top + 4
    #expect(
      a.record.differences(from: settings(selection: screen).record) == ["selection.screening.top (\(top) vs \(top + 4))"])
  }

  @Test func oldAuditFilesCompareWhatTheyRecorded() throws {
    // audit.json as written before `selection` existed: the key is absent.
    let current = settings(selection: fast)
    var json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(current)) as? [String: Any])
    json["selection"] = nil
    let old = try JSONDecoder().decode(AuditSettings.self, from: try JSONSerialization.data(withJSONObject: json))
    #expect(old.selection == nil)
    #expect(old.record.differences(from: current.record(comparedWith: old)).isEmpty)
    var tuned = fast
    tuned.screening?.top = 12
    #expect(
      old.record.differences(from: settings(selection: tuned).record(comparedWith: old)).isEmpty,
      "its run's manifest checks the rest")
    let exact = settings(selection: SelectionSettings(method: .exact))
    #expect(old.record.differences(from: exact.record(comparedWith: old)).contains { $0.hasPrefix("selection.method") })
  }
}
