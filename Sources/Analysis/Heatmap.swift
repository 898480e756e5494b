import Base
import Datasets
import SIS

/// How often each pixel location appears in a set of pixel subsets (the paper's Figures 2 and 4):
/// frequency[y * W + x] = fraction of subsets containing pixel (y, x).
public func pixelFrequency(_ subsets: [[Int]], height: Int, width: Int) -> [Double] {
  var counts = [Double](repeating: 0, count: height * width)
  for s in subsets { for f in s where f < counts.count { counts[f] += 1 } }
  let n = Double(max(subsets.count, 1))
  return counts.map { $0 / n }
}

/// A perceptually ordered colormap (dark blue → green → yellow, after viridis) as RGB bytes.
public func colormap(_ t: Double) -> [UInt8] {
  let anchors: [(Double, Double, Double)] = [
    (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37),
  ]
  let x = min(max(t, 0), 1) * Double(anchors.count - 1)
  let i = min(Int(x), anchors.count - 2)
  let f = x - Double(i)
  let a = anchors[i]
  let b = anchors[i + 1]
  return [UInt8(a.0 + (b.0 - a.0) * f), UInt8(a.1 + (b.1 - a.1) * f), UInt8(a.2 + (b.2 - a.2) * f)]
}

/// RGB pixels of a heatmap scaled to [0, `maximum`] (default: its own maximum).
public func heatmapPixels(_ frequency: [Double], maximum: Double? = nil) -> [UInt8] {
  let top = maximum ?? (frequency.max() ?? 1)
  return frequency.flatMap { colormap(top > 0 ? $0 / top : 0) }
}

/// A vertical colour bar for a heatmap drawn with `colormap`: 0 at the bottom, `maximum` (the
/// frequency that maps to the top colour) at the top, and the middle value, as inline SVG.
public func colorBarSVG(maximum: Double, height: Int = 256, label: String = "frequency") -> String {
  let steps = 32
  let bar = Double(height) / Double(steps)
  var s =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"96\" height=\"\(height + 24)\" viewBox=\"0 0 96 \(height + 24)\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"colour scale: 0 to \(fmt(maximum, digits: 3))\">"
  for i in 0..<steps {
    let c = colormap((Double(i) + 0.5) / Double(steps))
    let y = 12 + Double(height) - Double(i + 1) * bar
    s +=
      "<rect x=\"4\" y=\"\(fmt(y, digits: 2))\" width=\"18\" height=\"\(fmt(bar + 0.5, digits: 2))\" fill=\"rgb(\(c[0]),\(c[1]),\(c[2]))\"/>"
  }
  for (value, y) in [(maximum, 12.0), (maximum / 2, 12 + Double(height) / 2), (0, 12 + Double(height))] {
    s += "<text x=\"28\" y=\"\(fmt(y + 4, digits: 1))\">\(fmt(value, digits: 3))</text>"
  }
  s += "<text x=\"28\" y=\"\(height + 24)\" font-size=\"10\">\(label)</text></svg>"
  return s
}

/// Where subset pixels sit: mean row and column, the share in each quadrant (top-left,
/// top-right, bottom-left, bottom-right; without a positional bias each holds about a quarter),
/// and the share in the border ring, the pixels less than `borderWidth` (a sixteenth of the
/// shorter side, at least 1) from an edge, against the ring's share of the image area.
public struct PositionSummary: Sendable {
  public var meanRow: Double
  public var meanColumn: Double
  public var quadrants: [Double]
  public var borderWidth: Int
  public var border: Double
  public var borderArea: Double

  public init(_ subsets: [[Int]], height: Int, width: Int) {
    let ring = Swift.max(1, Swift.min(height, width) / 16)
    var rows = 0.0
    var cols = 0.0
    var q = [Double](repeating: 0, count: 4)
    var inRing = 0.0
    var n = 0.0
    for s in subsets {
      for f in s {
        let y = f / width
        let x = f % width
        rows += Double(y)
        cols += Double(x)
        q[(y >= height / 2 ? 2 : 0) + (x >= width / 2 ? 1 : 0)] += 1
        if Swift.min(y, x, height - 1 - y, width - 1 - x) < ring { inRing += 1 }
        n += 1
      }
    }
    meanRow = n > 0 ? rows / n : 0
    meanColumn = n > 0 ? cols / n : 0
    quadrants = q.map { n > 0 ? $0 / n : 0 }
    borderWidth = ring
    border = n > 0 ? inRing / n : 0
    let inner = Swift.max(0, height - 2 * ring) * Swift.max(0, width - 2 * ring)
    borderArea = Double(height * width - inner) / Double(height * width)
  }
}

/// How close a removal order is to raster order: the correlation between the step number and
/// the index of the feature removed at that step (for a full order, a permutation, this is
/// Spearman's rank correlation). 1 for raster order (pixel 0 first), about 0 (± 1/√p) for an
/// order unrelated to position, -1 for reversed raster order. Ties broken to the lowest index
/// push it toward 1 even when some low pixels are skipped and taken later.
public func rasterCorrelation(_ order: [Int]) -> Double {
  let n = Double(order.count)
  guard order.count > 1 else { return 0 }
  let meanStep = (n - 1) / 2
  let meanIndex = order.reduce(0.0) { $0 + Double($1) } / n
  var sxy = 0.0
  var sxx = 0.0
  var syy = 0.0
  for (i, f) in order.enumerated() {
    let dx = Double(i) - meanStep
    let dy = Double(f) - meanIndex
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  return syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
}

/// Whether ties broken to the lowest index turned one of two runs' backward selection into
/// raster order, and whether that moved its subsets: raster order removes the top rows first,
/// so the pixels left at the end (the SIS and the k% subsets) are pulled toward the bottom of the
/// image. A run counts as raster-like when its mean `rasterCorrelation` exceeds 0.5; the artifact
/// shows when, in addition, its subsets hold at least 5 points more of their pixels in the bottom
/// half than the other run's (about 50% without a positional bias).
public struct RasterVerdict: Sendable {
  /// The index (0 or 1) of the run where the artifact shows, if it does in exactly one.
  public var artifactIn: Int?
  public var text: String

  public init(labels: [String], rasterCorrelations: [Double], summaries: [PositionSummary], fraction: Double, featureCount p: Int)
  {
    let bottom = summaries.map { $0.quadrants[2] + $0.quadrants[3] }
    func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
    let rasterLike = rasterCorrelations.map { $0 > 0.5 }
    let evidence =
      "correlation of the removal order with raster order: \(String(format: "%.2f", rasterCorrelations[0])) and \(String(format: "%.2f", rasterCorrelations[1])) "
      + "(1 for raster order, about 0 ± \(String(format: "%.2f", 1 / Double(p).squareRoot())) for an order unrelated to position); "
      + "pixels of the \(String(format: "%g", fraction * 100))% subsets in the bottom half of the image: \(pct(bottom[0])) and \(pct(bottom[1])) (about 50% without a positional bias)"
    artifactIn = nil
    for (a, b) in [(0, 1), (1, 0)] where rasterLike[a] && !rasterLike[b] {
      if bottom[a] > bottom[b] + 0.05 {
        artifactIn = a
        text =
          "the raster-order artifact shows under \(labels[a]): its removal order is largely raster order and its subsets are pulled toward the bottom rows; "
          + evidence
      } else {
        text = "\(labels[a]) follows raster order in many steps, but its subsets are not pulled toward the bottom; " + evidence
      }
      return
    }
    text =
      (rasterLike[0] && rasterLike[1] ? "both runs follow raster order in many steps; " : "no raster-order artifact is visible; ")
      + evidence
  }
}

/// The share of `a`'s features that are also in `b` (1 when `a` is empty): how much of one SIS
/// a larger one contains, where the Jaccard index mostly measures the size difference.
public func containment(_ a: [Int], in b: [Int]) -> Double {
  let sa = Set(a)
  return sa.isEmpty ? 1 : Double(sa.intersection(b).count) / Double(sa.count)
}

/// |A ∩ B| / |A ∪ B| (1 for two empty sets).
public func jaccard(_ a: [Int], _ b: [Int]) -> Double {
  let sa = Set(a)
  let sb = Set(b)
  let union = sa.union(sb).count
  return union == 0 ? 1 : Double(sa.intersection(sb).count) / Double(union)
}

extension PositionSummary {
  /// "42.0% within 2 px of the border (18.8% of the area)".
  public var borderText: String {
    "\(fmt(border * 100, digits: 1))% within \(borderWidth) px of the border (\(fmt(borderArea * 100, digits: 1))% of the area)"
  }

  /// "mean position row 16.4 column 15.2 (centre 15.50); quadrants TL/TR/BL/BR 25.0% / ...; <border>".
  public func text(centre: Double) -> String {
    "mean position row \(fmt(meanRow)) column \(fmt(meanColumn)) (centre \(fmt(centre))); quadrants TL/TR/BL/BR "
      + quadrants.map { fmt($0 * 100, digits: 1) + "%" }.joined(separator: " / ") + "; " + borderText
  }
}

/// The k% subsets of stored records, or their SIS at `threshold` (images without a SIS are left out).
public func subsetsOf(_ records: [ImageRecord], fraction: Double, threshold: Double?) -> [[Int]] {
  if let threshold { return records.compactMap { $0.sis(at: threshold).features } }
  return records.map { $0.subset(fraction: fraction) }
}

/// The pixel-frequency heatmap of a run's k% subsets or of its SIS at a threshold (the paper's
/// Figures 2 and 4), with where the pixels sit.
public struct SubsetHeatmap {
  public let subsets: [[Int]]
  public let frequency: [Double]
  public let height: Int
  public let width: Int
  public let fraction: Double
  public let threshold: Double?

  public init(manifest: RunManifest, records: [ImageRecord], fraction: Double, threshold: Double?) throws {
    guard manifest.features == "pixel" else {
      throw SISError.badArgument("heatmaps need pixel features, the run used \(manifest.features)")
    }
    height = manifest.inputShape[1]
    width = manifest.inputShape[2]
    subsets = subsetsOf(records, fraction: fraction, threshold: threshold)
    frequency = pixelFrequency(subsets, height: height, width: width)
    self.fraction = fraction
    self.threshold = threshold
  }

  /// Writes the PNG and the frequencies beside it (same name, `.npy`); returns the summary lines.
  public func write(png path: String) throws -> [String] {
    try writeHeatmap(frequency, height: height, width: width, to: path)
    let npy = (path.hasSuffix(".png") ? String(path.dropLast(4)) : path) + ".npy"
    try NpyArray(frequency, shape: [height, width]).write(to: npy)
    let what = threshold.map { "SIS at threshold \($0)" } ?? "last \(fmt(fraction * 100))% of each order"
    return [
      "\(path): \(subsets.count) subsets (\(what)), max frequency \(fmt(frequency.max() ?? 0, digits: 3))",
      PositionSummary(subsets, height: height, width: width).text(centre: Double(height - 1) / 2),
    ]
  }
}
