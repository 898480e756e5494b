import Foundation

/// A file that could not be read or written as the expected format. The message names the file
/// and says what was expected, so it can be shown to users as it is.
public struct FileFormatError: Error, CustomStringConvertible, Sendable {
  public let path: String
  public let message: String

  public init(_ path: String, _ message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { "\(path): \(message)" }
}

/// Little-endian reads from a byte buffer with bounds checks that throw `FileFormatError`.
package struct ByteReader {
  package let bytes: [UInt8]
  package let path: String
  package var offset: Int

  package init(_ bytes: [UInt8], path: String, offset: Int = 0) {
    self.bytes = bytes
    self.path = path
    self.offset = offset
  }

  package var remaining: Int { bytes.count - offset }

  package func need(_ n: Int, _ what: String) throws(FileFormatError) {
    // Written so that no hostile offset or length can overflow: offset may be anything a header
    // declared.
    if n < 0 || offset < 0 || offset > bytes.count || n > bytes.count - offset {
      throw FileFormatError(path, "truncated: \(what) needs \(n) bytes at offset \(offset), file has \(bytes.count)")
    }
  }

  package mutating func u8(_ what: String = "byte") throws(FileFormatError) -> UInt8 {
    try need(1, what)
    defer { offset += 1 }
    return bytes[offset]
  }

  package mutating func uint(_ n: Int, _ what: String) throws(FileFormatError) -> UInt64 {
    try need(n, what)
    var v: UInt64 = 0
    for i in 0..<n { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
    offset += n
    return v
  }

  package mutating func u16(_ what: String = "uint16") throws(FileFormatError) -> Int { Int(try uint(2, what)) }
  package mutating func u32(_ what: String = "uint32") throws(FileFormatError) -> Int { Int(try uint(4, what)) }
  package mutating func u64(_ what: String = "uint64") throws(FileFormatError) -> UInt64 { try uint(8, what) }

  /// A 64-bit size or offset that must fit in the file (at most `bytes.count`), as an Int: a
  /// header cannot make the reader trap on a value above Int.max or allocate past the file.
  package mutating func size64(_ what: String) throws(FileFormatError) -> Int {
    let at = offset
    let v = try uint(8, what)
    guard v <= UInt64(bytes.count) else {
      throw FileFormatError(path, "\(what) at offset \(at) is \(v), more than the file's \(bytes.count) bytes")
    }
    return Int(v)
  }

  package mutating func take(_ n: Int, _ what: String) throws(FileFormatError) -> ArraySlice<UInt8> {
    try need(n, what)
    defer { offset += n }
    return bytes[offset..<(offset + n)]
  }
}

/// The number of bytes of an array of `shape` with `elementSize`-byte elements, or nil when a
/// dimension is negative or the size overflows: what a parser checks a declared shape with before
/// it compares the size with the file's and allocates anything.
///
/// The product of the non-zero dimensions must fit too, even when a zero makes the size 0: then
/// no product of dimensions in any order (`shape.reduce(1, *)` elsewhere) can overflow.
public func checkedByteCount(shape: [Int], elementSize: Int) -> Int? {
  guard elementSize >= 0 else { return nil }
  var n = Swift.max(elementSize, 1)
  for d in shape {
    guard d >= 0 else { return nil }
    let (p, overflow) = n.multipliedReportingOverflow(by: Swift.max(d, 1))
    if overflow { return nil }
    n = p
  }
  return shape.contains(0) || elementSize == 0 ? 0 : n
}

/// Reads a whole file, with an error that names it.
public func readFile(_ path: String) throws(FileFormatError) -> [UInt8] {
  guard let f = fopen(path, "rb") else {
    throw FileFormatError(path, "cannot open: \(String(cString: strerror(errno)))")
  }
  defer { fclose(f) }
  var out: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 20)
  while true {
    let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 1 << 20, f) }
    if n > 0 { out.append(contentsOf: chunk[0..<n]) }
    if n < 1 << 20 {
      if ferror(f) != 0 { throw FileFormatError(path, "read error") }
      break
    }
  }
  return out
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then rename, so a
/// crash leaves either the old file or the new one, never half of it.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws(FileFormatError) {
  let tmp = path + ".tmp-\(getpid())"
  guard let f = fopen(tmp, "wb") else {
    throw FileFormatError(path, "cannot write: \(String(cString: strerror(errno)))")
  }
  let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
  let flushed = fflush(f) == 0 && fsync(fileno(f)) == 0
  fclose(f)
  guard written == bytes.count, flushed else {
    unlink(tmp)
    throw FileFormatError(path, "write failed (disk full?)")
  }
  guard rename(tmp, path) == 0 else {
    let message = String(cString: strerror(errno))
    unlink(tmp)
    throw FileFormatError(path, "cannot rename temporary file into place: \(message)")
  }
}

/// Appends one line (best effort: a lost timing line loses no results).
public func appendLine(_ line: String, to path: String) {
  if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
  guard let h = FileHandle(forWritingAtPath: path) else { return }
  defer { try? h.close() }
  _ = try? h.seekToEnd()
  try? h.write(contentsOf: Data(line.utf8))
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
