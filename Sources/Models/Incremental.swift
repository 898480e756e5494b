// Incremental evaluation of inputs that differ from a base input in one pixel (the candidates of a
// backward-selection step). A pixel changes the output of a 3x3 convolution only within one pixel
// of it, so through the first stage of a CIFAR ResNet (the stem and its stride-1 blocks: seven
// convolutions for ResNet20) the change stays inside a 15x15 window; the candidate's activations
// are the base image's everywhere else. Recomputing only the growing window (3x3 after the stem,
// 15x15 after the stage) costs about a tenth of the stage; the later stages run on the full maps.
import Torch

/// A classifier that can evaluate inputs which each equal one of a few base inputs except at one
/// pixel, faster than `logits` of the same inputs and with the same values up to rounding.
public protocol SinglePixelIncremental: Classifier {
  /// Whether this classifier can (an ensemble can when all its members can).
  var incrementalAvailable: Bool { get }

  /// What the incremental evaluation keeps of the base inputs (B x C x H x W, on the
  /// classifier's device): their activations up to where the windows end.
  func incrementalBases(_ bases: Tensor) throws -> IncrementalBases

  /// The logits of `inputs` (N x C x H x W, on the classifier's device), where input n equals
  /// base `baseOf[n]` of `bases` at every pixel except possibly `pixels[n]` (the flat index
  /// y * W + x; -1 when it equals its base everywhere). Unchecked: an input that differs
  /// elsewhere gets wrong logits.
  func logits(inputs: Tensor, bases: IncrementalBases, baseOf: [Int], pixels: [Int]) throws -> Tensor
}

extension SinglePixelIncremental {
  public var incrementalAvailable: Bool { true }

  /// `logits(inputs:bases:baseOf:pixels:)` with the base inputs themselves.
  public func logits(inputs: Tensor, bases: Tensor, baseOf: [Int], pixels: [Int]) throws -> Tensor {
    try logits(inputs: inputs, bases: try incrementalBases(bases), baseOf: baseOf, pixels: pixels)
  }
}

/// The base inputs' activations that incremental evaluation reuses: per map, one row per pixel
/// (B x H x W rows of the map's channels); for an ensemble, each member's.
public final class IncrementalBases {
  public let count: Int
  let height: Int
  let width: Int
  let maps: [Tensor]
  let members: [IncrementalBases]

  init(count: Int, height: Int, width: Int, maps: [Tensor]) {
    self.count = count
    self.height = height
    self.width = width
    self.maps = maps
    members = []
  }

  init(members: [IncrementalBases]) {
    count = members.first?.count ?? 0
    height = members.first?.height ?? 0
    width = members.first?.width ?? 0
    maps = []
    self.members = members
  }

  /// The rows of map `k` of the bases in `used` (in that order); all of them when `used` is nil.
  func rows(_ k: Int, _ used: Tensor?) throws -> Tensor {
    guard let used else { return maps[k] }
    let m = maps[k]
    return try m.reshape([count, height * width, m.shape[1]]).indexSelect(dim: 0, used).reshape([-1, m.shape[1]])
  }
}

/// Where each row of a windowed gather comes from: row indices into a source made by stacking the
/// base maps' rows (B x H x W, one per pixel) and the changed windows' rows (N x (2 inner + 1)^2),
/// with one zero row in front for `window`.
struct WindowIndex {
  let height: Int
  let width: Int
  let bases: Int

  /// Row indices of the windows of radius `radius` around each candidate's pixel: positions
  /// within `inner` (Chebyshev) of the pixel from the candidate's changed window (radius `inner`;
  /// none when negative), other positions inside the image from the base map, positions outside
  /// from the zero row (row 0).
  func window(radius: Int, inner: Int, baseOf: [Int], pixels: [(y: Int, x: Int)]) -> [Int64] {
    let side = 2 * radius + 1
    let innerSide = 2 * inner + 1
    let baseStart = 1
    let innerStart = 1 + bases * height * width
    var out = [Int64](repeating: 0, count: pixels.count * side * side)
    var k = 0
    for (n, p) in pixels.enumerated() {
      let base = baseStart + baseOf[n] * height * width
      let own = innerStart + n * innerSide * innerSide
      for dy in -radius...radius {
        let y = p.y + dy
        for dx in -radius...radius {
          let x = p.x + dx
          if y >= 0 && y < height && x >= 0 && x < width {
            if Swift.abs(dy) <= inner && Swift.abs(dx) <= inner {
              out[k] = Int64(own + (dy + inner) * innerSide + (dx + inner))
            } else {
              out[k] = Int64(base + y * width + x)
            }
          }
          k += 1
        }
      }
    }
    return out
  }

  /// Row indices of each candidate's full map (N x H x W rows) from a source of the base maps'
  /// rows followed by the changed windows' rows (radius `inner`), with no zero row.
  func full(inner: Int, baseOf: [Int], pixels: [(y: Int, x: Int)]) -> [Int64] {
    let innerSide = 2 * inner + 1
    let innerStart = bases * height * width
    var out = [Int64](repeating: 0, count: pixels.count * height * width)
    var k = 0
    for (n, p) in pixels.enumerated() {
      let base = baseOf[n] * height * width
      let own = innerStart + n * innerSide * innerSide
      for y in 0..<height {
        let dy = y - p.y
        for x in 0..<width {
          let dx = x - p.x
          out[k] =
            Swift.abs(dy) <= inner && Swift.abs(dx) <= inner
            ? Int64(own + (dy + inner) * innerSide + (dx + inner)) : Int64(base + y * width + x)
          k += 1
        }
      }
    }
    return out
  }
}

extension FusedResNetCIFAR: SinglePixelIncremental {
  /// The blocks of the first stage (stride 1, identity shortcut), which run windowed.
  var windowedBlocks: Int {
    blocks.prefix { $0.shortcutPad == 0 && $0.conv1.stride == 1 && $0.conv2.stride == 1 }.count
  }

  /// Fewer images than this are padded to it: libtorch 1.13's convolutions take about as long
  /// for one image as for a hundred on these CPUs (ResNet20: 20 ms for one, 3 ms for two).
  static let minimumBatch = 8

  func incrementalBases(_ bases: Tensor) throws -> IncrementalBases {
    guard bases.shape.count == 4, bases.shape[0] >= 1 else {
      throw TorchError("incremental logits: the bases must be B x C x H x W with B >= 1, got \(bases.shape)")
    }
    let b = bases.shape[0]
    var x = bases
    if b < Self.minimumBatch {
      x = try Tensor.cat(
        [bases, try bases.slice(dim: 0, 0, 1).expand([Self.minimumBatch - b] + Array(bases.shape.dropFirst()))], dim: 0)
    }
    func rows(_ t: Tensor) throws -> Tensor {
      try t.slice(dim: 0, 0, b).permute([0, 2, 3, 1]).reshape([-1, t.shape[1]])
    }
    // Each stage-1 block's input and its first convolution's output, then the stage's output.
    var a = try stem(try x.to(dtype).contiguous(channelsLast: channelsLast)).relu()
    var maps: [Tensor] = []
    for blk in blocks.prefix(windowedBlocks) {
      let h = try blk.conv1(a).relu()
      maps += [try rows(a), try rows(h)]
      a = try (try blk.conv2(h) + a).relu()
    }
    maps.append(try rows(a))
    return IncrementalBases(count: b, height: bases.shape[2], width: bases.shape[3], maps: maps)
  }

  func logits(inputs x: Tensor, bases: IncrementalBases, baseOf: [Int], pixels: [Int]) throws -> Tensor {
    let n = x.shape[0]
    let channels = x.shape[1]
    let height = x.shape[2]
    let width = x.shape[3]
    guard baseOf.count == n, pixels.count == n, bases.height == height, bases.width == width else {
      throw TorchError(
        "incremental logits: \(n) inputs of shape \(x.shape) need as many bases and pixels, and bases of the same size; got \(baseOf.count), \(pixels.count), \(bases.height)x\(bases.width)"
      )
    }
    guard baseOf.allSatisfy({ $0 >= 0 && $0 < bases.count }), pixels.allSatisfy({ $0 >= -1 && $0 < height * width }) else {
      throw TorchError("incremental logits: a base index outside 0..<\(bases.count) or a pixel outside -1..<\(height * width)")
    }
    let device = x.device
    // Only the bases these inputs use take part in the gathers.
    var slot = [Int](repeating: -1, count: bases.count)
    var used: [Int] = []
    for i in baseOf where slot[i] < 0 {
      slot[i] = used.count
      used.append(i)
    }
    let usedIndex = used == Array(0..<bases.count) ? nil : try Tensor(used.map(Int64.init), shape: [used.count]).to(device)
    let local = baseOf.map { slot[$0] }
    let at = pixels.map { p in p < 0 ? (y: 0, x: 0) : (y: p / width, x: p % width) }
    let index = WindowIndex(height: height, width: width, bases: used.count)
    func rows(_ t: Tensor) throws -> Tensor { try t.permute([0, 2, 3, 1]).reshape([-1, t.shape[1]]) }
    func windows(_ r: Tensor, side: Int) throws -> Tensor {
      try r.reshape([n, side, side, r.shape[1]]).permute([0, 3, 1, 2])
    }
    func gather(_ parts: [Tensor], _ idx: [Int64]) throws -> Tensor {
      try Tensor.cat(parts, dim: 0).indexSelect(dim: 0, try Tensor(idx, shape: [idx.count]).to(device))
    }
    func valid(_ conv: FusedConv, _ t: Tensor) throws -> Tensor {
      try NN.conv2d(t, weight: conv.weight, bias: conv.bias, stride: (1, 1), padding: (0, 0))
    }
    // The candidates' windows: the stem's output within 1 pixel of the changed one, each block
    // adding 2 (a 15x15 window after ResNet20's first stage).
    let xRows = try rows(try x.to(dtype).contiguous(channelsLast: channelsLast))
    let zeroInput = try Tensor.zeros([1, channels], dtype: dtype, device: device)
    let stemIndex = WindowIndex(height: height, width: width, bases: n).window(
      radius: 2, inner: -1, baseOf: Array(0..<n), pixels: at)
    var u = try valid(stem, try windows(try gather([zeroInput, xRows], stemIndex), side: 5)).relu()
    var inner = 1
    // The stage's blocks keep the stem's channels (identity shortcuts).
    let zero = try Tensor.zeros([1, u.shape[1]], dtype: dtype, device: device)
    for (k, blk) in blocks.prefix(windowedBlocks).enumerated() {
      let inputSide = 2 * (inner + 2) + 1
      let input = try windows(
        try gather(
          [zero, try bases.rows(2 * k, usedIndex), try rows(u)],
          index.window(radius: inner + 2, inner: inner, baseOf: local, pixels: at)), side: inputSide)
      let h = try valid(blk.conv1, input).relu()
      let middle = try windows(
        try gather(
          [zero, try bases.rows(2 * k + 1, usedIndex), try rows(h)],
          index.window(radius: inner + 3, inner: inner + 1, baseOf: local, pixels: at)), side: inputSide + 2)
      // The shortcut: the block's input over the same window as the second convolution's output.
      u = try (try valid(blk.conv2, middle) + input).relu()
      inner += 2
    }
    // The full maps after the stage: the windows pasted into their bases' maps.
    var out = try gather(
      [try bases.rows(2 * windowedBlocks, usedIndex), try rows(u)], index.full(inner: inner, baseOf: local, pixels: at)
    ).reshape([n, height, width, -1]).permute([0, 3, 1, 2])
    if !channelsLast { out = try out.contiguous() }
    return try head(out, from: windowedBlocks)
  }
}

extension Ensemble: SinglePixelIncremental {
  public var incrementalAvailable: Bool {
    members.allSatisfy { ($0 as? any SinglePixelIncremental)?.incrementalAvailable ?? false }
  }

  func incrementalMembers() throws -> [any SinglePixelIncremental] {
    try members.map { m in
      guard let i = m as? any SinglePixelIncremental, i.incrementalAvailable else {
        throw TorchError(
          "incremental logits: ensemble member \(m.info.architecture) cannot evaluate one-pixel changes incrementally")
      }
      return i
    }
  }

  public func incrementalBases(_ bases: Tensor) throws -> IncrementalBases {
    IncrementalBases(members: try incrementalMembers().map { try $0.incrementalBases(bases) })
  }

  /// The mean of the members' logits, each evaluated incrementally.
  public func logits(inputs: Tensor, bases: IncrementalBases, baseOf: [Int], pixels: [Int]) throws -> Tensor {
    let parts = try incrementalMembers()
    guard bases.members.count == parts.count else {
      throw TorchError("incremental logits: \(bases.members.count) members' bases for an ensemble of \(parts.count)")
    }
    return try Self.mean(of: Array(zip(parts, bases.members))) { m, b in
      try m.logits(inputs: inputs, bases: b, baseOf: baseOf, pixels: pixels)
    }
  }
}
