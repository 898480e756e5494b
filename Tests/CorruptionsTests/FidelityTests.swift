import Foundation
import Testing

@testable import Corruptions

/// Checks of each corruption against what its published parameters imply, beyond the noise and
/// brightness/contrast/JPEG statistics in CorruptionsTests: point-spread functions of the blurs,
/// the HSV arithmetic of saturate, the bounds of fog, the linear blend of frost, and that
/// corruptions which only move or average pixels leave a flat image flat.
@Suite struct FidelityTests {
  /// A black image with one white pixel at (16, 16).
  func impulse() -> FloatImage {
    var img = gray(0)
    for c in 0..<3 { img[16, 16, c] = 1 }
    return img
  }

  @Test(arguments: [(1, 0.06), (3, 0.12), (5, 0.2)])
  func speckleNoiseScalesWithTheValue(severity: Int, c: Double) throws {
    // x + x * N(0, c): at x = 0.5 the residual has standard deviation 0.5 c.
    var r = CorruptionRandom(seed: 5, stream: 0)
    var diffs: [Double] = []
    for _ in 0..<4 { diffs += try Corruption.speckleNoise.apply(gray(0.5), severity: severity, random: &r).data.map { $0 - 0.5 } }
    #expect(abs(std(diffs) - 0.5 * c) < 0.08 * 0.5 * c, "std \(std(diffs)), expected \(0.5 * c)")
  }

  @Test(arguments: [(1, 0.4), (3, 0.7), (5, 1.0)])
  func gaussianBlurSpreadsAPointBySigma(severity: Int, sigma: Double) throws {
    var r = CorruptionRandom(seed: 0, stream: 0)
    let out = try Corruption.gaussianBlur.apply(impulse(), severity: severity, random: &r)
    var mass = 0.0
    var second = 0.0
    for y in 0..<32 {
      for x in 0..<32 {
        mass += out[y, x, 0]
        second += out[y, x, 0] * Double((x - 16) * (x - 16))
      }
    }
    #expect(abs(mass - 1) < 1e-9)
    // scipy's kernel: exp(-k²/2σ²) for |k| <= int(4σ + 0.5), normalized; its variance, by hand.
    let radius = Int(4 * sigma + 0.5)
    let w = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
    let expected = zip(-radius...radius, w).reduce(0) { $0 + Double($1.0 * $1.0) * $1.1 } / w.reduce(0, +)
    #expect(abs(second / mass - expected) < 1e-9, "variance \(second / mass), expected \(expected)")
    #expect(abs(expected - sigma * sigma) < (sigma < 0.6 ? 0.09 : 0.01))
  }

  @Test func defocusBlurIsADiskOfTheSeverityRadius() throws {
    // Severity 5: radius 1.5 (x² + y² <= 2.25: the 3x3 block), alias blur sigma 0.1 (nearly none).
    var r = CorruptionRandom(seed: 0, stream: 0)
    let out = try Corruption.defocusBlur.apply(impulse(), severity: 5, random: &r)
    for y in 12...20 {
      for x in 12...20 {
        let inside = abs(y - 16) <= 1 && abs(x - 16) <= 1
        #expect(inside ? abs(out[y, x, 0] - 1.0 / 9) < 0.01 : out[y, x, 0] < 1e-6, "(\(y), \(x)) = \(out[y, x, 0])")
      }
    }
    // Severity 1: radius 0.3 keeps only the centre pixel; the alias blur (sigma 0.4) spreads it.
    let one = try Corruption.defocusBlur.apply(impulse(), severity: 1, random: &r)
    #expect(one[16, 16, 0] > 0.5 && one[16, 17, 0] > 0.01 && one[16, 18, 0] < 1e-6)
  }

  @Test(arguments: [Corruption.gaussianBlur, .defocusBlur, .zoomBlur, .motionBlur, .glassBlur, .elasticTransform, .pixelate])
  func averagingAndWarpingKeepAFlatImageFlat(corruption: Corruption) throws {
    for severity in 1...5 {
      var r = CorruptionRandom(seed: 7, stream: UInt64(severity))
      let out = try corruption.apply(gray(0.4), severity: severity, random: &r)
      // Up to the uint8 rounding some of them apply on the way (0.4 * 255 = 102).
      #expect(out.data.allSatisfy { abs($0 - 0.4) <= 0.5 / 255 + 1e-9 }, "\(corruption) severity \(severity)")
    }
  }

  @Test(arguments: [(1, 0.3, 0.0), (4, 2.0, 0.1)])
  func saturateScalesTheHSVSaturation(severity: Int, scale: Double, shift: Double) throws {
    var r = CorruptionRandom(seed: 0, stream: 0)
    var img = gray(0)
    for y in 0..<32 {
      for x in 0..<32 {
        img[y, x, 0] = 0.8
        img[y, x, 1] = 0.2 + 0.01 * Double(x)
        img[y, x, 2] = 0.2
      }
    }
    let out = try Corruption.saturate.apply(img, severity: severity, random: &r)
    for x in [0, 10, 31] {
      let (h0, s0, v0) = rgbToHSV(img[3, x, 0], img[3, x, 1], img[3, x, 2])
      let (h1, s1, v1) = rgbToHSV(out[3, x, 0], out[3, x, 1], out[3, x, 2])
      #expect(abs(s1 - min(max(s0 * scale + shift, 0), 1)) < 1e-9)
      #expect(abs(v1 - v0) < 1e-9)
      if s1 > 0 { #expect(abs(h1 - h0) < 1e-9) }
    }
  }

  @Test(arguments: [(1, 0.2), (3, 0.75), (5, 1.5)])
  func fogAddsPlasmaAndRescales(severity: Int, c: Double) throws {
    // (x + c * plasma) * max(x) / (max(x) + c) with plasma in [0, 1]: on a flat image of value v
    // the result lies in [v * v / (v + c), v].
    var r = CorruptionRandom(seed: 9, stream: 0)
    let v = 0.6
    let out = try Corruption.fog.apply(gray(v), severity: severity, random: &r)
    #expect(out.data.allSatisfy { $0 >= v * v / (v + c) - 1e-9 && $0 <= v + 1e-9 })
    #expect(std(out.data) > 0.01 * c, "no fog texture")
  }

  @Test(arguments: [(1, 1.0, 0.2), (5, 0.75, 0.45)])
  func frostIsTheDocumentedLinearBlend(severity: Int, a: Double, b: Double) throws {
    // Procedural substitute, but the blend is the original's: a * x + b * frost.
    var r0 = CorruptionRandom(seed: 3, stream: 0)
    var r1 = CorruptionRandom(seed: 3, stream: 0)
    let dark = try Corruption.frost.apply(gray(0), severity: severity, random: &r0)
    let mid = try Corruption.frost.apply(gray(0.4), severity: severity, random: &r1)
    for (d, m) in zip(dark.data, mid.data) where m < 1 {
      #expect(abs(m - d - a * 0.4) < 1e-9)
    }
    #expect(dark.data.allSatisfy { $0 >= 0 && $0 <= b + 1e-9 })
  }

  // Not elastic transform: its severity 1 is a large affine warp without elastic noise, severity
  // 5 a small one with it (the original's parameters), so damage is not monotone by design.
  @Test(arguments: [Corruption.pixelate, .jpegCompression, .contrast, .fog, .frost, .snow, .spatter])
  func damageGrowsFromSeverityOneToFive(corruption: Corruption) throws {
    let img = testImage()
    var damage: [Double] = []
    for s in [1, 5] {
      var total = 0.0
      for k in 0..<6 {
        var r = CorruptionRandom(seed: 13, stream: UInt64(k))
        total += meanAbsDiff(try corruption.apply(img, severity: s, random: &r), img)
      }
      damage.append(total)
    }
    #expect(damage[0] < damage[1], "\(corruption): \(damage)")
  }

  /// Glass blur against a numpy/scipy rendering of the original procedure
  /// (`scripts/glass_blur_reference.py fixture`): the mean change it makes to the checkerboard
  /// image per severity, averaged over 20,000 draws there and 256 here (sampling error about
  /// 0.3%). A true swap instead of the original's copy changes it by 10-40%, rounding instead of
  /// truncating to uint8 by 1.5-4% at severities 2-4.
  @Test func glassBlurDamageMatchesTheReferenceProcedure() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: corruptionFixtures + "/glass_blur_damage.json"))
    let expected = try #require(
      (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["meanAbsoluteChange"] as? [Double])
    let img = testImage()
    for severity in 1...5 {
      var total = 0.0
      for k in 0..<256 {
        var r = CorruptionRandom(seed: 17, stream: UInt64(k))
        let out = try Corruption.glassBlur.apply(img, severity: severity, random: &r)
        total += meanAbsDiff(FloatImage(uint8: out.uint8(), height: 32, width: 32), img)
      }
      let mean = total / 256
      let reference = expected[severity - 1]
      #expect(abs(mean - reference) < 0.01 * reference, "severity \(severity): \(mean), reference \(reference)")
    }
  }
}
