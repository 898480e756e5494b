// The 19 corruptions of CIFAR-10-C (Hendrycks & Dietterich, "Benchmarking Neural Network
// Robustness to Common Corruptions and Perturbations", ICLR 2019) at severities 1-5, with the
// per-severity parameters of the original generator for 32x32 images (hendrycks/robustness,
// ImageNet-C/create_c/make_cifar_c.py). The parameters are facts reused from that generator; the
// code is this project's own. Random draws come from this project's seeded generator, so images
// follow the same distributions as the official files but are not the same draws.
import Foundation

public enum Corruption: String, CaseIterable, Sendable {
  case gaussianNoise = "gaussian_noise"
  case shotNoise = "shot_noise"
  case impulseNoise = "impulse_noise"
  case speckleNoise = "speckle_noise"
  case gaussianBlur = "gaussian_blur"
  case defocusBlur = "defocus_blur"
  case glassBlur = "glass_blur"
  case motionBlur = "motion_blur"
  case zoomBlur = "zoom_blur"
  case snow
  case frost
  case fog
  case spatter
  case brightness
  case contrast
  case saturate
  case elasticTransform = "elastic_transform"
  case pixelate
  case jpegCompression = "jpeg_compression"

  /// The 19 in alphabetical order: the order of the official files, and of the paper's
  /// 2,000-image sample (indices into their concatenation).
  public static var alphabetical: [Corruption] { allCases.sorted { $0.rawValue < $1.rawValue } }

  /// How this implementation relates to the original generator.
  public var fidelity: String {
    switch self {
    case .frost:
      return
        "not identical to the original: the original blends photographs of frost that are not available; a procedural frost texture stands in"
    case .motionBlur, .snow:
      return
        "not identical to the original: ImageMagick's MotionBlurImage is re-implemented (same kernel construction), not called"
    case .spatter:
      return "not identical to the original: OpenCV's Canny, distance transform and histogram equalization are re-implemented"
    case .jpegCompression:
      return "same parameters and the same kind of codec (libjpeg, 4:2:0); random-free"
    case .pixelate:
      return "same parameters; PIL's BOX resampling re-implemented"
    default:
      return "same parameters and algorithm; random draws differ from numpy's"
    }
  }

  public var identicalAlgorithm: Bool { ![.frost, .motionBlur, .snow, .spatter].contains(self) }

  /// Applies the corruption at severity 1-5 to an RGB image in [0, 1]; returns values in [0, 1]
  /// (clipped like the original, before its final uint8 conversion).
  public func apply(_ x: FloatImage, severity: Int, random r: inout CorruptionRandom) throws -> FloatImage {
    precondition((1...5).contains(severity), "severity must be 1-5")
    let s = severity - 1
    let clip = { (v: Double) in min(max(v, 0), 1) }
    switch self {
    case .gaussianNoise:
      let c = [0.04, 0.06, 0.08, 0.09, 0.10][s]
      return x.map { clip($0 + r.normal() * c) }
    case .shotNoise:
      let c = [500.0, 250, 100, 75, 50][s]
      return x.map { clip(r.poisson($0 * c) / c) }
    case .impulseNoise:
      let c = [0.01, 0.02, 0.03, 0.05, 0.07][s]
      return x.map { v in
        let flipped = r.uniform() < c
        let salted = r.uniform() < 0.5
        return flipped ? (salted ? 1 : 0) : v
      }
    case .speckleNoise:
      let c = [0.06, 0.1, 0.12, 0.16, 0.2][s]
      return x.map { clip($0 + $0 * r.normal() * c) }
    case .gaussianBlur:
      let c = [0.4, 0.6, 0.7, 0.8, 1][s]
      return gaussianFilter(x, sigma: c).map(clip)
    case .glassBlur:
      let c = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][s]
      // uint8 after the first blur, as the original.
      var img = FloatImage(uint8: gaussianFilter(x, sigma: c.0).uint8(), height: x.height, width: x.width, channels: x.channels)
      for _ in 0..<c.2 {
        var h = x.height - c.1
        while h > c.1 {
          var w = x.width - c.1
          while w > c.1 {
            let dx = r.integer(-c.1, c.1)
            let dy = r.integer(-c.1, c.1)
            // The original's `x[h, w], x[h', w'] = x[h', w'], x[h, w]` on numpy views copies the
            // neighbour into (h, w) and leaves the neighbour as it was; reproduced as such.
            for ch in 0..<x.channels { img[h, w, ch] = img[h + dy, w + dx, ch] }
            w -= 1
          }
          h -= 1
        }
      }
      return gaussianFilter(img, sigma: c.0).map(clip)
    case .defocusBlur:
      let c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][s]
      return filter2D(x, disk(radius: c.0, aliasBlur: c.1)).map(clip)
    case .motionBlur:
      let c = [(6.0, 1.0), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][s]
      let angle = r.uniform(-45, 45)
      let img = FloatImage(uint8: x.uint8(), height: x.height, width: x.width, channels: x.channels)
      return motionBlurMagick(img, radius: c.0, sigma: c.1, angle: angle).map(clip)
    case .zoomBlur:
      let ends = [1.06, 1.11, 1.16, 1.21, 1.26][s]
      var factors: [Double] = []
      var z = 1.0
      var k = 0
      while z < ends - 1e-9 {
        factors.append(z)
        k += 1
        z = 1 + 0.01 * Double(k)
      }
      var out = FloatImage(height: x.height, width: x.width, channels: x.channels)
      for f in factors {
        let zoomed = clippedZoom(x, factor: f)
        for i in out.data.indices { out.data[i] += zoomed.data[i] }
      }
      var y = x
      for i in y.data.indices { y.data[i] = (x.data[i] + out.data[i]) / Double(factors.count + 1) }
      return y.map(clip)
    case .snow:
      return makeSnow(x, s, &r)
    case .frost:
      let c = [(1.0, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][s]
      let texture = frostTexture(height: x.height, width: x.width, random: &r)
      var y = x
      for i in y.data.indices { y.data[i] = clip(c.0 * x.data[i] + c.1 * texture.data[i]) }
      return y
    case .fog:
      let c = [(0.2, 3.0), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][s]
      let maxValue = x.data.max() ?? 1
      let plasma = plasmaFractal(size: 32, wibbleDecay: c.1, random: &r)
      var y = x
      for yy in 0..<x.height {
        for xx in 0..<x.width {
          for ch in 0..<x.channels {
            y[yy, xx, ch] = clip((x[yy, xx, ch] + c.0 * plasma[yy % 32][xx % 32]) * maxValue / (maxValue + c.0))
          }
        }
      }
      return y
    case .spatter:
      return makeSpatter(x, s, &r)
    case .brightness:
      let c = [0.05, 0.1, 0.15, 0.2, 0.3][s]
      return hsvAdjust(x) { h, sat, v in (h, sat, min(max(v + c, 0), 1)) }.map(clip)
    case .contrast:
      let c = [0.75, 0.5, 0.4, 0.3, 0.15][s]
      var means = [Double](repeating: 0, count: x.channels)
      for i in x.data.indices { means[i % x.channels] += x.data[i] }
      means = means.map { $0 / Double(x.height * x.width) }
      var y = x
      for i in y.data.indices { y.data[i] = clip((x.data[i] - means[i % x.channels]) * c + means[i % x.channels]) }
      return y
    case .saturate:
      let c = [(0.3, 0.0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][s]
      return hsvAdjust(x) { h, sat, v in (h, min(max(sat * c.0 + c.1, 0), 1), v) }.map(clip)
    case .elasticTransform:
      return makeElastic(x, s, &r)
    case .pixelate:
      let c = [0.95, 0.9, 0.85, 0.75, 0.65][s]
      let small = Int(Double(x.width) * c)
      let down = boxResize(FloatImage(uint8: x.uint8(), height: x.height, width: x.width, channels: x.channels), to: small)
        .rounded8()
      return boxResize(down, to: x.width).rounded8()
    case .jpegCompression:
      let q = [80, 65, 58, 50, 40][s]
      let encoded = try jpegRoundTrip(x.uint8(), width: x.width, height: x.height, quality: q)
      return FloatImage(uint8: encoded, height: x.height, width: x.width, channels: x.channels)
    }
  }
}

extension FloatImage {
  /// Rounded to the nearest 1/255 (a uint8 round trip with rounding, as PIL does).
  func rounded8() -> FloatImage { map { (min(max($0, 0), 1) * 255).rounded() / 255 } }
}
