import Foundation

/// An RGB image as doubles in HWC order, values nominally in [0, 1].
public struct FloatImage: Equatable, Sendable {
  public var height: Int
  public var width: Int
  public var channels: Int
  public var data: [Double]

  public init(height: Int, width: Int, channels: Int, data: [Double]) {
    precondition(data.count == height * width * channels, "data does not match the shape")
    self.height = height
    self.width = width
    self.channels = channels
    self.data = data
  }

  public init(height: Int, width: Int, channels: Int, fill: Double = 0) {
    self.init(height: height, width: width, channels: channels, data: [Double](repeating: fill, count: height * width * channels))
  }

  /// From 8-bit HWC pixels, divided by 255.
  public init(uint8 hwc: [UInt8], height: Int, width: Int, channels: Int = 3) {
    self.init(height: height, width: width, channels: channels, data: hwc.map { Double($0) / 255 })
  }

  @inline(__always) public subscript(y: Int, x: Int, c: Int) -> Double {
    get { data[(y * width + x) * channels + c] }
    set { data[(y * width + x) * channels + c] = newValue }
  }

  /// Clipped to [0, 1], times 255, truncated to uint8 (as `np.uint8` of the original generator).
  public func uint8() -> [UInt8] { data.map { UInt8(max(0, min(1, $0.isNaN ? 0 : $0)) * 255) } }

  public func map(_ f: (Double) -> Double) -> FloatImage {
    FloatImage(height: height, width: width, channels: channels, data: data.map(f))
  }

  /// One channel as its own image.
  public func channel(_ c: Int) -> FloatImage {
    var out = FloatImage(height: height, width: width, channels: 1)
    for i in 0..<(height * width) { out.data[i] = data[i * channels + c] }
    return out
  }
}

/// Border handling of the filters, named as in scipy/OpenCV.
public enum Border: Sendable {
  /// scipy 'nearest' / OpenCV BORDER_REPLICATE: aaa|abcd|ddd
  case nearest
  /// scipy 'reflect' / OpenCV BORDER_REFLECT: cba|abcd|dcb
  case reflect
  /// scipy 'mirror' / OpenCV BORDER_REFLECT_101 (OpenCV's default): dcb|abcd|cba
  case mirror

  @inline(__always) func index(_ i: Int, _ n: Int) -> Int {
    if i >= 0 && i < n { return i }
    if n == 1 { return 0 }
    switch self {
    case .nearest: return i < 0 ? 0 : n - 1
    case .reflect:
      let period = 2 * n
      var k = i % period
      if k < 0 { k += period }
      return k < n ? k : period - 1 - k
    case .mirror:
      let period = 2 * n - 2
      var k = i % period
      if k < 0 { k += period }
      return k < n ? k : period - k
    }
  }
}

/// The 1-D Gaussian kernel scipy.ndimage (and so skimage.filters.gaussian) uses: radius
/// int(truncate * sigma + 0.5), weights exp(-x²/2σ²) normalized.
public func gaussianKernel(sigma: Double, truncate: Double = 4) -> [Double] {
  let radius = Int(truncate * sigma + 0.5)
  var k = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
  let s = k.reduce(0, +)
  k = k.map { $0 / s }
  return k
}

/// Separable correlation of every channel with `kernel` along rows then columns.
public func separableFilter(_ img: FloatImage, _ kernel: [Double], border: Border) -> FloatImage {
  let r = kernel.count / 2
  var tmp = img
  for y in 0..<img.height {
    for x in 0..<img.width {
      for c in 0..<img.channels {
        var s = 0.0
        for (k, w) in kernel.enumerated() { s += w * img[y, border.index(x + k - r, img.width), c] }
        tmp[y, x, c] = s
      }
    }
  }
  var out = img
  for y in 0..<img.height {
    for x in 0..<img.width {
      for c in 0..<img.channels {
        var s = 0.0
        for (k, w) in kernel.enumerated() { s += w * tmp[border.index(y + k - r, img.height), x, c] }
        out[y, x, c] = s
      }
    }
  }
  return out
}

/// skimage.filters.gaussian: per-channel Gaussian blur, mode 'nearest', truncate 4.
public func gaussianFilter(_ img: FloatImage, sigma: Double, border: Border = .nearest, truncate: Double = 4) -> FloatImage {
  separableFilter(img, gaussianKernel(sigma: sigma, truncate: truncate), border: border)
}

/// 2-D correlation with a square kernel (OpenCV filter2D, default border BORDER_REFLECT_101).
public func filter2D(_ img: FloatImage, _ kernel: [[Double]], border: Border = .mirror) -> FloatImage {
  let r = kernel.count / 2
  var out = img
  for y in 0..<img.height {
    for x in 0..<img.width {
      for c in 0..<img.channels {
        var s = 0.0
        for (ky, row) in kernel.enumerated() {
          let yy = border.index(y + ky - r, img.height)
          for (kx, w) in row.enumerated() where w != 0 { s += w * img[yy, border.index(x + kx - r, img.width), c] }
        }
        out[y, x, c] = s
      }
    }
  }
  return out
}

/// Bilinear sample at a fractional position with the given border.
@inline(__always)
func bilinear(_ img: FloatImage, _ y: Double, _ x: Double, _ c: Int, border: Border) -> Double {
  let y0 = Int(floor(y))
  let x0 = Int(floor(x))
  let fy = y - Double(y0)
  let fx = x - Double(x0)
  let ya = border.index(y0, img.height)
  let yb = border.index(y0 + 1, img.height)
  let xa = border.index(x0, img.width)
  let xb = border.index(x0 + 1, img.width)
  return (1 - fy) * ((1 - fx) * img[ya, xa, c] + fx * img[ya, xb, c]) + fy * ((1 - fx) * img[yb, xa, c] + fx * img[yb, xb, c])
}

/// scipy.ndimage.zoom with order 1 (grid_mode False): output pixel i samples input at
/// i * (in - 1) / (out - 1).
public func zoomBilinear(_ img: FloatImage, outHeight: Int, outWidth: Int) -> FloatImage {
  var out = FloatImage(height: outHeight, width: outWidth, channels: img.channels)
  let sy = outHeight > 1 ? Double(img.height - 1) / Double(outHeight - 1) : 0
  let sx = outWidth > 1 ? Double(img.width - 1) / Double(outWidth - 1) : 0
  for y in 0..<outHeight {
    for x in 0..<outWidth {
      for c in 0..<img.channels { out[y, x, c] = bilinear(img, Double(y) * sy, Double(x) * sx, c, border: .nearest) }
    }
  }
  return out
}

/// The generator's clipped_zoom: crop the centre ceil(h / factor) square, zoom it back up by
/// `factor` (bilinear), and trim to h x h.
public func clippedZoom(_ img: FloatImage, factor: Double) -> FloatImage {
  let h = img.height
  let ch = Int(ceil(Double(h) / factor))
  let top = (h - ch) / 2
  var crop = FloatImage(height: ch, width: ch, channels: img.channels)
  for y in 0..<ch { for x in 0..<ch { for c in 0..<img.channels { crop[y, x, c] = img[top + y, top + x, c] } } }
  let size = Int((Double(ch) * factor).rounded())
  let zoomed = zoomBilinear(crop, outHeight: size, outWidth: size)
  let trim = (size - h) / 2
  var out = FloatImage(height: h, width: h, channels: img.channels)
  for y in 0..<h { for x in 0..<h { for c in 0..<img.channels { out[y, x, c] = zoomed[trim + y, trim + x, c] } } }
  return out
}

/// RGB in [0, 1] to HSV in [0, 1] (skimage.color.rgb2hsv conventions).
public func rgbToHSV(_ r: Double, _ g: Double, _ b: Double) -> (Double, Double, Double) {
  let v = max(r, g, b)
  let delta = v - min(r, g, b)
  let s = v == 0 ? 0 : delta / v
  var h = 0.0
  if delta > 0 {
    if r == v {
      h = (g - b) / delta
    } else if g == v {
      h = 2 + (b - r) / delta
    } else {
      h = 4 + (r - g) / delta
    }
    h = (h / 6).truncatingRemainder(dividingBy: 1)
    if h < 0 { h += 1 }
  }
  return (h, s, v)
}

/// HSV in [0, 1] to RGB (skimage.color.hsv2rgb conventions).
public func hsvToRGB(_ h: Double, _ s: Double, _ v: Double) -> (Double, Double, Double) {
  let hi = Int(floor(h * 6)) % 6
  let f = h * 6 - floor(h * 6)
  let p = v * (1 - s)
  let q = v * (1 - f * s)
  let t = v * (1 - (1 - f) * s)
  switch hi {
  case 0: return (v, t, p)
  case 1: return (q, v, p)
  case 2: return (p, v, t)
  case 3: return (p, q, v)
  case 4: return (t, p, v)
  default: return (v, p, q)
  }
}
