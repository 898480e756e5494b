import Base
import Torch

/// Resampling with the arithmetic of Pillow's `Image.resize(..., BILINEAR)` on 8-bit images:
/// separable, antialiased when shrinking (the triangle filter is widened by the scale factor),
/// coefficients rounded to 22-bit fixed point, horizontal pass first, each pass rounded and
/// clipped to uint8. Matching it bit for bit matters for models whose published accuracy was
/// measured on Pillow-resized inputs.
public enum PILResample {
  static let precisionBits = 32 - 8 - 2

  /// (first source index, fixed-point weights) per output position.
  static func coefficients(inSize: Int, outSize: Int, in0: Double = 0, in1: Double? = nil) -> [(Int, [Int])] {
    let end = in1 ?? Double(inSize)
    let scale = (end - in0) / Double(outSize)
    let filterScale = max(scale, 1)
    let support = 1.0 * filterScale
    return (0..<outSize).map { xx in
      let centre = in0 + (Double(xx) + 0.5) * scale
      let ss = 1 / filterScale
      var xmin = Int(centre - support + 0.5)
      if xmin < 0 { xmin = 0 }
      var xmax = Int(centre + support + 0.5)
      if xmax > inSize { xmax = inSize }
      xmax -= xmin
      var w = (0..<max(xmax, 0)).map { x -> Double in
        let t = abs((Double(x + xmin) - centre + 0.5) * ss)
        return t < 1 ? 1 - t : 0
      }
      let total = w.reduce(0, +)
      if total != 0 { w = w.map { $0 / total } }
      let fixed = w.map { v -> Int in
        let f = v * Double(1 << precisionBits)
        return v < 0 ? Int(-0.5 + f) : Int(0.5 + f)
      }
      return (xmin, fixed)
    }
  }

  @inline(__always) static func clip8(_ v: Int) -> UInt8 {
    let s = v >> precisionBits
    return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
  }

  /// Resizes 8-bit HWC pixels.
  public static func resize(_ px: [UInt8], width: Int, height: Int, channels: Int, toWidth: Int, toHeight: Int) -> [UInt8] {
    var current = px
    var w = width
    if toWidth != width {
      let coeffs = coefficients(inSize: width, outSize: toWidth)
      var out = [UInt8](repeating: 0, count: toWidth * height * channels)
      for y in 0..<height {
        for (x, (start, k)) in coeffs.enumerated() {
          for c in 0..<channels {
            var ss = 1 << (precisionBits - 1)
            for (i, weight) in k.enumerated() { ss += Int(current[(y * width + start + i) * channels + c]) * weight }
            out[(y * toWidth + x) * channels + c] = clip8(ss)
          }
        }
      }
      current = out
      w = toWidth
    }
    if toHeight != height {
      let coeffs = coefficients(inSize: height, outSize: toHeight)
      var out = [UInt8](repeating: 0, count: w * toHeight * channels)
      for (y, (start, k)) in coeffs.enumerated() {
        for x in 0..<w {
          for c in 0..<channels {
            var ss = 1 << (precisionBits - 1)
            for (i, weight) in k.enumerated() { ss += Int(current[((start + i) * w + x) * channels + c]) * weight }
            out[(y * w + x) * channels + c] = clip8(ss)
          }
        }
      }
      current = out
    }
    return current
  }

  /// A crop [top, bottom) x [left, right) of HWC pixels.
  public static func crop(_ px: [UInt8], width: Int, channels: Int, top: Int, left: Int, bottom: Int, right: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity((bottom - top) * (right - left) * channels)
    for y in top..<bottom { out += px[((y * width + left) * channels)..<((y * width + right) * channels)] }
    return out
  }
}

/// How images from a folder are turned into the model's input size.
public enum Preprocessing: Equatable, Sendable, CustomStringConvertible {
  /// Use the images as they are (they must already have the model's size).
  case none
  /// TensorFlow's `central_crop(fraction)` (top = int((H - fraction*H) / 2)), then a Pillow
  /// bilinear resize to size x size (the TF-slim MobileNet evaluation).
  case centralCrop(fraction: Double, size: Int)
  /// torchvision's Resize(shorter side to `resize`) with Pillow bilinear, then CenterCrop(size).
  case resizeCenterCrop(resize: Int, size: Int)

  public init?(parsing text: String) {
    let parts = text.split(separator: ":")
    switch parts.first {
    case "none": self = .none
    case "central-crop":
      guard parts.count == 3, let f = Double(parts[1]), let s = Int(parts[2]), f > 0, f <= 1, s > 0 else { return nil }
      self = .centralCrop(fraction: f, size: s)
    case "resize-center-crop":
      guard parts.count == 3, let r = Int(parts[1]), let s = Int(parts[2]), r >= s, s > 0 else { return nil }
      self = .resizeCenterCrop(resize: r, size: s)
    default: return nil
    }
  }

  public var description: String {
    switch self {
    case .none: return "none"
    case .centralCrop(let f, let s): return "central-crop:\(f):\(s)"
    case .resizeCenterCrop(let r, let s): return "resize-center-crop:\(r):\(s)"
    }
  }

  /// The size an image of width x height is resized to before any final crop (where the
  /// preprocessing resizes).
  public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
    switch self {
    case .none: return (width, height)
    case .centralCrop(_, let s): return (s, s)
    case .resizeCenterCrop(let size, _):
      let long = { (a: Int, b: Int) in Int(Swift.min(Double(size) * Double(a) / Double(Swift.max(b, 1)), 1e12)) }
      return width <= height ? (size, long(height, width)) : (long(width, height), size)
    }
  }

  /// Applies the preprocessing to 8-bit RGB HWC pixels; returns size x size x 3.
  public func apply(_ px: [UInt8], width: Int, height: Int) -> (pixels: [UInt8], width: Int, height: Int) {
    switch self {
    case .none:
      return (px, width, height)
    case .centralCrop(let f, let s):
      let top = Int((Double(height) - f * Double(height)) / 2)
      let left = Int((Double(width) - f * Double(width)) / 2)
      let cropped = PILResample.crop(
        px, width: width, channels: 3, top: top, left: left, bottom: height - top, right: width - left)
      let r = PILResample.resize(cropped, width: width - 2 * left, height: height - 2 * top, channels: 3, toWidth: s, toHeight: s)
      return (r, s, s)
    case .resizeCenterCrop(let size, let s):
      let (nw, nh) =
        width <= height
        ? (size, Int(Double(size) * Double(height) / Double(width)))
        : (Int(Double(size) * Double(width) / Double(height)), size)
      let r = PILResample.resize(px, width: width, height: height, channels: 3, toWidth: nw, toHeight: nh)
      let top = Int(((Double(nh) - Double(s)) / 2).rounded())
      let left = Int(((Double(nw) - Double(s)) / 2).rounded())
      return (PILResample.crop(r, width: nw, channels: 3, top: top, left: left, bottom: top + s, right: left + s), s, s)
    }
  }
}

/// A folder of JPEG/PNG images with `labels.csv` (`filename,label[,...]`, a header line allowed),
/// decoded with libjpeg/libpng and preprocessed for a model.
public enum ImageFolder {
  public static func isImageFolder(_ path: String) -> Bool { DataSource.exists(path + "/labels.csv") }

  public static func load(_ folder: String, preprocessing: Preprocessing, classNames: [String]) throws -> ImageDataset {
    let csv = folder + "/labels.csv"
    let entries = try parseLabels(try readFile(csv), path: csv, classCount: classNames.count)
    var pixels: [UInt8] = []
    var size: (Int, Int)?
    for (name, _) in entries {
      let path = folder + "/" + name
      let out = try decode(try readFile(path), name: name, path: path, preprocessing: preprocessing)
      if let size, size != (out.width, out.height) {
        throw FileFormatError(
          path,
          "is \(out.width)x\(out.height) after preprocessing, others are \(size.0)x\(size.1); choose a preprocessing that fixes the size"
        )
      }
      size = (out.width, out.height)
      pixels += ImageDataset.fromHWC(out.pixels, count: 1, height: out.height, width: out.width, channels: 3)
    }
    let (w, h) = size ?? (0, 0)
    return ImageDataset(
      pixels: pixels, labels: entries.map(\.label), imageShape: [3, h, w], classNames: classNames,
      description: "image folder \(folder) (\(entries.count) images, preprocessing \(preprocessing))")
  }

  /// The entries of `labels.csv` (`filename,label[,...]`; a first line whose label is not an
  /// integer is a header). `path` names the file in errors.
  public static func parseLabels(_ bytes: [UInt8], path csv: String, classCount: Int) throws -> [(name: String, label: Int)] {
    let text = String(decoding: bytes, as: UTF8.self)
    var entries: [(name: String, label: Int)] = []
    for (n, line) in text.split(separator: "\n").enumerated() {
      let fields = line.split(separator: ",", maxSplits: 2).map { String($0).trimming(chars: " \r\"") }
      guard fields.count >= 2 else { throw FileFormatError(csv, "line \(n + 1): expected filename,label") }
      guard let label = Int(fields[1]) else {
        if n == 0 { continue }  // header
        throw FileFormatError(csv, "line \(n + 1): label '\(fields[1].prefix(40))' is not an integer")
      }
      guard label >= 0, label < classCount else {
        throw FileFormatError(csv, "line \(n + 1): label \(label) is outside the model's 0..<\(classCount) classes")
      }
      guard !fields[0].isEmpty else { throw FileFormatError(csv, "line \(n + 1): empty filename") }
      entries.append((fields[0], label))
    }
    guard !entries.isEmpty else { throw FileFormatError(csv, "no images listed") }
    return entries
  }

  /// Decodes one image file's bytes (PNG when `name` ends in .png, JPEG otherwise) to 8-bit RGB
  /// and applies the preprocessing. `path` names the file in errors.
  public static func decode(_ bytes: [UInt8], name: String, path: String, preprocessing: Preprocessing) throws -> (
    pixels: [UInt8], width: Int, height: Int
  ) {
    let decoded =
      name.lowercased().hasSuffix(".png")
      ? try ImageIO.decodePNGAsRGB(bytes, path: path) : try ImageIO.decodeJPEG(bytes, path: path)
    // A very long, thin image (a 300-byte JPEG can be 8,200 x 6) would be resized to a huge one
    // (349,866 x 256) before the crop; refuse beyond 16.8 megapixels (4,096 x 4,096).
    let resized = preprocessing.resizedSize(width: decoded.width, height: decoded.height)
    guard resized.width > 0, resized.height > 0, Double(resized.width) * Double(resized.height) <= Double(1 << 24) else {
      throw FileFormatError(
        path,
        "is \(decoded.width)x\(decoded.height): preprocessing \(preprocessing) would resize it to \(resized.width)x\(resized.height)"
      )
    }
    return preprocessing.apply(decoded.pixels, width: decoded.width, height: decoded.height)
  }
}
