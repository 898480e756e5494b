import Base
import Testing

@testable import Torch

/// Checks shapes first, then every element within atol + rtol * |expected|.
func assertClose(
  _ a: Tensor, _ b: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  #expect(a.shape == b.shape, "shapes differ", sourceLocation: sourceLocation)
  guard a.shape == b.shape else { return }
  let x = try a.floats()
  let y = try b.floats()
  var worst: Float = 0
  var worstIndex = 0
  for i in x.indices {
    let excess = Swift.abs(x[i] - y[i]) - (atol + rtol * Swift.abs(y[i]))
    if excess > worst { worst = excess; worstIndex = i }
  }
  #expect(worst <= 0, "element \(worstIndex): \(x[worstIndex]) vs \(y[worstIndex])", sourceLocation: sourceLocation)
}

@Suite struct TensorTests {
  @Test func roundTripsScalarsAndShape() throws {
    let t = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
    #expect(t.shape == [2, 3])
    #expect(t.dtype == .float32)
    #expect(try t.scalars(as: Float.self) == [1, 2, 3, 4, 5, 6])
    let u = try Tensor([7, 8] as [UInt8], shape: [2])
    #expect(try u.scalars(as: UInt8.self) == [7, 8])
    #expect(try u.to(.float32).floats() == [7, 8])
    let l = try Tensor([Int64(-3), 9], shape: [2])
    #expect(try l.ints() == [-3, 9])
    let bf = try t.to(.bfloat16)
    #expect(bf.dtype == .bfloat16)
    #expect(try bf.floats() == [1, 2, 3, 4, 5, 6])
  }

  @Test func rejectsWrongValueCount() {
    #expect(throws: TorchError.self) { try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
  }

  @Test func shapeErrorBecomesSwiftErrorWithLibtorchMessage() throws {
    let a = try Tensor.zeros([2, 3])
    let b = try Tensor.zeros([4, 5])
    do {
      _ = try a.matmul(b)
      Issue.record("matmul of mismatched shapes did not throw")
    } catch {
      #expect(error.message.contains("cannot be multiplied") || error.message.contains("size"), "\(error.message)")
    }
    // The error slot is cleared after being read: the next good call works.
    let c = try a + a
    #expect(c.shape == [2, 3])
  }

  @Test func elementwiseAndReductions() throws {
    let x = try Tensor([1, -2, 3, -4] as [Float], shape: [2, 2])
    try assertClose(try x.relu(), try Tensor([1, 0, 3, 0] as [Float], shape: [2, 2]))
    #expect(try x.sum().item() == -2)
    #expect(try x.abs().mean().item() == 2.5)
    #expect(try x.sum(dims: [1]).floats() == [-1, -1])
    #expect(try x.argmax(dim: 1).ints() == [0, 0])
    #expect(try (x * 2 + 1).floats() == [3, -3, 7, -7])
    #expect(try x.max().item() == 3)
    let (v, i) = try x.flatten().topk(2)
    #expect(try v.floats() == [3, 1])
    #expect(try i.ints() == [2, 0])
    let sm = try NN.softmax(x, dim: 1)
    try assertClose(try sm.sum(dims: [1]), try Tensor.ones([2]))
  }

  @Test func shapeOps() throws {
    let x = try Tensor.arange(0, 24, dtype: .float32).reshape([2, 3, 4])
    #expect(try x.permute([2, 0, 1]).shape == [4, 2, 3])
    #expect(try x.slice(dim: 2, 1, 3).contiguous().floats() == [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22])
    #expect(try x.select(dim: 0, 1).shape == [3, 4])
    #expect(try Tensor.cat([x, x], dim: 1).shape == [2, 6, 4])
    #expect(try Tensor.stack([x, x]).shape == [2, 2, 3, 4])
    #expect(try x.pad([1, 1, 2, 2]).shape == [2, 7, 6])
    #expect(try x.flip([2]).select(dim: 0, 0).select(dim: 0, 0).floats() == [3, 2, 1, 0])
    let idx = try Tensor([Int64(1), 0], shape: [2])
    #expect(try x.indexSelect(dim: 0, idx).select(dim: 0, 0).sum().item() == (12...23).reduce(0, +).asDouble)
    let cl = try Tensor.randn([2, 3, 4, 4]).contiguous(channelsLast: true)
    #expect(cl.strides == [48, 1, 12, 3])
  }

  @Test func convolutionAndBatchNorm() throws {
    // A 1x1 convolution with weight 2 doubles the input; bias adds.
    let x = try Tensor.arange(0, 8, dtype: .float32).reshape([1, 2, 2, 2])
    let w = try Tensor([2, 0, 0, 2] as [Float], shape: [2, 2, 1, 1])
    let b = try Tensor([1, -1] as [Float], shape: [2])
    let y = try NN.conv2d(x, weight: w, bias: b)
    #expect(try y.floats() == [1, 3, 5, 7, 7, 9, 11, 13])
    // Eval-mode batch norm with mean 1, var 4: (x - 1) / 2.
    let mean = try Tensor.full([2], 1)
    let variance = try Tensor.full([2], 4)
    let bn = try NN.batchNorm(x, weight: nil, bias: nil, runningMean: mean, runningVar: variance, training: false, eps: 0)
    #expect(try bn.floats() == [-0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3])
    // Training mode updates the running statistics in place.
    _ = try NN.batchNorm(x, weight: nil, bias: nil, runningMean: mean, runningVar: variance, training: true, momentum: 1)
    #expect(try mean.floats() == [1.5, 5.5])
  }

  @Test func autogradAndSGD() throws {
    let w = try Tensor([1, 2] as [Float], shape: [2])
    try w.setRequiresGrad(true)
    let loss = try (w * w).sum()
    try loss.backward()
    let g = try #require(try w.grad())
    #expect(try g.floats() == [2, 4])
    let opt = try SGD(parameters: [w], learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: true)
    try opt.step()
    // Nesterov first step: buf = g, d = g + 0.9 g = 1.9 g; w -= 0.1 * d.
    try assertClose(w.detach(), try Tensor([1 - 0.38, 2 - 0.76] as [Float], shape: [2]))
    try opt.zeroGrad()
    #expect(try w.grad() == nil)
    try withNoGrad {
      let y = try w * 3
      #expect(try !y.requiresGrad)
    }
    let grads = try Autograd.gradients(of: try (w * 3).sum(), withRespectTo: [w])
    #expect(try grads[0]?.floats() == [3, 3])
  }

  /// "No gradient" is not an error, even right after a failed call left its message behind (the
  /// shim once returned NULL for both, and Swift took a stale message for an error).
  @Test func noGradientAfterAFailedCallIsNilNotAnError() throws {
    let w = try Tensor([1, 2, 3] as [Float], shape: [3])
    #expect(throws: TorchError.self) { try w.reshape([2, 2]) }
    #expect(try w.grad() == nil)
    #expect(try !w.requiresGrad)
  }

  @Test func crossEntropyMatchesDefinition() throws {
    let logits = try Tensor([2, 0, 0, 0, 3, 0] as [Float], shape: [2, 3])
    let targets = try Tensor([Int64(0), 2], shape: [2])
    let ce = try NN.crossEntropy(logits, targets: targets).item()
    let l0 = -Foundation.log(Foundation.exp(2.0) / (Foundation.exp(2.0) + 2))
    let l1 = -Foundation.log(1 / (Foundation.exp(3.0) + 2))
    #expect(Swift.abs(ce - (l0 + l1) / 2) < 1e-5)
  }

  @Test func noHandlesLeak() throws {
    let before = Tensor.liveCountOnThisThread
    do {
      let x = try Tensor.randn([4, 3, 8, 8])
      let w = try Tensor.randn([5, 3, 3, 3])
      let y = try NN.conv2d(x, weight: w, bias: nil, padding: 1).relu().mean(dims: [2, 3])
      _ = try y.topk(2)
      _ = try? x.matmul(w)  // failing calls must not leak either
    }
    #expect(Tensor.liveCountOnThisThread == before)
  }

  /// A private generator repeats its stream for a seed whatever the default generator (shared
  /// with tests running in parallel) draws meanwhile.
  @Test func seededGeneratorsRepeatAndIgnoreOtherDraws() throws {
    let first = try Generator(seed: 7)
    let a = try Tensor.randn([5], generator: first).floats()
    let u = try Tensor.rand([1000], generator: first).floats()
    try Runtime.manualSeed(99)
    _ = try Tensor.randn([17])
    let second = try Generator(seed: 7)
    #expect(try Tensor.randn([5], generator: second).floats() == a)
    #expect(try Tensor.rand([1000], generator: second).floats() == u)
    #expect(u.allSatisfy { $0 >= 0 && $0 < 1 } && Set(u).count > 990)
    #expect(try Tensor.randn([5], generator: try Generator(seed: 8)).floats() != a)
    let wide = try Tensor.randn([5], dtype: .float64, generator: try Generator(seed: 7))
    #expect(wide.dtype == .float64)
  }
}

extension Int {
  var asDouble: Double { Double(self) }
}

import Foundation

/// GPU arithmetic settings are libtorch's global context, so they can be set and read on any
/// build: TF32 is off after `setCUDAMath(allowTF32: false)` (the CLI's default) and on after
/// `--tf32`'s call.
@Suite(.serialized) struct CUDAMathTests {
  @Test func tf32FollowsTheSetting() throws {
    try Runtime.setCUDAMath(allowTF32: true)
    #expect(Runtime.tf32Allowed)
    try Runtime.setCUDAMath(allowTF32: false)
    #expect(!Runtime.tf32Allowed)
  }
}
