import Foundation
import Testing

@testable import Models
@testable import Torch

/// Incremental evaluation of one-pixel changes (`SinglePixelIncremental`): the same logits as the
/// whole model, for pixels in the corners, on the edges and inside, for several bases at once.
@Suite struct IncrementalTests {
  /// Inputs that each change one pixel of one of `bases` to random values, the changed pixels
  /// (-1: none), and which base each comes from.
  func candidates(bases: [[Float]], shape: [Int]) -> (inputs: [Float], pixels: [Int], baseOf: [Int]) {
    let (c, h, w) = (shape[0], shape[1], shape[2])
    let plane = h * w
    let places = [-1, 0, w - 1, (h - 1) * w, plane - 1, w / 2, (h / 2) * w, (h / 2) * w + w / 2, 1 * w + 1, (h - 2) * w + w - 3]
    var inputs: [Float] = []
    var pixels: [Int] = []
    var baseOf: [Int] = []
    var rng = SystemRandomNumberGenerator()
    for (b, base) in bases.enumerated() {
      for p in places {
        var x = base
        if p >= 0 { for ch in 0..<c { x[ch * plane + p] = Float.random(in: -2...2, using: &rng) } }
        inputs += x
        pixels.append(p)
        baseOf.append(b)
      }
    }
    return (inputs, pixels, baseOf)
  }

  @Test(arguments: [
    (ResNetCIFAR.Depth.resnet20, 32, true), (.resnet20, 32, false), (.resnet32, 32, true), (.resnet20, 12, true),
  ])
  func matchesTheWholeModel(depth: ResNetCIFAR.Depth, size: Int, channelsLast: Bool) throws {
    let net = try Generator.seeded(7) { try ResNetCIFAR(depth: depth, inputSize: size) }
    let fused = try net.optimizedForInference(channelsLast: channelsLast)
    let incremental = try #require(fused as? any SinglePixelIncremental)
    let shape = [3, size, size]
    let bases = try (0..<3).map { _ in try Tensor.randn(shape).floats() }
    let (inputs, pixels, baseOf) = candidates(bases: bases, shape: shape)
    let x = try Tensor(inputs, shape: [pixels.count] + shape)
    try withInferenceMode {
      let whole = try fused.logits(x).floats()
      let fast = try incremental.logits(
        inputs: x, bases: try Tensor(Array(bases.joined()), shape: [bases.count] + shape), baseOf: baseOf, pixels: pixels
      ).floats()
      let scale = whole.map { Swift.abs($0) }.max() ?? 1
      assertClose(fast, whole, atol: 1e-4 * Swift.max(1, scale))
      // The changed pixels matter: most inputs' logits are not their base's.
      let classes = whole.count / pixels.count
      let baseRows = pixels.indices.filter { pixels[$0] < 0 }
      var changed = 0
      for i in pixels.indices where pixels[i] >= 0 {
        let own = Array(whole[(i * classes)..<((i + 1) * classes)])
        let base = baseRows.first { baseOf[$0] == baseOf[i] }!
        let theirs = Array(whole[(base * classes)..<((base + 1) * classes)])
        if zip(own, theirs).contains(where: { Swift.abs($0 - $1) > 1e-3 * Swift.max(1, scale) }) { changed += 1 }
      }
      #expect(changed >= pixels.filter { $0 >= 0 }.count / 2, "only \(changed) inputs differ from their base")
    }
  }

  @Test func aSubsetOfTheBasesAndPrecomputedBases() throws {
    let fused = try Generator.seeded(3) {
      try ResNetCIFAR(depth: .resnet20, inputSize: 16).optimizedForInference(channelsLast: true)
    }
    let incremental = try #require(fused as? any SinglePixelIncremental)
    let shape = [3, 16, 16]
    let bases = try (0..<4).map { _ in try Tensor.randn(shape).floats() }
    let kept = try incremental.incrementalBases(try Tensor(Array(bases.joined()), shape: [4] + shape))
    #expect(kept.count == 4)
    // Inputs of bases 3 and 1 only, in that order.
    let (inputs, pixels, local) = candidates(bases: [bases[3], bases[1]], shape: shape)
    let x = try Tensor(inputs, shape: [pixels.count] + shape)
    try withInferenceMode {
      let fast = try incremental.logits(inputs: x, bases: kept, baseOf: local.map { $0 == 0 ? 3 : 1 }, pixels: pixels)
      assertClose(try fast.floats(), try fused.logits(x).floats(), atol: 1e-4)
    }
  }

  /// An ensemble of CIFAR ResNets: the mean of its members' incremental logits; with a member
  /// that cannot, it says so and refuses.
  @Test func ensembles() throws {
    let a = try Generator.seeded(5) { try ResNetCIFAR(depth: .resnet20, inputSize: 12) }
    let b = try Generator.seeded(6) { try ResNetCIFAR(depth: .resnet32, inputSize: 12) }
    let fused = try optimizedForInference(try Ensemble([a, b]), channelsLast: true)
    let incremental = try #require(fused as? any SinglePixelIncremental)
    #expect(incremental.incrementalAvailable)
    let shape = [3, 12, 12]
    let bases = try (0..<2).map { _ in try Tensor.randn(shape).floats() }
    let (inputs, pixels, baseOf) = candidates(bases: bases, shape: shape)
    let x = try Tensor(inputs, shape: [pixels.count] + shape)
    try withInferenceMode {
      let fast = try incremental.logits(
        inputs: x, bases: try Tensor(Array(bases.joined()), shape: [2] + shape), baseOf: baseOf, pixels: pixels)
      assertClose(try fast.floats(), try fused.logits(x).floats(), atol: 1e-4)
    }
    let mixed = try Ensemble([try a.optimizedForInference(channelsLast: true), a])
    #expect(!mixed.incrementalAvailable)
    #expect(throws: TorchError.self) { try mixed.incrementalBases(try Tensor.randn([1] + shape)) }
  }

  @Test func badArgumentsAreErrors() throws {
    let fused = try ResNetCIFAR(depth: .resnet20, inputSize: 8).optimizedForInference(channelsLast: true)
    let incremental = try #require(fused as? any SinglePixelIncremental)
    let bases = try Tensor.randn([2, 3, 8, 8])
    let x = try Tensor.randn([2, 3, 8, 8])
    #expect(throws: TorchError.self) { try incremental.logits(inputs: x, bases: bases, baseOf: [0, 2], pixels: [0, 1]) }
    #expect(throws: TorchError.self) { try incremental.logits(inputs: x, bases: bases, baseOf: [0, 1], pixels: [0, 64]) }
    #expect(throws: TorchError.self) { try incremental.logits(inputs: x, bases: bases, baseOf: [0], pixels: [0]) }
    #expect(throws: TorchError.self) {
      try incremental.logits(inputs: try Tensor.randn([1, 3, 4, 4]), bases: bases, baseOf: [0], pixels: [0])
    }
  }
}
