import Base
import Foundation

/// A line chart as a self-contained SVG: one or more series of points, each with an optional
/// interval drawn as a shaded band (e.g. a 95% confidence interval).
public struct LineChart {
  public struct Point: Sendable {
    public var x: Double
    public var y: Double
    public var lower: Double?
    public var upper: Double?

    public init(x: Double, y: Double, lower: Double? = nil, upper: Double? = nil) {
      self.x = x
      self.y = y
      self.lower = lower
      self.upper = upper
    }
  }

  public struct Series: Sendable {
    public var name: String
    public var points: [Point]

    public init(name: String, points: [Point]) {
      self.name = name
      self.points = points
    }
  }

  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var series: [Series]
  /// A horizontal reference line (e.g. 0 for a difference), if any.
  public var reference: Double?

  public init(title: String, xLabel: String, yLabel: String, series: [Series], reference: Double? = nil) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
    self.reference = reference
  }

  static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

  /// `text` with &, <, > and quotes escaped for XML and HTML.
  public static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// The x ticks: at the x values measured (thresholds, fractions) when there are at most 12,
  /// else 5 evenly spaced; a label is left out where it would crowd the previous one (closer than
  /// 30 px on an axis `width` px long), its tick kept.
  public static func xTicks(_ xs: [Double], from x0: Double, to x1: Double, width: Double) -> [(Double, String?)] {
    let measured = Array(Set(xs)).sorted()
    let values = (1...12).contains(measured.count) ? measured : (0...4).map { x0 + Double($0) / 4 * (x1 - x0) }
    // The fewest decimals that show every value exactly (0.95 needs 2), at most 4.
    func decimals(_ v: Double) -> Int {
      for d in 0...4 {
        let scaled = v * Foundation.pow(10, Double(d))
        if Swift.abs(scaled - scaled.rounded()) < 1e-9 { return d }
      }
      return 2
    }
    let digits = values.map(decimals).max() ?? 2
    var out: [(Double, String?)] = []
    var lastLabelled = -Double.infinity
    for v in values {
      let at = (v - x0) / Swift.max(x1 - x0, 1e-12) * width
      if at - lastLabelled >= 30 {
        out.append((v, fmt(v, digits: Swift.max(digits, 1))))
        lastLabelled = at
      } else {
        out.append((v, nil))
      }
    }
    return out
  }

  public var svg: String {
    // The legend sits below the axis label, a line per series, so it never covers a curve; the
    // chart widens for long series names (about 6.6 px per character at 12 px).
    let legendHeight = 16.0 * Double(series.count) + 4
    let longest = Double(series.map(\.name.count).max() ?? 0)
    let (w, plotHeight, left, right, top) = (Swift.max(560.0, 64 + 30 + longest * 6.6 + 16), 340.0, 64.0, 16.0, 36.0)
    let bottom = 48.0 + legendHeight
    let h = plotHeight + legendHeight
    let all = series.flatMap(\.points)
    let xs = all.map(\.x)
    let ys = all.flatMap { [$0.y, $0.lower ?? $0.y, $0.upper ?? $0.y] } + (reference.map { [$0] } ?? [])
    var (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1)
    var (y0, y1) = (ys.min() ?? 0, ys.max() ?? 1)
    if x1 <= x0 { x1 = x0 + 1 }
    if y1 <= y0 { y1 = y0 + 1 }
    let pad = (y1 - y0) * 0.05
    y0 -= pad
    y1 += pad
    if x0 == x1 { x0 -= 1 }
    func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (w - left - right) }
    func py(_ y: Double) -> Double { h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom) }
    func f(_ v: Double) -> String { String(format: "%.1f", v) }
    var s =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" width=\"\(Int(w))\" height=\"\(Int(h))\""
    s += " font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"\(Self.escape(title))\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s += "<text x=\"\(f(w / 2))\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">\(Self.escape(title))</text>\n"
    s += "<line x1=\"\(f(left))\" y1=\"\(f(h - bottom))\" x2=\"\(f(w - right))\" y2=\"\(f(h - bottom))\" stroke=\"black\"/>\n"
    s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(h - bottom))\" stroke=\"black\"/>\n"
    for i in 0...4 {
      let yv = y0 + Double(i) / 4 * (y1 - y0)
      s +=
        "<text x=\"\(f(left - 6))\" y=\"\(f(py(yv) + 4))\" text-anchor=\"end\">\(fmt(yv, digits: Swift.abs(y1 - y0) < 10 ? 2 : 0))</text>\n"
    }
    for (xv, label) in Self.xTicks(xs, from: x0, to: x1, width: w - left - right) {
      s += "<line x1=\"\(f(px(xv)))\" y1=\"\(f(h - bottom))\" x2=\"\(f(px(xv)))\" y2=\"\(f(h - bottom + 4))\" stroke=\"black\"/>"
      if let label {
        s += "<text x=\"\(f(px(xv)))\" y=\"\(f(h - bottom + 16))\" text-anchor=\"middle\">\(label)</text>"
      }
      s += "\n"
    }
    s +=
      "<text x=\"\(f((left + w - right) / 2))\" y=\"\(f(plotHeight - 8))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
    let midY = (top + h - bottom) / 2
    s +=
      "<text x=\"14\" y=\"\(f(midY))\" transform=\"rotate(-90 14 \(f(midY)))\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
    if let reference {
      s +=
        "<line x1=\"\(f(left))\" y1=\"\(f(py(reference)))\" x2=\"\(f(w - right))\" y2=\"\(f(py(reference)))\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n"
    }
    for (k, line) in series.enumerated() {
      let color = Self.colors[k % Self.colors.count]
      let banded = line.points.filter { $0.lower != nil && $0.upper != nil }
      if banded.count > 1 {
        let upper = banded.map { "\(f(px($0.x))),\(f(py($0.upper ?? $0.y)))" }
        let lower = banded.reversed().map { "\(f(px($0.x))),\(f(py($0.lower ?? $0.y)))" }
        s +=
          "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
      }
      let path = line.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
      s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
      for p in line.points { s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(color)\"/>\n" }
      let ly = plotHeight + 4 + Double(k) * 16
      s += "<rect x=\"\(f(left + 12))\" y=\"\(f(ly))\" width=\"12\" height=\"4\" fill=\"\(color)\"/>"
      s += "<text x=\"\(f(left + 30))\" y=\"\(f(ly + 6))\">\(Self.escape(line.name))</text>\n"
    }
    return s + "</svg>\n"
  }
}
