import Base
import Foundation
import Testing

@testable import Torch

/// Files built to attack the readers (issue #21): each is refused with an error naming the file,
/// where the readers used to trap on an overflow, read out of bounds, or build structures
/// exponentially large or deep enough to overflow the call stack.
@Suite struct HostileInputTests {
  /// A pickle (protocol 2) of bytes.
  struct Pickle {
    var bytes: [UInt8] = [0x80, 0x02]
    mutating func op(_ b: UInt8...) { bytes += b }
    mutating func string(_ s: String) {
      op(0x58)
      bytes += le(UInt64(s.utf8.count), 4) + Array(s.utf8)
    }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    /// An integer of any size (LONG1 with 8 bytes).
    mutating func int(_ v: Int) { bytes += [0x8a, 8] + le(UInt64(bitPattern: Int64(v)), 8) }
    mutating func tuple(_ values: [Int]) {
      op(0x28)
      for v in values { int(v) }
      op(0x74)
    }
  }

  static func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

  /// `{"w": tensor}` whose storage "0" holds `numel` float32 and whose view has the given offset,
  /// size and stride, in the ZIP layout with a 16-byte storage.
  static func checkpoint(numel: Int, offset: Int, size: [Int], stride: [Int]) -> [UInt8] {
    var p = Pickle()
    p.op(0x7d)  // EMPTY_DICT
    p.string("w")
    p.global("torch._utils", "_rebuild_tensor_v2")
    p.op(0x28, 0x28)  // MARK (arguments), MARK (persistent id)
    p.string("storage")
    p.global("torch", "FloatStorage")
    p.string("0")
    p.string("cpu")
    p.int(numel)
    p.op(0x74, 0x51)  // TUPLE, BINPERSID
    p.int(offset)
    p.tuple(size)
    p.tuple(stride)
    p.op(0x89, 0x74, 0x52, 0x73, 0x2e)  // NEWFALSE, TUPLE, REDUCE, SETITEM, STOP
    var zip = ZipWriter()
    zip.add(name: "archive/data.pkl", data: p.bytes)
    zip.add(name: "archive/data/0", data: [UInt8](repeating: 0, count: 16))
    return zip.bytes()
  }

  func refused(_ bytes: [UInt8], containing text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      _ = try TorchCheckpoint(bytes: bytes, path: "hostile.pt").stateDict()
      Issue.record("a hostile checkpoint loaded", sourceLocation: sourceLocation)
    } catch let e as FileFormatError {
      #expect(e.path == "hostile.pt" && e.message.contains(text), "\(e.message)", sourceLocation: sourceLocation)
    } catch {
      Issue.record("\(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func theCheckpointBuilderMakesALoadableFile() throws {
    let sd = try TorchCheckpoint(bytes: Self.checkpoint(numel: 4, offset: 0, size: [2, 2], stride: [2, 1]), path: "ok.pt")
      .stateDict()
    #expect(sd.map(\.0) == ["w"] && sd[0].1.shape == [2, 2])
  }

  @Test func tensorViewsOutsideTheirStorageAreRefused() {
    // Shapes whose size overflows, negative strides (reading before the storage), a negative
    // offset, and a storage whose declared element count overflows its byte size.
    refused(Self.checkpoint(numel: 4, offset: 0, size: [1 << 62, 4], stride: [4, 1]), containing: "does not fit")
    refused(Self.checkpoint(numel: 4, offset: 3, size: [2, 2], stride: [-1, 1]), containing: "does not fit")
    refused(Self.checkpoint(numel: 4, offset: -2, size: [2], stride: [1]), containing: "past the end")
    refused(Self.checkpoint(numel: 4, offset: 0, size: [2, 2], stride: [1 << 62, 1]), containing: "past the end")
    refused(Self.checkpoint(numel: 1 << 62, offset: 0, size: [2], stride: [1]), containing: "storage '0'")
  }

  @Test func exponentialAndDeepPicklesAreRefused() throws {
    // A list appended to itself 40 times through the memo would have 2^40 elements.
    var doubling = Pickle()
    doubling.op(0x5d, 0x71, 0x00)  // EMPTY_LIST, BINPUT 0
    for _ in 0..<40 { doubling.op(0x68, 0x00, 0x61) }  // BINGET 0, APPEND
    doubling.op(0x2e)
    // 200,000 nested 1-tuples: freeing or printing them recursively would overflow the stack.
    var deep = Pickle()
    deep.op(0x4e)
    for _ in 0..<200_000 { deep.op(0x85) }
    deep.op(0x2e)
    for bytes in [doubling.bytes, deep.bytes] {
      var r = ByteReader(bytes, path: "hostile.pkl")
      #expect {
        _ = try PickleReader(path: "hostile.pkl").load(&r)
      } throws: { ($0 as? FileFormatError)?.message.contains("too large or too deep") == true }
    }
    // The same structures within the limits load.
    var fine = Pickle()
    fine.op(0x5d, 0x71, 0x00)
    for _ in 0..<10 { fine.op(0x68, 0x00, 0x61) }
    fine.op(0x2e)
    var r = ByteReader(fine.bytes, path: "fine.pkl")
    guard case .list(let items) = try PickleReader(path: "fine.pkl").load(&r) else {
      Issue.record("not a list")
      return
    }
    #expect(items.count == 10)
  }

  @Test func lengthsBeyondTheFileAreRefused() {
    // BINUNICODE8 and BINBYTES8 with lengths above Int.max, a legacy storage size likewise.
    for op: UInt8 in [0x8d, 0x8e] {
      var p = Pickle()
      p.op(op)
      p.bytes += Self.le(UInt64.max - 3, 8)
      var r = ByteReader(p.bytes, path: "hostile.pkl")
      #expect {
        _ = try PickleReader(path: "hostile.pkl").load(&r)
      } throws: { ($0 as? FileFormatError)?.message.contains("more than the file's") == true }
    }
  }

  @Test func safetensorsHeadersThatOverflowAreRefused() throws {
    func file(_ header: String) -> [UInt8] { Self.le(UInt64(header.utf8.count), 8) + Array(header.utf8) + [0, 0, 0, 0] }
    let cases = [
      #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#,
      #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
      #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775804]}}"#,
      #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#,
    ]
    for header in cases {
      #expect(throws: FileFormatError.self, "\(header)") { _ = try Safetensors.parse(file(header), path: "hostile.safetensors") }
    }
    #expect(
      try Safetensors.parse(file(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#), path: "ok").tensors.count == 1)
  }

  @Test func zipHeadersThatDeclareTooMuchAreRefused() throws {
    var writer = ZipWriter()
    writer.add(name: "a.npy", data: [UInt8](repeating: 7, count: 100))
    let good = writer.bytes()
    let eocd = good.count - 22
    let central = Int(good[eocd + 16]) | Int(good[eocd + 17]) << 8
    func patched(_ offset: Int, _ bytes: [UInt8]) -> [UInt8] {
      var b = good
      b.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
      return b
    }
    // Deflated, declaring 4 GB from 100 bytes: refused before 4 GB are allocated.
    var bomb = patched(central + 10, [8, 0])
    bomb.replaceSubrange((central + 24)..<(central + 28), with: [0xf0, 0xff, 0xff, 0xff])
    let archive = try ZipArchive(bytes: bomb, path: "bomb.zip")
    #expect { _ = try archive.data(of: archive.entries[0]) } throws: {
      ($0 as? FileFormatError)?.message.contains("more than deflate's 1032:1") == true
    }
    // A stored entry whose sizes disagree.
    let stored = patched(central + 24, [50, 0, 0, 0])
    #expect(throws: FileFormatError.self) {
      let z = try ZipArchive(bytes: stored, path: "stored.zip")
      _ = try z.data(of: try #require(z.entries.first))
    }
    // A ZIP64 locator pointing past Int.max.
    var zip64 = Array(good[0..<eocd])
    zip64 += [0x50, 0x4b, 0x06, 0x07, 0, 0, 0, 0] + Self.le(UInt64.max - 15, 8) + [1, 0, 0, 0]
    zip64 += Array(good[eocd...])
    zip64.replaceSubrange((zip64.count - 6)..<(zip64.count - 2), with: [0xff, 0xff, 0xff, 0xff])
    #expect { _ = try ZipArchive(bytes: zip64, path: "zip64.zip") } throws: {
      ($0 as? FileFormatError)?.message.contains("more than the file's") == true
    }
  }
}
