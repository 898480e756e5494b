import Base
import Foundation
import Testing

/// `train --adversarial pgd --initialize` and `eval --attack pgd` from the CLI on a tiny
/// CIFAR-10-format folder (5 training batches and a test batch of 8 images each).
@Suite(.serialized) struct AdversarialCLITests {
  func tinyCIFARFolder() throws -> String {
    let dir = NSTemporaryDirectory() + "/adv-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var state: UInt64 = 17
    for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
      var bytes: [UInt8] = []
      for i in 0..<8 {
        bytes.append(UInt8(i % 10))
        for _ in 0..<3072 {
          state = state &* 6364136223846793005 &+ 1442695040888963407
          bytes.append(UInt8(truncatingIfNeeded: state >> 56))
        }
      }
      try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
    }
    return dir
  }

  @Test func adversarialFineTuningAndRobustEvaluation() throws {
    let data = try tinyCIFARFolder()
    defer { try? FileManager.default.removeItem(atPath: data) }
    let out = data + "/robust"
    let train = try CLI.run([
      "train", "--data", data, "--out", out, "--holdout", "8", "--epochs", "1", "--batch-size", "8", "--threads", "1",
      "--adversarial", "pgd", "--eps", "8/255", "--step", "4/255", "--steps", "2", "--initialize", "default",
    ])
    #expect(train.status == 0, "\(train.stderr)")
    #expect(train.stderr.contains("adversarial training with PGD-2, eps 8/255, step 4/255, random start"), "\(train.stderr)")
    #expect(train.stdout.contains("val under attack"), "\(train.stdout)")
    let config = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
    #expect(config.contains("\"adversarial\"") && config.contains("\"initialWeightsSHA256\""), "\(config)")

    let bad = try CLI.run(["train", "--data", data, "--out", data + "/bad", "--adversarial", "fgsm"])
    #expect(bad.status != 0 && bad.stderr.contains("--adversarial must be pgd"), "\(bad.stderr)")
    let badEps = try CLI.run(["eval", "--attack", "pgd", "--eps", "2", "--data", data])
    #expect(badEps.status != 0 && badEps.stderr.contains("--eps must be in (0, 1]"), "\(badEps.stderr)")
    // The libraries name settings; the CLI names the flags that set them.
    let badLR = try CLI.run(["train", "--data", data, "--out", data + "/bad", "--lr", "0"])
    #expect(badLR.status != 0 && badLR.stderr.contains("--lr must be a positive number, got 0.0"), "\(badLR.stderr)")
    let badHoldout = try CLI.run(["eval", "--data", data, "--holdout", "50000"])
    #expect(
      badHoldout.status != 0 && badHoldout.stderr.contains("--holdout must be between 0 and 49,999"), "\(badHoldout.stderr)")

    let eval = try CLI.run([
      "eval", "--model", out + "/model.safetensors", "--data", data, "--split", "test", "--attack", "pgd", "--steps", "3",
      "--json", "--threads", "1",
    ])
    #expect(eval.status == 0, "\(eval.stderr)")
    let root = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
    let model = try #require((root["models"] as? [[String: Any]])?.first)
    let clean = try #require(model["clean_accuracy"] as? Double)
    let robust = try #require(model["robust_accuracy"] as? Double)
    #expect(robust <= clean)
    #expect(try #require(model["max_perturbation"] as? Double) <= 8.0 / 255 + 1e-5)
    #expect((root["attack"] as? [String: Any])?["steps"] as? Int == 3)
  }
}
