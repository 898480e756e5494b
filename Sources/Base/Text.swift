/// Number and column formatting for reports.

import Foundation

/// `x` with a fixed number of decimals ("3.14").
public func fmt(_ x: Double, digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

/// `s` padded with spaces to `width` characters, on the right (or on the left for numbers).
public func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
  let fill = String(repeating: " ", count: max(0, width - s.count))
  return left ? fill + s : s + fill
}

/// A fraction as a right-aligned percentage column ("  92.10%").
public func pct(_ x: Double) -> String { pad(fmt(x * 100) + "%", 7, left: true) }
