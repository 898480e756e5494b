import Base
import Datasets
import Foundation
import Testing

@testable import SIS

/// Run files built to attack the readers (issue #21): refused with an error naming the file.
@Suite struct RunHostileInputTests {
  let run = {
    var m = manifest(tinyData(4, seed: 9), positions: [0, 1, 2, 3], score: .logprob, group: 2)
    m.data.numClasses = 10
    return m
  }()

  func manifestJSON(_ change: (inout [String: Any]) -> Void) throws -> Data {
    var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(run)) as? [String: Any])
    change(&object)
    return try JSONSerialization.data(withJSONObject: object)
  }

  @Test func manifestsThatCannotDescribeARunAreRefused() throws {
    #expect(try RunStore.parseManifest(try manifestJSON { _ in }, path: "m.json") == run)
    let changes: [(String, (inout [String: Any]) -> Void)] = [
      ("group 0 (divided by)", { $0["group"] = 0 }),
      ("repeated positions", { $0["positions"] = [0, 0, 1, 2] }),
      ("negative position", { $0["positions"] = [-1, 1, 2, 3] }),
      ("no features", { $0["featureCount"] = 0 }),
      ("features that do not divide the input", { $0["featureCount"] = 7 }),
      ("no classes", { $0["numClasses"] = 0 }),
      ("empty input shape", { $0["inputShape"] = [Int]() }),
    ]
    for (what, change) in changes {
      #expect(throws: SISError.self, "\(what)") { try RunStore.parseManifest(try manifestJSON(change), path: "m.json") }
    }
  }

  @Test func shardsThatDoNotBelongToTheRunAreRefused() throws {
    let dir = NSTemporaryDirectory() + "/hostile-shard-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = RunStore(directory: dir)
    try store.writeManifest(run)
    let p = run.featureCount
    func record(_ position: Int, order: [Int]? = nil, predicted: Int = 1) -> ImageRecord {
      ImageRecord(
        position: position, sourceIndex: position, label: 1, predicted: predicted, confidence: 0.9,
        order: order ?? Array((0..<p).reversed()), values: [Float](repeating: 0.5, count: p),
        scores: [Float](repeating: 0, count: p), exactTies: 0, nearTies: 0, seconds: 0)
    }
    func shard(_ records: [ImageRecord]) throws -> [UInt8] {
      try store.writeShard(group: 0, records: records)
      return try readFile(store.shardPath(group: 0))
    }
    #expect(try RunStore.parseShard(try shard([record(0), record(1)]), path: "s.npz", manifest: run).count == 2)
    let bad: [(String, [ImageRecord])] = [
      ("a position outside the run", [record(9)]),
      ("an order with a repeated feature", [record(0, order: [0] + Array(0..<(p - 1)))]),
      ("a prediction outside the classes", [record(0, predicted: 10)]),
    ]
    for (what, records) in bad {
      #expect(throws: SISError.self, "\(what)") { try RunStore.parseShard(try shard(records), path: "s.npz", manifest: run) }
    }
  }
}
