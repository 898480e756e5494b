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

  public var description: String { "\(path): \(SettingNames.render(message))" }
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
  var reason = written == bytes.count ? nil : String(cString: strerror(errno))
  if reason == nil, fflush(f) != 0 || fsync(fileno(f)) != 0 { reason = String(cString: strerror(errno)) }
  if fclose(f) != 0, reason == nil { reason = String(cString: strerror(errno)) }
  if let reason {
    unlink(tmp)
    throw FileFormatError(path, "cannot write: \(reason)")
  }
  guard rename(tmp, path) == 0 else {
    let message = String(cString: strerror(errno))
    unlink(tmp)
    throw FileFormatError(path, "cannot rename temporary file into place: \(message)")
  }
}

/// Appends one line, all of it or an error naming the file and the OS reason (a full disk is an
/// error, not silence). A line cut short by a failed write is truncated away again.
public func appendLine(_ line: String, to path: String) throws(FileFormatError) {
  let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
  guard fd >= 0 else { throw FileFormatError(path, "cannot append: \(String(cString: strerror(errno)))") }
  defer { close(fd) }
  let start = lseek(fd, 0, SEEK_END)
  let bytes = Array(line.utf8)
  var done = 0
  while done < bytes.count {
    let n = bytes.withUnsafeBytes { raw -> Int in
      guard let base = raw.baseAddress else { return 0 }
      return write(fd, base + done, raw.count - done)
    }
    if n < 0 && errno == EINTR { continue }
    guard n > 0 else {
      let reason = String(cString: strerror(n < 0 ? errno : ENOSPC))
      if start >= 0 { _ = ftruncate(fd, start) }
      throw FileFormatError(path, "cannot append: \(reason)")
    }
    done += n
  }
  guard fsync(fd) == 0 else {
    let reason = String(cString: strerror(errno))
    if start >= 0 { _ = ftruncate(fd, start) }
    throw FileFormatError(path, "cannot append: \(reason)")
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
