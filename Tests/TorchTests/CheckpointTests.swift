import Base
import Foundation
import Testing

@testable import Torch

let torchFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

@Suite struct CheckpointTests {
  func checkSmall(_ path: String) throws {
    let ck = try TorchCheckpoint(path: path)
    #expect(ck.root["epoch"]?.int == 7)
    #expect(ck.root["best"]?.double == 91.5)
    #expect(ck.root["name"]?.string == "small")
    let sd = Dictionary(try ck.stateDict(), uniquingKeysWith: { a, _ in a })
    #expect(try sd["w"]?.floats() == [0, 1, 2, 3, 4, 5])
    // A transposed (non-contiguous) tensor is materialized in its logical order.
    #expect(sd["wt"]?.shape == [3, 2])
    #expect(try sd["wt"]?.floats() == [0, 3, 1, 4, 2, 5])
    #expect(try sd["idx"]?.scalars(as: Int64.self) == [5, -7, 1 << 40])
    #expect(sd["half"]?.dtype == .float16)
    #expect(try sd["half"]?.floats() == [0.5, -2])
    #expect(try sd["u8"]?.scalars(as: UInt8.self) == [1, 2, 3, 255])
  }

  @Test func readsZipFormat() throws { try checkSmall(torchFixtures + "/small_zip.pt") }

  @Test func readsLegacyFormat() throws { try checkSmall(torchFixtures + "/small_legacy.pt") }

  @Test func refusesPickleThatWouldCallAFunction() throws {
    // evil.pkl reduces to os.system("echo ..."); an unrestricted unpickler would run it.
    var r = ByteReader(try readFile(torchFixtures + "/evil.pkl"), path: "evil.pkl")
    do {
      _ = try PickleReader(path: "evil.pkl").load(&r)
      Issue.record("the restricted reader accepted a pickle that calls os.system")
    } catch let e as FileFormatError {
      #expect(e.message.contains("posix.system") || e.message.contains("os.system"), "\(e.message)")
      #expect(e.message.contains("refusing"))
    }
  }

  @Test func refusesNonCheckpointFiles() throws {
    let path = NSTemporaryDirectory() + "/not-a-checkpoint-\(getpid()).pt"
    try writeFileAtomically(Array("hello world".utf8), to: path)
    defer { unlink(path) }
    #expect(throws: FileFormatError.self) { try TorchCheckpoint(path: path) }
  }

  @Test func truncatedCheckpointIsAnError() throws {
    let bytes = try readFile(torchFixtures + "/small_legacy.pt")
    let path = NSTemporaryDirectory() + "/truncated-\(getpid()).pt"
    try writeFileAtomically(Array(bytes[0..<(bytes.count - 10)]), to: path)
    defer { unlink(path) }
    do {
      _ = try TorchCheckpoint(path: path)
      Issue.record("a truncated checkpoint loaded")
    } catch let e as FileFormatError {
      #expect(e.message.contains("truncated"), "\(e.message)")
    }
  }

  @Test func safetensorsRoundTrip() throws {
    let path = NSTemporaryDirectory() + "/rt-\(getpid()).safetensors"
    defer { unlink(path) }
    let a = try Tensor([1.5, -2, 3] as [Float], shape: [3])
    let b = try Tensor([Int64(7), 8, 9, 10], shape: [2, 2])
    let c = try Tensor([1, 2] as [Float], shape: [2]).to(.bfloat16)
    try Safetensors.write([("a", a), ("b.weight", b), ("c", c)], metadata: ["architecture": "x", "k": "v"], to: path)
    let (tensors, meta) = try Safetensors.read(path)
    #expect(tensors.map(\.0) == ["a", "b.weight", "c"])
    #expect(try tensors[0].1.floats() == [1.5, -2, 3])
    #expect(tensors[1].1.shape == [2, 2])
    #expect(try tensors[1].1.ints() == [7, 8, 9, 10])
    #expect(tensors[2].1.dtype == .bfloat16)
    #expect(meta == ["architecture": "x", "k": "v"])
    // Truncating the data section is reported with the tensor that no longer fits.
    let bytes = try readFile(path)
    try writeFileAtomically(Array(bytes[0..<(bytes.count - 3)]), to: path)
    do {
      _ = try Safetensors.read(path)
      Issue.record("a truncated safetensors file loaded")
    } catch let e as FileFormatError {
      #expect(e.message.contains("truncated"), "\(e.message)")
    }
  }

  @Test func sha256KnownVectors() {
    #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    let million = [UInt8](repeating: 0x61, count: 1_000_000)
    #expect(SHA256.hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  }

  @Test func zipRoundTrip() throws {
    var w = ZipWriter()
    w.add(name: "a.npy", data: [1, 2, 3])
    w.add(name: "dir/b", data: Array("hello".utf8))
    let zip = try ZipArchive(bytes: w.bytes(), path: "mem.zip")
    #expect(zip.entries.map(\.name) == ["a.npy", "dir/b"])
    let b = try #require(zip.entry(named: "dir/b"))
    #expect(try zip.data(of: b) == Array("hello".utf8))
  }
}
