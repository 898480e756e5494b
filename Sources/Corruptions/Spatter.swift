import Foundation

extension Corruption {
  /// Water drops (severities 1-3) or mud (4-5), as the original generator draws them.
  func makeSpatter(_ x: FloatImage, _ s: Int, _ r: inout CorruptionRandom) -> FloatImage {
    let c = [
      (0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1.0, 0.69, 0.5, 0),
      (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ][s]
    let (h, w) = (x.height, x.width)
    var liquid = FloatImage(height: h, width: w, channels: 1)
    for i in liquid.data.indices { liquid.data[i] = r.normal(mean: c.0, std: c.1) }
    liquid = gaussianFilter(liquid, sigma: c.2)
    liquid = liquid.map { $0 < c.3 ? 0 : $0 }
    var y = x
    if c.5 == 0 {
      let liquid8 = liquid.data.map { Double(UInt8(clamping: Int(min(max($0, 0), 255.0 / 255) * 255))) }
      let edges = canny(liquid8, height: h, width: w, low: 50, high: 150)
      var dist = distanceToZero(edges.map { 255 - $0 }, height: h, width: w).map { min($0, 20) }
      dist = boxBlur3(dist, height: h, width: w).map { Double(Int($0)) }
      dist = equalizeHistogram(dist)
      dist = filter2D(FloatImage(height: h, width: w, channels: 1, data: dist), [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]).data
        .map { min(max($0.rounded(), 0), 255) }
      dist = boxBlur3(dist, height: h, width: w)
      var m = zip(liquid8, dist).map { $0 * $1 }
      let top = m.max() ?? 0
      m = m.map { top > 0 ? $0 / top * c.4 : 0 }
      let colour = [175.0 / 255, 238.0 / 255, 238.0 / 255]
      for p in 0..<(h * w) {
        for ch in 0..<3 { y.data[p * 3 + ch] = min(max(x.data[p * 3 + ch] + m[p] * colour[ch], 0), 1) }
      }
    } else {
      var m = FloatImage(height: h, width: w, channels: 1, data: liquid.data.map { $0 > c.3 ? 1 : 0 })
      m = gaussianFilter(m, sigma: c.4).map { $0 < 0.8 ? 0 : $0 }
      let colour = [63.0 / 255, 42.0 / 255, 20.0 / 255]
      for p in 0..<(h * w) {
        for ch in 0..<3 {
          y.data[p * 3 + ch] = min(max(x.data[p * 3 + ch] * (1 - m.data[p]) + colour[ch] * m.data[p], 0), 1)
        }
      }
    }
    return y
  }
}

/// Canny edges (OpenCV's defaults: 3x3 Sobel, L1 gradient magnitude, hysteresis) of a gray
/// uint8-valued image; 255 on edges, 0 elsewhere.
func canny(_ img: [Double], height h: Int, width w: Int, low: Double, high: Double) -> [Double] {
  let b = Border.mirror
  func at(_ y: Int, _ x: Int) -> Double { img[b.index(y, h) * w + b.index(x, w)] }
  var gx = [Double](repeating: 0, count: h * w)
  var gy = gx
  for y in 0..<h {
    for x in 0..<w {
      gx[y * w + x] =
        (at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1)) - (at(y - 1, x - 1) + 2 * at(y, x - 1) + at(y + 1, x - 1))
      gy[y * w + x] =
        (at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1)) - (at(y - 1, x - 1) + 2 * at(y - 1, x) + at(y - 1, x + 1))
    }
  }
  let mag = zip(gx, gy).map { abs($0) + abs($1) }
  func m(_ y: Int, _ x: Int) -> Double { (y < 0 || y >= h || x < 0 || x >= w) ? 0 : mag[y * w + x] }
  // 0: not an edge, 1: weak, 2: strong
  var state = [Int](repeating: 0, count: h * w)
  for y in 0..<h {
    for x in 0..<w {
      let v = mag[y * w + x]
      if v <= low { continue }
      let angle = atan2(gy[y * w + x], gx[y * w + x]) * 180 / Double.pi
      let a = angle < 0 ? angle + 180 : angle
      let (n1, n2): (Double, Double)
      if a < 22.5 || a >= 157.5 {
        (n1, n2) = (m(y, x - 1), m(y, x + 1))
      } else if a < 67.5 {
        (n1, n2) = (m(y - 1, x + 1), m(y + 1, x - 1))
      } else if a < 112.5 {
        (n1, n2) = (m(y - 1, x), m(y + 1, x))
      } else {
        (n1, n2) = (m(y - 1, x - 1), m(y + 1, x + 1))
      }
      if v > n1 && v >= n2 { state[y * w + x] = v > high ? 2 : 1 }
    }
  }
  var stack = (0..<(h * w)).filter { state[$0] == 2 }
  var out = [Double](repeating: 0, count: h * w)
  for i in stack { out[i] = 255 }
  while let i = stack.popLast() {
    let (y, x) = (i / w, i % w)
    for dy in -1...1 {
      for dx in -1...1 {
        let (yy, xx) = (y + dy, x + dx)
        guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
        let j = yy * w + xx
        if state[j] == 1 && out[j] == 0 {
          out[j] = 255
          stack.append(j)
        }
      }
    }
  }
  return out
}

/// Distance from each nonzero pixel to the nearest zero pixel by the two-pass 5x5 chamfer
/// OpenCV uses for DIST_L2 with mask size 5 (weights 1, 1.4 and 2.1969).
func distanceToZero(_ img: [Double], height h: Int, width w: Int) -> [Double] {
  let big = 1e6
  var d = img.map { $0 == 0 ? 0 : big }
  let a = 1.0
  let b = 1.4
  let c = 2.1969
  let forward: [(Int, Int, Double)] = [
    (-2, -1, c), (-2, 1, c), (-1, -2, c), (-1, -1, b), (-1, 0, a), (-1, 1, b), (-1, 2, c), (0, -1, a),
  ]
  let backward = forward.map { (-$0.0, -$0.1, $0.2) }
  func pass(_ offsets: [(Int, Int, Double)], _ ys: [Int], _ xs: [Int]) {
    for y in ys {
      for x in xs {
        var v = d[y * w + x]
        if v == 0 { continue }
        for (dy, dx, cost) in offsets {
          let yy = y + dy
          let xx = x + dx
          if yy >= 0 && yy < h && xx >= 0 && xx < w { v = min(v, d[yy * w + xx] + cost) }
        }
        d[y * w + x] = v
      }
    }
  }
  pass(forward, Array(0..<h), Array(0..<w))
  pass(backward, Array((0..<h).reversed()), Array((0..<w).reversed()))
  return d
}

/// 3x3 box filter, border reflect-101 (OpenCV blur).
func boxBlur3(_ img: [Double], height h: Int, width w: Int) -> [Double] {
  let k = [[Double]](repeating: [Double](repeating: 1.0 / 9, count: 3), count: 3)
  return filter2D(FloatImage(height: h, width: w, channels: 1, data: img), k).data
}

/// Histogram equalization of uint8-valued data (OpenCV equalizeHist).
func equalizeHistogram(_ img: [Double]) -> [Double] {
  var hist = [Int](repeating: 0, count: 256)
  for v in img { hist[Int(min(max(v, 0), 255))] += 1 }
  guard let first = hist.firstIndex(where: { $0 > 0 }) else { return img }
  let total = img.count
  if hist[first] == total { return img.map { _ in Double(first) } }
  let scale = 255.0 / Double(total - hist[first])
  var lut = [Double](repeating: 0, count: 256)
  var sum = 0
  for i in (first + 1)..<256 {
    sum += hist[i]
    lut[i] = min(max((Double(sum) * scale).rounded(), 0), 255)
  }
  return img.map { lut[Int(min(max($0, 0), 255))] }
}
