import CZlib

/// A read-only view of a ZIP archive held in memory: the container of PyTorch's `torch.save`
/// files (stored entries) and of numpy's `.npz` (stored or deflated entries). Supports ZIP64.
public struct ZipArchive {
  public struct Entry {
    public let name: String
    let method: Int
    let compressedSize: Int
    let uncompressedSize: Int
    let localHeaderOffset: Int
  }

  public let path: String
  let bytes: [UInt8]
  public let entries: [Entry]
  /// The largest expansion deflate can produce (RFC 1951: 258 bytes from 2 bits, ~1032:1).
  static let maxInflateRatio = 1032

  public init(path: String) throws {
    try self.init(bytes: try readFile(path), path: path)
  }

  public init(bytes: [UInt8], path: String) throws {
    self.bytes = bytes
    self.path = path
    // End of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes.
    let minEOCD = 22
    guard bytes.count >= minEOCD else { throw FileFormatError(path, "not a ZIP archive (only \(bytes.count) bytes)") }
    var eocd = -1
    var i = bytes.count - minEOCD
    let lowest = Swift.max(0, bytes.count - minEOCD - 65_535)
    while i >= lowest {
      if bytes[i] == 0x50 && bytes[i + 1] == 0x4b && bytes[i + 2] == 0x05 && bytes[i + 3] == 0x06 {
        eocd = i
        break
      }
      i -= 1
    }
    guard eocd >= 0 else { throw FileFormatError(path, "not a ZIP archive or truncated: no end-of-central-directory record") }
    var r = ByteReader(bytes, path: path, offset: eocd + 10)
    var count = try r.u16()
    _ = try r.u32()  // central directory size
    var cdOffset = try r.u32()
    if cdOffset == 0xffff_ffff || count == 0xffff {
      // ZIP64 end-of-central-directory locator sits just before the EOCD.
      var loc = ByteReader(bytes, path: path, offset: eocd - 20)
      guard eocd >= 20, try loc.u32() == 0x0706_4b50 else {
        throw FileFormatError(path, "ZIP64 archive without a ZIP64 locator")
      }
      _ = try loc.u32()
      var z = ByteReader(bytes, path: path, offset: try loc.size64("ZIP64 end-of-central-directory offset"))
      guard try z.u32() == 0x0606_4b50 else { throw FileFormatError(path, "corrupt ZIP64 end-of-central-directory record") }
      z.offset += 8 + 2 + 2 + 4 + 4 + 8
      count = try z.size64("ZIP64 entry count")
      _ = try z.u64()
      cdOffset = try z.size64("ZIP64 central directory offset")
    }
    var entries: [Entry] = []
    var c = ByteReader(bytes, path: path, offset: cdOffset)
    for _ in 0..<count {
      guard try c.u32("central directory entry") == 0x0201_4b50 else {
        throw FileFormatError(path, "corrupt ZIP central directory")
      }
      c.offset += 6
      let method = try c.u16()
      c.offset += 8
      var compressed = try c.u32()
      var uncompressed = try c.u32()
      let nameLength = try c.u16()
      let extraLength = try c.u16()
      let commentLength = try c.u16()
      c.offset += 8
      var localOffset = try c.u32()
      let name = String(decoding: try c.take(nameLength, "entry name"), as: UTF8.self)
      let extraEnd = c.offset + extraLength
      // ZIP64 extended information: the fields that overflowed, in this order.
      while c.offset + 4 <= extraEnd {
        let tag = try c.u16()
        let size = try c.u16()
        let next = c.offset + size
        if tag == 0x0001 {
          // An uncompressed size is bounded by the inflate ratio check in data(of:), not here.
          if uncompressed == 0xffff_ffff { uncompressed = Int(clamping: try c.u64()) }
          if compressed == 0xffff_ffff { compressed = try c.size64("ZIP64 compressed size of '\(name)'") }
          if localOffset == 0xffff_ffff { localOffset = try c.size64("ZIP64 local header offset of '\(name)'") }
        }
        c.offset = next
      }
      c.offset = extraEnd + commentLength
      entries.append(
        Entry(
          name: name, method: method, compressedSize: compressed, uncompressedSize: uncompressed,
          localHeaderOffset: localOffset))
    }
    self.entries = entries
  }

  public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

  /// The uncompressed bytes of an entry.
  public func data(of entry: Entry) throws -> [UInt8] {
    var r = ByteReader(bytes, path: path, offset: entry.localHeaderOffset)
    guard try r.u32("local header") == 0x0403_4b50 else {
      throw FileFormatError(path, "corrupt ZIP local header for '\(entry.name)'")
    }
    r.offset += 22
    let nameLength = try r.u16()
    let extraLength = try r.u16()
    r.offset += nameLength + extraLength
    let raw = try r.take(entry.compressedSize, "entry '\(entry.name)'")
    switch entry.method {
    case 0:
      guard entry.uncompressedSize == raw.count else {
        throw FileFormatError(
          path, "stored entry '\(entry.name)' declares \(entry.uncompressedSize) bytes but holds \(raw.count)")
      }
      return Array(raw)
    case 8:
      // Deflate cannot expand by more than 1032:1; a larger declared size is a corrupt or hostile
      // header, refused before the output is allocated.
      guard entry.uncompressedSize <= Self.maxInflateRatio * raw.count + 1024 else {
        throw FileFormatError(
          path,
          "entry '\(entry.name)' declares \(entry.uncompressedSize) bytes from \(raw.count) compressed: more than deflate's \(Self.maxInflateRatio):1 can expand"
        )
      }
      return try inflate(raw, expected: entry.uncompressedSize, name: entry.name)
    default:
      throw FileFormatError(path, "entry '\(entry.name)' uses unsupported compression method \(entry.method)")
    }
  }

  func inflate(_ raw: ArraySlice<UInt8>, expected: Int, name: String) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: expected)
    var stream = z_stream()
    guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw FileFormatError(path, "zlib could not start inflating '\(name)'")
    }
    defer { inflateEnd(&stream) }
    var input = Array(raw)
    let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
      out.withUnsafeMutableBufferPointer { outBuf in
        stream.next_in = inBuf.baseAddress
        stream.avail_in = UInt32(inBuf.count)
        stream.next_out = outBuf.baseAddress
        stream.avail_out = UInt32(outBuf.count)
        return CZlib.inflate(&stream, Z_FINISH)
      }
    }
    guard status == Z_STREAM_END, Int(stream.total_out) == expected else {
      throw FileFormatError(path, "entry '\(name)' is corrupt or truncated (zlib status \(status))")
    }
    return out
  }
}

/// Writes a ZIP archive of stored (uncompressed) entries, as numpy's `savez` does.
public struct ZipWriter {
  private var out: [UInt8] = []
  private var central: [UInt8] = []
  private var count = 0

  public init() {}

  private static func append(_ v: Int, bytes n: Int, to buf: inout [UInt8]) {
    for i in 0..<n { buf.append(UInt8((v >> (8 * i)) & 0xff)) }
  }

  public mutating func add(name: String, data: [UInt8]) {
    let nameBytes = Array(name.utf8)
    let crc = data.withUnsafeBufferPointer { Int(crc32(0, $0.baseAddress, UInt32($0.count))) }
    let offset = out.count
    Self.append(0x0403_4b50, bytes: 4, to: &out)
    Self.append(20, bytes: 2, to: &out)  // version needed
    Self.append(0, bytes: 2, to: &out)  // flags
    Self.append(0, bytes: 2, to: &out)  // stored
    Self.append(0, bytes: 4, to: &out)  // time, date
    Self.append(crc, bytes: 4, to: &out)
    Self.append(data.count, bytes: 4, to: &out)
    Self.append(data.count, bytes: 4, to: &out)
    Self.append(nameBytes.count, bytes: 2, to: &out)
    Self.append(0, bytes: 2, to: &out)
    out += nameBytes
    out += data
    Self.append(0x0201_4b50, bytes: 4, to: &central)
    Self.append(20, bytes: 2, to: &central)
    Self.append(20, bytes: 2, to: &central)
    Self.append(0, bytes: 2, to: &central)
    Self.append(0, bytes: 2, to: &central)
    Self.append(0, bytes: 4, to: &central)
    Self.append(crc, bytes: 4, to: &central)
    Self.append(data.count, bytes: 4, to: &central)
    Self.append(data.count, bytes: 4, to: &central)
    Self.append(nameBytes.count, bytes: 2, to: &central)
    Self.append(0, bytes: 2, to: &central)  // extra
    Self.append(0, bytes: 2, to: &central)  // comment
    Self.append(0, bytes: 2, to: &central)  // disk
    Self.append(0, bytes: 2, to: &central)  // internal attributes
    Self.append(0, bytes: 4, to: &central)  // external attributes
    Self.append(offset, bytes: 4, to: &central)
    central += nameBytes
    count += 1
  }

  /// The finished archive.
  public func bytes() -> [UInt8] {
    var result = out
    let cdOffset = result.count
    result += central
    Self.append(0x0605_4b50, bytes: 4, to: &result)
    Self.append(0, bytes: 4, to: &result)
    Self.append(count, bytes: 2, to: &result)
    Self.append(count, bytes: 2, to: &result)
    Self.append(central.count, bytes: 4, to: &result)
    Self.append(cdOffset, bytes: 4, to: &result)
    Self.append(0, bytes: 2, to: &result)
    return result
  }
}
