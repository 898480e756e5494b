import Datasets
import Foundation

/// The generator's defocus kernel: a disk of the given radius on a 17x17 grid (radius <= 8),
/// normalized, then smoothed by a 3x3 Gaussian of sigma `aliasBlur` (OpenCV GaussianBlur,
/// border reflect-101).
func disk(radius: Double, aliasBlur: Double) -> [[Double]] {
  let r = radius <= 8 ? 8 : Int(radius)
  let n = 2 * r + 1
  var d = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
  var total = 0.0
  for y in 0..<n {
    for x in 0..<n {
      let dy = Double(y - r)
      let dx = Double(x - r)
      if dx * dx + dy * dy <= radius * radius {
        d[y][x] = 1
        total += 1
      }
    }
  }
  d = d.map { $0.map { $0 / total } }
  let g0 = exp(-1 / (2 * aliasBlur * aliasBlur))
  let k = [g0, 1, g0].map { $0 / (1 + 2 * g0) }
  var img = FloatImage(height: n, width: n, channels: 1, data: d.flatMap { $0 })
  img = separableFilter(img, k, border: .mirror)
  return (0..<n).map { y in (0..<n).map { x in img[y, x, 0] } }
}

/// ImageMagick's MotionBlurImage: a one-sided Gaussian of `sigma` over width = 2*ceil(radius)+1
/// taps, tap i displaced by round(i*cos(angle)) columns and round(i*sin(angle)) rows, edge pixels
/// repeated beyond the border.
func motionBlurMagick(_ img: FloatImage, radius: Double, sigma: Double, angle: Double) -> FloatImage {
  let width = 2 * Int(ceil(radius)) + 1
  var kernel = (0..<width).map { i in exp(-Double(i * i) / (2 * sigma * sigma)) }
  let total = kernel.reduce(0, +)
  kernel = kernel.map { $0 / total }
  let a = angle * Double.pi / 180
  let px = Double(width) * sin(a)
  let py = Double(width) * cos(a)
  let norm = (px * px + py * py).squareRoot()
  let offsets = (0..<width).map { i in
    (Int(ceil(Double(i) * py / norm - 0.5)), Int(ceil(Double(i) * px / norm - 0.5)))
  }
  var out = img
  for y in 0..<img.height {
    for x in 0..<img.width {
      for c in 0..<img.channels {
        var s = 0.0
        for (i, w) in kernel.enumerated() {
          let xx = Border.nearest.index(x + offsets[i].0, img.width)
          let yy = Border.nearest.index(y + offsets[i].1, img.height)
          s += w * img[yy, xx, c]
        }
        out[y, x, c] = s
      }
    }
  }
  return out
}

/// The generator's diamond-square plasma fractal, normalized to [0, 1].
func plasmaFractal(size: Int, wibbleDecay: Double, random r: inout CorruptionRandom) -> [[Double]] {
  var m = [[Double]](repeating: [Double](repeating: 0, count: size), count: size)
  var step = size
  var wibble = 100.0
  func wrap(_ i: Int) -> Int { ((i % size) + size) % size }
  while step >= 2 {
    let half = step / 2
    // squares: centre = mean of the four corners + noise
    for y in stride(from: 0, to: size, by: step) {
      for x in stride(from: 0, to: size, by: step) {
        let s = m[y][x] + m[wrap(y + step)][x] + m[y][wrap(x + step)] + m[wrap(y + step)][wrap(x + step)]
        m[y + half][x + half] = s / 4 + wibble * r.uniform(-wibble, wibble)
      }
    }
    // diamonds: edge midpoints = mean of their four neighbours + noise
    for y in stride(from: 0, to: size, by: step) {
      for x in stride(from: 0, to: size, by: step) {
        let top = m[y][x] + m[y][wrap(x + step)] + m[y + half][x + half] + m[wrap(y - half)][x + half]
        m[y][x + half] = top / 4 + wibble * r.uniform(-wibble, wibble)
        let left = m[y][x] + m[wrap(y + step)][x] + m[y + half][x + half] + m[y + half][wrap(x - half)]
        m[y + half][x] = left / 4 + wibble * r.uniform(-wibble, wibble)
      }
    }
    step /= 2
    wibble /= wibbleDecay
  }
  let lo = m.flatMap { $0 }.min() ?? 0
  let hi = (m.flatMap { $0 }.max() ?? 1) - lo
  return m.map { $0.map { hi > 0 ? ($0 - lo) / hi : 0 } }
}

/// A procedural stand-in for the frost photographs: ice crystals as bright, thin, branching
/// streaks over a cold, hazy plasma background, in the bluish white of frost. Values in [0, 1].
func frostTexture(height: Int, width: Int, random r: inout CorruptionRandom) -> FloatImage {
  let haze = plasmaFractal(size: 32, wibbleDecay: 1.5, random: &r)
  var ice = [Double](repeating: 0, count: height * width)
  for _ in 0..<(height * width / 24) {
    var x = r.uniform(0, Double(width))
    var y = r.uniform(0, Double(height))
    var a = r.uniform(0, 2 * Double.pi)
    let length = r.integer(3, 12)
    let strength = r.uniform(0.3, 1)
    for _ in 0..<length {
      let xi = Int(x)
      let yi = Int(y)
      if xi >= 0 && xi < width && yi >= 0 && yi < height { ice[yi * width + xi] = max(ice[yi * width + xi], strength) }
      x += cos(a)
      y += sin(a)
      a += r.uniform(-0.5, 0.5)
    }
  }
  var out = FloatImage(height: height, width: width, channels: 3)
  let tint = [0.80, 0.88, 1.0]
  for y in 0..<height {
    for x in 0..<width {
      let v = min(1, 0.35 + 0.35 * haze[y % 32][x % 32] + 0.6 * ice[y * width + x])
      for c in 0..<3 { out[y, x, c] = v * tint[c] }
    }
  }
  return gaussianFilter(out, sigma: 0.5)
}

/// Applies `f` to every pixel in HSV space.
func hsvAdjust(_ x: FloatImage, _ f: (Double, Double, Double) -> (Double, Double, Double)) -> FloatImage {
  var y = x
  for p in 0..<(x.height * x.width) {
    let (h, s, v) = rgbToHSV(x.data[p * 3], x.data[p * 3 + 1], x.data[p * 3 + 2])
    let (h2, s2, v2) = f(h, s, v)
    let (rr, gg, bb) = hsvToRGB(h2, s2, v2)
    y.data[p * 3] = rr
    y.data[p * 3 + 1] = gg
    y.data[p * 3 + 2] = bb
  }
  return y
}

/// PIL's BOX resampling of a square image to `size` x `size`: each output pixel averages the
/// input pixels its box covers (weights by coverage, computed on pixel centres as PIL does).
func boxResize(_ img: FloatImage, to size: Int) -> FloatImage {
  func weights(_ inSize: Int, _ outSize: Int) -> [(Int, [Double])] {
    let scale = Double(inSize) / Double(outSize)
    let support = 0.5 * max(scale, 1)
    return (0..<outSize).map { o in
      let centre = (Double(o) + 0.5) * scale
      let lo = max(Int(centre - support + 0.5), 0)
      let hi = min(Int(centre + support + 0.5), inSize)
      var w = (lo..<hi).map { j -> Double in
        let t = (Double(j) - centre + 0.5) / max(scale, 1)
        return (t >= -0.5 && t < 0.5) ? 1 : 0
      }
      let s = w.reduce(0, +)
      if s > 0 { w = w.map { $0 / s } }
      return (lo, w)
    }
  }
  let wy = weights(img.height, size)
  let wx = weights(img.width, size)
  var tmp = FloatImage(height: img.height, width: size, channels: img.channels)
  for y in 0..<img.height {
    for (x, (lo, w)) in wx.enumerated() {
      for c in 0..<img.channels {
        var s = 0.0
        for (k, v) in w.enumerated() { s += v * img[y, lo + k, c] }
        tmp[y, x, c] = s
      }
    }
  }
  var out = FloatImage(height: size, width: size, channels: img.channels)
  for (y, (lo, w)) in wy.enumerated() {
    for x in 0..<size {
      for c in 0..<img.channels {
        var s = 0.0
        for (k, v) in w.enumerated() { s += v * tmp[lo + k, x, c] }
        out[y, x, c] = s
      }
    }
  }
  return out
}

func jpegRoundTrip(_ hwc: [UInt8], width: Int, height: Int, quality: Int) throws -> [UInt8] {
  let bytes = try ImageIO.encodeJPEG(hwc, width: width, height: height, quality: quality)
  return try ImageIO.decodeJPEG(bytes, path: "jpeg round trip").pixels
}

/// OpenCV's RGB→gray weights.
@inline(__always) func gray(_ x: FloatImage, _ y: Int, _ xx: Int) -> Double {
  0.299 * x[y, xx, 0] + 0.587 * x[y, xx, 1] + 0.114 * x[y, xx, 2]
}

extension Corruption {
  func makeSnow(_ x: FloatImage, _ s: Int, _ r: inout CorruptionRandom) -> FloatImage {
    let c = [
      (0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
      (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ][s]
    var layer = FloatImage(height: x.height, width: x.width, channels: 1)
    for i in layer.data.indices { layer.data[i] = r.normal(mean: c.0, std: c.1) }
    layer = clippedZoom(layer, factor: c.2)
    layer = layer.map { $0 < c.3 ? 0 : $0 }
    let angle = r.uniform(-135, -45)
    layer = FloatImage(uint8: layer.uint8(), height: layer.height, width: layer.width, channels: 1)
    layer = motionBlurMagick(layer, radius: c.4, sigma: c.5, angle: angle).map { (min(max($0, 0), 1) * 255).rounded() / 255 }
    var y = x
    for yy in 0..<x.height {
      for xx in 0..<x.width {
        let g = gray(x, yy, xx) * 1.5 + 0.5
        let snowHere = layer[yy, xx, 0] + layer[x.height - 1 - yy, x.width - 1 - xx, 0]
        for ch in 0..<3 {
          let v = c.6 * x[yy, xx, ch] + (1 - c.6) * max(x[yy, xx, ch], g)
          y[yy, xx, ch] = min(max(v + snowHere, 0), 1)
        }
      }
    }
    return y
  }

  func makeElastic(_ x: FloatImage, _ s: Int, _ r: inout CorruptionRandom) -> FloatImage {
    let size = 32.0
    let c = [(0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)][s]
    let (alpha, sigma, affine) = (size * c.0, size * c.1, size * c.2)
    let centre = Double(x.height / 2)
    let sq = Double(min(x.height, x.width) / 3)
    let src: [(Double, Double)] = [(centre + sq, centre + sq), (centre + sq, centre - sq), (centre - sq, centre - sq)]
    let dst = src.map { ($0.0 + r.uniform(-affine, affine), $0.1 + r.uniform(-affine, affine)) }
    // Affine map dst -> src (warpAffine samples the source at the inverse map of each output pixel).
    let inv = affineFromPoints(from: dst, to: src)
    var warped = x
    for yy in 0..<x.height {
      for xx in 0..<x.width {
        let sx = inv[0] * Double(xx) + inv[1] * Double(yy) + inv[2]
        let sy = inv[3] * Double(xx) + inv[4] * Double(yy) + inv[5]
        for ch in 0..<x.channels { warped[yy, xx, ch] = bilinear(x, sy, sx, ch, border: .mirror) }
      }
    }
    var dx = FloatImage(height: x.height, width: x.width, channels: 1)
    var dy = FloatImage(height: x.height, width: x.width, channels: 1)
    for i in dx.data.indices { dx.data[i] = r.uniform(-1, 1) }
    for i in dy.data.indices { dy.data[i] = r.uniform(-1, 1) }
    if sigma > 0 {
      dx = gaussianFilter(dx, sigma: sigma, border: .reflect, truncate: 3)
      dy = gaussianFilter(dy, sigma: sigma, border: .reflect, truncate: 3)
    }
    var out = x
    for yy in 0..<x.height {
      for xx in 0..<x.width {
        let sy = Double(yy) + alpha * dy[yy, xx, 0]
        let sx = Double(xx) + alpha * dx[yy, xx, 0]
        for ch in 0..<x.channels { out[yy, xx, ch] = min(max(bilinear(warped, sy, sx, ch, border: .reflect), 0), 1) }
      }
    }
    return out
  }
}

/// The affine map (a, b, c, d, e, f): x' = a x + b y + c, y' = d x + e y + f, taking three
/// points (x, y) to three others.
func affineFromPoints(from p: [(Double, Double)], to q: [(Double, Double)]) -> [Double] {
  // Solve [x y 1] * [a d; b e; c f] = [x' y'] by Cramer's rule.
  let det = p[0].0 * (p[1].1 - p[2].1) - p[0].1 * (p[1].0 - p[2].0) + (p[1].0 * p[2].1 - p[2].0 * p[1].1)
  func solve(_ v: [Double]) -> (Double, Double, Double) {
    let a = (v[0] * (p[1].1 - p[2].1) - p[0].1 * (v[1] - v[2]) + (v[1] * p[2].1 - v[2] * p[1].1)) / det
    let b = (p[0].0 * (v[1] - v[2]) - v[0] * (p[1].0 - p[2].0) + (p[1].0 * v[2] - p[2].0 * v[1])) / det
    let c =
      (p[0].0 * (p[1].1 * v[2] - p[2].1 * v[1]) - p[0].1 * (p[1].0 * v[2] - p[2].0 * v[1]) + v[0]
        * (p[1].0 * p[2].1 - p[2].0 * p[1].1)) / det
    return (a, b, c)
  }
  let (a, b, c) = solve(q.map { $0.0 })
  let (d, e, f) = solve(q.map { $0.1 })
  return [a, b, c, d, e, f]
}
