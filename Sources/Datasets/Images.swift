import Base
import CImage
import Torch

/// PNG and JPEG files through libpng and libjpeg-turbo.
public enum ImageIO {
  /// Writes 8-bit HWC pixels (1, 3 or 4 channels) as PNG, atomically.
  public static func writePNG(_ pixels: [UInt8], width: Int, height: Int, channels: Int, to path: String) throws {
    guard pixels.count == width * height * channels else {
      throw FileFormatError(
        path, "PNG needs \(width * height * channels) bytes for \(width)x\(height)x\(channels), got \(pixels.count)")
    }
    let tmp = path + ".tmp-\(getpid()).png"
    var err = [CChar](repeating: 0, count: 256)
    let status = pixels.withUnsafeBufferPointer { p in
      oi_png_write(tmp, p.baseAddress, Int32(width), Int32(height), Int32(channels), &err, 256)
    }
    guard status == 0 else {
      unlink(tmp)
      throw FileFormatError(path, "cannot write PNG: \(String(cString: err))")
    }
    guard rename(tmp, path) == 0 else {
      let reason = String(cString: strerror(errno))
      unlink(tmp)
      throw FileFormatError(path, "cannot move the PNG into place: \(reason)")
    }
  }

  /// Reads a PNG as 8-bit HWC RGB (or RGBA).
  public static func readPNG(_ path: String) throws -> (pixels: [UInt8], width: Int, height: Int, channels: Int) {
    try decodePNG(try readFile(path), path: path)
  }

  /// Decodes PNG bytes as 8-bit HWC RGB (or RGBA); `path` names the file in errors.
  public static func decodePNG(_ bytes: [UInt8], path: String) throws -> (
    pixels: [UInt8], width: Int, height: Int, channels: Int
  ) {
    var out: UnsafeMutablePointer<UInt8>?
    var w: Int32 = 0
    var h: Int32 = 0
    var c: Int32 = 0
    var err = [CChar](repeating: 0, count: 256)
    let status = bytes.withUnsafeBufferPointer { oi_png_decode($0.baseAddress, $0.count, &out, &w, &h, &c, &err, 256) }
    guard status == 0, let out else {
      throw FileFormatError(path, "not a readable PNG: \(String(cString: err))")
    }
    defer { oi_image_free(out) }
    return (Array(UnsafeBufferPointer(start: out, count: Int(w) * Int(h) * Int(c))), Int(w), Int(h), Int(c))
  }

  /// Decodes PNG bytes as 8-bit HWC RGB, dropping an alpha channel.
  public static func decodePNGAsRGB(_ bytes: [UInt8], path: String) throws -> (pixels: [UInt8], width: Int, height: Int) {
    let p = try decodePNG(bytes, path: path)
    let rgb =
      p.channels == 4 ? stride(from: 0, to: p.pixels.count, by: 4).flatMap { Array(p.pixels[$0..<($0 + 3)]) } : p.pixels
    return (rgb, p.width, p.height)
  }

  /// Decodes JPEG bytes to 8-bit HWC RGB.
  public static func decodeJPEG(_ bytes: [UInt8], path: String) throws -> (pixels: [UInt8], width: Int, height: Int) {
    var out: UnsafeMutablePointer<UInt8>?
    var w: Int32 = 0
    var h: Int32 = 0
    var err = [CChar](repeating: 0, count: 256)
    let status = bytes.withUnsafeBufferPointer { oi_jpeg_decode($0.baseAddress, $0.count, &out, &w, &h, &err, 256) }
    guard status == 0, let out else { throw FileFormatError(path, "not a decodable JPEG: \(String(cString: err))") }
    defer { oi_image_free(out) }
    return (Array(UnsafeBufferPointer(start: out, count: Int(w) * Int(h) * 3)), Int(w), Int(h))
  }

  /// Encodes 8-bit HWC RGB as JPEG at `quality` (1-100).
  public static func encodeJPEG(_ pixels: [UInt8], width: Int, height: Int, quality: Int) throws -> [UInt8] {
    var out: UnsafeMutablePointer<UInt8>?
    var n = 0
    var err = [CChar](repeating: 0, count: 256)
    let status = pixels.withUnsafeBufferPointer {
      oi_jpeg_encode($0.baseAddress, Int32(width), Int32(height), Int32(quality), &out, &n, &err, 256)
    }
    guard status == 0, let out else { throw FileFormatError("jpeg", "encoding failed: \(String(cString: err))") }
    defer { oi_image_free(out) }
    return Array(UnsafeBufferPointer(start: out, count: n))
  }

  /// CHW planes to HWC.
  public static func hwc(fromCHW chw: ArraySlice<UInt8>, channels: Int, height: Int, width: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: chw.count)
    let base = chw.startIndex
    let plane = height * width
    for c in 0..<channels {
      for p in 0..<plane { out[p * channels + c] = chw[base + c * plane + p] }
    }
    return out
  }

  /// Nearest-neighbour enlargement of HWC pixels by an integer factor.
  public static func upscale(_ hwc: [UInt8], width: Int, height: Int, channels: Int, factor: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: hwc.count * factor * factor)
    let ow = width * factor
    for y in 0..<(height * factor) {
      for x in 0..<ow {
        let s = ((y / factor) * width + x / factor) * channels
        let d = (y * ow + x) * channels
        for c in 0..<channels { out[d + c] = hwc[s + c] }
      }
    }
    return out
  }

  /// Places HWC tiles of equal size side by side with a `gap`-pixel white border.
  public static func row(_ tiles: [[UInt8]], width: Int, height: Int, channels: Int, gap: Int = 2) -> (
    pixels: [UInt8], width: Int
  ) {
    let total = tiles.count * width + (tiles.count + 1) * gap
    let th = height + 2 * gap
    var out = [UInt8](repeating: 255, count: total * th * channels)
    for (t, tile) in tiles.enumerated() {
      let x0 = gap + t * (width + gap)
      for y in 0..<height {
        for x in 0..<width {
          for c in 0..<channels { out[((y + gap) * total + x0 + x) * channels + c] = tile[(y * width + x) * channels + c] }
        }
      }
    }
    return (out, total)
  }
}

#if canImport(Glibc)
  import Glibc
#endif
