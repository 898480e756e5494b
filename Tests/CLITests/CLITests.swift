import Foundation
import TestSupport
import Testing
import Torch

/// Runs the built `overinterp` binary (next to the test bundle) and captures its output.
struct CLI {
  static let binary = overinterpBinary

  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  static func run(_ args: [String], environment extra: [String: String] = [:], directory: String? = nil) throws -> Result {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = args
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    var env = ProcessInfo.processInfo.environment
    env["OMP_NUM_THREADS"] = "1"
    env.merge(extra) { _, new in new }
    p.environment = env
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Result(
      status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
  }
}

let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data")
  .standardized.path
let haveSharedData = FileManager.default.fileExists(atPath: sharedData + "/cifar-10-batches-bin/test_batch.bin")
let cliFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

func tempPath(_ name: String) -> String {
  NSTemporaryDirectory() + "/cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}

@Suite(.serialized) struct CLITests {
  @Test func evalOnEmbeddedDefaultsIsConsistent() throws {
    let r = try CLI.run(["eval", "--json", "--threads", "1"])
    #expect(r.status == 0, "\(r.stderr)")
    let root = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect(root["images"] as? Int == 100)
    let model = try #require((root["models"] as? [[String: Any]])?.first)
    let confusion = try #require(model["confusion"] as? [[Int]])
    let correct = try #require(model["correct"] as? Int)
    #expect(confusion.flatMap { $0 }.reduce(0, +) == 100)
    #expect(confusion.indices.map { confusion[$0][$0] }.reduce(0, +) == correct)
    #expect(confusion.allSatisfy { $0.reduce(0, +) == 10 })
  }

  @Test(
    .enabled(if: haveSharedData),
    arguments: [("resnet20-12fca82f.th", "resnet20", "0.8103"), ("resnet32-d509ac18.th", "resnet32", "0.8256")])
  func convertedAkamasterModelsReachTheReferenceAccuracy(file: String, arch: String, accuracy: String) throws {
    let out = tempPath("\(arch).safetensors")
    defer { unlink(out) }
    let c = try CLI.run([
      "convert", sharedData + "/models/cifar10_resnet_akamaster/" + file, out, "--arch", arch, "--normalization", "imagenet",
    ])
    #expect(c.status == 0, "\(c.stderr)")
    let r = try CLI.run(["eval", "--model", out, "--data", sharedData + "/cifar-10-batches-bin", "--split", "test", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("\"accuracy\" : \(accuracy)"), "\(r.stdout.prefix(400))")
    #expect(r.stdout.contains("JPEG-degraded"))
  }

  @Test(.enabled(if: haveSharedData)) func wrongArchitectureListsTheMismatches() throws {
    let out = tempPath("x.safetensors")
    let r = try CLI.run([
      "convert", sharedData + "/models/cifar10_resnet_akamaster/resnet32-d509ac18.th", out, "--arch", "resnet20",
    ])
    #expect(r.status != 0)
    #expect(r.stderr.contains("unexpected layer1.3.conv1.weight"), "\(r.stderr)")
  }

  /// `--version` names the linked libtorch (the one the tests run against) and its CUDA support.
  @Test func versionNamesTheLinkedLibtorch() throws {
    let r = try CLI.run(["--version"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.hasPrefix("overinterp 0.1.0, libtorch \(Runtime.libtorchVersion), "), "\(r.stdout)")
    #expect(r.stdout.contains(Runtime.hasCUDA ? "CUDA" : "CPU only"), "\(r.stdout)")
    // A device the build cannot use fails before any work, naming the build.
    let cuda = try CLI.run(["eval", "--device", "cuda:\(Runtime.cudaDeviceCount)"])
    #expect(cuda.status != 0, "\(cuda.stdout)")
    #expect(cuda.stderr.contains("this build links libtorch \(Runtime.libtorchVersion)"), "\(cuda.stderr)")
    #expect(cuda.stderr.contains(Runtime.hasCUDA ? "no such device" : "build against a CUDA libtorch"), "\(cuda.stderr)")
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("train-cuda-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: out) }
    let train = try CLI.run(["train", "--data", "default", "--out", out, "--device", "cuda:\(Runtime.cudaDeviceCount)"])
    #expect(train.status != 0 && train.stderr.contains("this build links libtorch"), "\(train.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors"))
  }

  @Test func badFlagValuesAreRejectedByName() throws {
    let a = try CLI.run(["eval", "--batch-size", "0"])
    #expect(a.status != 0)
    #expect(a.stderr.contains("--batch-size"))
    let b = try CLI.run(["eval", "--threads", "0"])
    #expect(b.stderr.contains("--threads"))
    let c = try CLI.run(["eval", "--data", "/nonexistent/cifar"])
    #expect(c.status != 0)
    #expect(c.stderr.contains("/nonexistent/cifar") && c.stderr.contains("(--data)"), "the library's setting, named by its flag")
    let npy = tempPath("images.npy")
    FileManager.default.createFile(atPath: npy, contents: Data())
    defer { try? FileManager.default.removeItem(atPath: npy) }
    let noLabels = try CLI.run(["eval", "--data", npy])
    #expect(noLabels.stderr.contains("needs --labels LABELS.npy"), "\(noLabels.stderr)")
    let fraction = try CLI.run(["audit", "--fraction", "1.5", "--out", tempPath("audit-fraction"), "--plan"])
    #expect(fraction.status != 0 && fraction.stderr.contains("--fraction must be in (0, 1], got 1.5"), "\(fraction.stderr)")
    let d = try CLI.run(["eval", "--normalization", "nonsense", "--arch", "resnet20"])
    #expect(d.stderr.contains("--normalization"))
    let e = try CLI.run(["convert", "a.pt", "b.bin", "--arch", "resnet20"])
    #expect(e.stderr.contains(".safetensors"))
    // --arch and --normalization are parsed into their types, the choices named.
    for command in [["train", "--data", "x", "--out", "y"], ["convert", "a.pt", "b.safetensors"], ["eval"]] {
      let f = try CLI.run(command + ["--arch", "resnet21"])
      #expect(f.status != 0 && f.stderr.contains("--arch") && f.stderr.contains("resnet20"), "\(command): \(f.stderr)")
      let g = try CLI.run(command + ["--arch", "resnet20", "--normalization", "0.5,0.5,0.5/1,0,1"])
      #expect(g.status != 0 && g.stderr.contains("--normalization"), "\(command): \(g.stderr)")
    }
  }

  @Test func truncatedDataFileIsNamedInTheError() throws {
    let dir = tempPath("cifar")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Data(repeating: 1, count: 3073 * 2 + 5).write(to: URL(fileURLWithPath: dir + "/test_batch.bin"))
    let r = try CLI.run(["eval", "--data", dir])
    #expect(r.status != 0)
    #expect(r.stderr.contains("test_batch.bin"))
    #expect(r.stderr.contains("truncated"))
  }

  @Test(arguments: ["evil.pkl", "evil_zip.pt"]) func maliciousCheckpointIsRefused(file: String) throws {
    let evil = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
      "../TorchTests/Fixtures/" + file
    ).standardized.path
    let r = try CLI.run(["convert", evil, tempPath("e.safetensors"), "--arch", "resnet20"])
    #expect(r.status != 0)
    #expect(r.stderr.contains("refusing to load global 'posix.system'"), "\(r.stderr)")
  }

  /// In a pipe (a job under nohup or Slurm) progress is a plain line every
  /// OVERINTERP_PROGRESS_SECONDS, and nothing when it is 0.
  @Test func progressInAPipeIsPlainLines() throws {
    let often = try CLI.run(
      ["eval", "--batch-size", "10", "--threads", "1"], environment: ["OVERINTERP_PROGRESS_SECONDS": "0.000001"])
    #expect(often.status == 0)
    let lines = often.stderr.split(separator: "\n").filter { $0.hasPrefix("eval default ") }
    #expect(lines.count >= 5, "\(often.stderr)")
    #expect(lines.last?.contains("100/100 images") == true, "\(often.stderr)")
    #expect(!often.stderr.contains("\u{1b}["), "no terminal control codes in a pipe")
    let never = try CLI.run(["eval", "--batch-size", "10", "--threads", "1"], environment: ["OVERINTERP_PROGRESS_SECONDS": "0"])
    #expect(!never.stderr.contains("eval default"), "\(never.stderr)")
  }

  /// Help text snapshot; regenerate with OVERINTERP_UPDATE_SNAPSHOTS=1.
  @Test func evalHelpSnapshot() throws {
    let r = try CLI.run(["eval", "--help"])
    #expect(r.status == 0)
    let path = cliFixtures + "/eval-help.txt"
    if ProcessInfo.processInfo.environment["OVERINTERP_UPDATE_SNAPSHOTS"] == "1" {
      try r.stdout.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let expected = try String(contentsOfFile: path, encoding: .utf8)
    #expect(r.stdout == expected)
  }
}
