import Base
import Datasets
import SIS

/// Image | SIS features in red on black | image with everything outside the SIS masked (grey
/// stands for the mask), enlarged to about 256 px with nearest-neighbour scaling, as a PNG.
public func drawSIS(data: ImageDataset, position: Int, features: [Int], layout: FeatureLayout, to path: String) throws {
  let (c, h, w) = (data.imageShape[0], data.imageShape[1], data.imageShape[2])
  let image = ImageIO.hwc(fromCHW: data.image(position), channels: c, height: h, width: w)
  var kept = [Bool](repeating: false, count: c * h * w)
  for f in features { for e in layout.elements[f] { kept[e] = true } }
  var locations = [UInt8](repeating: 0, count: h * w * 3)
  var masked = [UInt8](repeating: 128, count: h * w * 3)
  for y in 0..<h {
    for x in 0..<w {
      let anyKept = (0..<c).contains { kept[$0 * h * w + y * w + x] }
      if anyKept { locations[(y * w + x) * 3] = 255 }
      for ch in 0..<min(c, 3) where kept[ch * h * w + y * w + x] {
        masked[(y * w + x) * 3 + ch] = image[(y * w + x) * c + ch]
      }
    }
  }
  let rgb = c == 3 ? image : image.flatMap { [$0, $0, $0] }
  let factor = max(1, 256 / max(h, w))
  let tiles = [rgb, locations, masked].map { ImageIO.upscale($0, width: w, height: h, channels: 3, factor: factor) }
  let (pixels, width) = ImageIO.row(tiles, width: w * factor, height: h * factor, channels: 3)
  try ImageIO.writePNG(pixels, width: width, height: h * factor + 4, channels: 3, to: path)
}

/// A pixel-frequency heatmap as a PNG, enlarged to about 256 px, on the colour scale
/// [0, `maximum`] (default: its own maximum).
public func writeHeatmap(_ freq: [Double], height: Int, width: Int, maximum: Double? = nil, to path: String) throws {
  let factor = max(1, 256 / max(height, width))
  let px = ImageIO.upscale(heatmapPixels(freq, maximum: maximum), width: width, height: height, channels: 3, factor: factor)
  try ImageIO.writePNG(px, width: width * factor, height: height * factor, channels: 3, to: path)
}

/// Several heatmaps side by side on one colour scale (their common maximum), as a PNG.
/// Returns that maximum.
@discardableResult
public func writeHeatmapRow(_ freqs: [[Double]], height h: Int, width w: Int, to path: String) throws -> Double {
  let top = freqs.flatMap { $0 }.max() ?? 1
  let factor = max(1, 256 / max(h, w))
  let tiles = freqs.map { ImageIO.upscale(heatmapPixels($0, maximum: top), width: w, height: h, channels: 3, factor: factor) }
  let (px, width) = ImageIO.row(tiles, width: w * factor, height: h * factor, channels: 3, gap: 8)
  try ImageIO.writePNG(px, width: width, height: h * factor + 16, channels: 3, to: path)
  return top
}

/// Image | one masked image per SIS (each keeps only its SIS's pixels, grey elsewhere), enlarged
/// with nearest-neighbour scaling: an ensemble's SIS beside each member's (the paper's Figure S2).
public func drawSISComparison(data: ImageDataset, position: Int, sis: [[Int]], layout: FeatureLayout, to path: String) throws {
  let (c, h, w) = (data.imageShape[0], data.imageShape[1], data.imageShape[2])
  let image = ImageIO.hwc(fromCHW: data.image(position), channels: c, height: h, width: w)
  let rgb = c == 3 ? image : image.flatMap { [$0, $0, $0] }
  var tiles = [rgb]
  for features in sis {
    var kept = [Bool](repeating: false, count: c * h * w)
    for f in features { for e in layout.elements[f] { kept[e] = true } }
    var masked = [UInt8](repeating: 128, count: h * w * 3)
    for q in 0..<(h * w) {
      for ch in 0..<3 where kept[Swift.min(ch, c - 1) * h * w + q] { masked[q * 3 + ch] = rgb[q * 3 + ch] }
    }
    tiles.append(masked)
  }
  let factor = max(1, 256 / max(h, w))
  let big = tiles.map { ImageIO.upscale($0, width: w, height: h, channels: 3, factor: factor) }
  let (pixels, width) = ImageIO.row(big, width: w * factor, height: h * factor, channels: 3)
  try ImageIO.writePNG(pixels, width: width, height: h * factor + 4, channels: 3, to: path)
}
