import Datasets
import Foundation
import Testing

@testable import Corruptions

let corruptionFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// A 32x32 test image: smooth colour gradients plus a checkerboard, so blurs and noise both show.
func testImage() -> FloatImage {
  var img = FloatImage(height: 32, width: 32, channels: 3)
  for y in 0..<32 {
    for x in 0..<32 {
      let check = ((x / 4 + y / 4) % 2 == 0) ? 0.15 : -0.15
      img[y, x, 0] = 0.5 + 0.3 * Double(x) / 31 - 0.15 + check
      img[y, x, 1] = 0.5 + 0.3 * Double(y) / 31 - 0.15 + check
      img[y, x, 2] = 0.5 + check
    }
  }
  return FloatImage(uint8: img.uint8(), height: 32, width: 32)
}

func gray(_ v: Double) -> FloatImage { FloatImage(height: 32, width: 32, channels: 3, fill: v) }

func std(_ xs: [Double]) -> Double {
  let m = xs.reduce(0, +) / Double(xs.count)
  return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
}

func meanAbsDiff(_ a: FloatImage, _ b: FloatImage) -> Double {
  zip(a.data, b.data).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(a.data.count)
}

@Suite struct CorruptionsTests {
  @Test(arguments: Corruption.allCases)
  func everySeverityRunsAndStaysInRange(corruption: Corruption) throws {
    for s in 1...5 {
      var r = CorruptionRandom(seed: 1, stream: UInt64(s))
      let out = try corruption.apply(testImage(), severity: s, random: &r)
      #expect(out.height == 32 && out.width == 32 && out.channels == 3)
      #expect(out.data.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(corruption) severity \(s) leaves [0, 1]")
    }
  }

  @Test(arguments: Corruption.allCases)
  func seededAndDeterministic(corruption: Corruption) throws {
    var a = CorruptionRandom(seed: 7, stream: 3)
    var b = CorruptionRandom(seed: 7, stream: 3)
    #expect(try corruption.apply(testImage(), severity: 3, random: &a) == corruption.apply(testImage(), severity: 3, random: &b))
  }

  @Test(arguments: [(1, 0.04), (3, 0.08), (5, 0.10)])
  func gaussianNoiseHasTheStandardDeviationOfItsSeverity(severity: Int, sigma: Double) throws {
    var r = CorruptionRandom(seed: 2, stream: 0)
    let clean = gray(0.5)
    var diffs: [Double] = []
    for _ in 0..<4 {
      let out = FloatImage(
        uint8: try Corruption.gaussianNoise.apply(clean, severity: severity, random: &r).uint8(), height: 32, width: 32)
      diffs += zip(out.data, clean.data).map { $0 - $1 }
    }
    let s = std(diffs)
    #expect(abs(s - sigma) < 0.08 * sigma, "std \(s), expected \(sigma)")
  }

  @Test func shotNoiseVarianceFollowsPoisson() throws {
    // Var(poisson(x c) / c) = x / c: at x = 0.5, severity 5 (c = 50) that is 0.01.
    var r = CorruptionRandom(seed: 3, stream: 0)
    let out = try Corruption.shotNoise.apply(gray(0.5), severity: 5, random: &r)
    let v = std(out.data) * std(out.data)
    #expect(abs(v - 0.01) < 0.0015, "variance \(v)")
  }

  @Test func impulseNoiseFlipsTheRightFraction() throws {
    var r = CorruptionRandom(seed: 4, stream: 0)
    let out = try Corruption.impulseNoise.apply(gray(0.5), severity: 5, random: &r)
    let flipped = Double(out.data.filter { $0 != 0.5 }.count) / Double(out.data.count)
    #expect(abs(flipped - 0.07) < 0.015, "flipped \(flipped)")
  }

  @Test(arguments: [(1, 0.05), (3, 0.15), (5, 0.3)])
  func brightnessRaisesTheValueChannel(severity: Int, c: Double) throws {
    var r = CorruptionRandom(seed: 0, stream: 0)
    let out = try Corruption.brightness.apply(gray(0.4), severity: severity, random: &r)
    #expect(out.data.allSatisfy { abs($0 - (0.4 + c)) < 1e-9 })
  }

  @Test func contrastKeepsMeansAndScalesDeviations() throws {
    var r = CorruptionRandom(seed: 0, stream: 0)
    let img = testImage()
    let out = try Corruption.contrast.apply(img, severity: 2, random: &r)
    for c in 0..<3 {
      let a = img.channel(c).data
      let b = out.channel(c).data
      let ma = a.reduce(0, +) / 1024
      #expect(abs(b.reduce(0, +) / 1024 - ma) < 1e-9)
      #expect(abs(std(b) - 0.5 * std(a)) < 1e-9)
    }
  }

  @Test func jpegRoundTripsThroughLibjpegAtTheSeverityQuality() throws {
    var r = CorruptionRandom(seed: 0, stream: 0)
    let img = testImage()
    let q80 = try Corruption.jpegCompression.apply(img, severity: 1, random: &r)
    let direct = try jpegRoundTrip(img.uint8(), width: 32, height: 32, quality: 80)
    #expect(q80.uint8() == direct)
    let q40 = try Corruption.jpegCompression.apply(img, severity: 5, random: &r)
    #expect(meanAbsDiff(q40, img) > meanAbsDiff(q80, img))
  }

  @Test(arguments: [
    Corruption.gaussianNoise, .shotNoise, .impulseNoise, .speckleNoise, .gaussianBlur, .defocusBlur, .zoomBlur, .motionBlur,
    .glassBlur,
  ])
  func damageGrowsWithSeverity(corruption: Corruption) throws {
    let img = testImage()
    var damage: [Double] = []
    for s in [1, 3, 5] {
      var total = 0.0
      for k in 0..<4 {
        var r = CorruptionRandom(seed: 11, stream: UInt64(k))
        total += meanAbsDiff(try corruption.apply(img, severity: s, random: &r), img)
      }
      damage.append(total)
    }
    #expect(damage[0] < damage[1] && damage[1] < damage[2], "\(corruption): \(damage)")
  }

  @Test func gaussianKernelMatchesScipy() {
    // scipy.ndimage.gaussian_filter1d weights for sigma 1, truncate 4: radius 4.
    let k = gaussianKernel(sigma: 1)
    #expect(k.count == 9)
    #expect(abs(k[4] - 0.3989422804) < 1e-3)
    #expect(abs(k.reduce(0, +) - 1) < 1e-12)
  }

  @Test func hsvRoundTrip() {
    for (r, g, b) in [(0.2, 0.4, 0.9), (1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.1, 0.8, 0.3)] {
      let (h, s, v) = rgbToHSV(r, g, b)
      let (r2, g2, b2) = hsvToRGB(h, s, v)
      #expect(abs(r - r2) < 1e-12 && abs(g - g2) < 1e-12 && abs(b - b2) < 1e-12)
    }
  }

  @Test func paperSampleMatchesNumpy() throws {
    let expected = try NpyArray.read(corruptionFixtures + "/cifar10c_sample_indices.npy").integers()
    var rs = NumpyRandomState(seed: 1234)
    #expect(rs.choiceWithoutReplacement(950_000, 2000) == expected)
  }
}
