import Base
import Datasets
import Foundation
import Torch

/// One minibatch ready for the model: normalized float32 pixels (N, C, H, W) and labels.
public struct Batch: Sendable {
  public var pixels: [Float]
  public var labels: [Int64]
  public var count: Int
}

/// Training images plus, for the sparse pixel-subset datasets of the paper, a mask per image
/// (H*W bytes, nonzero = keep the pixel). Masked pixels take the value 0 after normalization
/// (the dataset mean), exactly as SIS masks them.
public struct TrainingSet: Sendable {
  public var images: ImageDataset
  public var masks: [UInt8]?

  /// `masks` default to the dataset's own (a pixel-subset dataset's).
  public init(images: ImageDataset, masks: [UInt8]? = nil) {
    let masks = masks ?? images.masks
    if let masks {
      precondition(masks.count == images.count * images.imageShape[1] * images.imageShape[2], "one H*W mask per image")
    }
    self.images = images
    self.masks = masks
  }
}

/// Fills `out` (C*H*W floats) with image `index` of `set`: optional random crop (zero padding
/// `pad`, as torchvision's RandomCrop) and horizontal flip, then normalization, then masking.
@inline(__always)
func renderImage(
  _ set: TrainingSet, _ index: Int, normalization: Normalization, cropX: Int, cropY: Int, flip: Bool, pad: Int,
  into out: UnsafeMutablePointer<Float>
) {
  let shape = set.images.imageShape
  let (c, h, w) = (shape[0], shape[1], shape[2])
  let plane = h * w
  let imageBase = index * c * plane
  set.images.pixels.withUnsafeBufferPointer { px in
    for ch in 0..<c {
      let zero = normalization.value(0, channel: ch)
      let mean = Float(normalization.mean[ch])
      let std = Float(normalization.std[ch])
      for y in 0..<h {
        let sy = y + cropY - pad
        for x in 0..<w {
          let dx = flip ? (w - 1 - x) : x
          let sx = dx + cropX - pad
          var v = zero
          if sy >= 0 && sy < h && sx >= 0 && sx < w {
            let p = px[imageBase + ch * plane + sy * w + sx]
            v = (Float(p) / 255 - mean) / std
            if let masks = set.masks, masks[index * plane + sy * w + sx] == 0 { v = 0 }
          }
          out[ch * plane + y * w + x] = v
        }
      }
    }
  }
}

/// Produces the batches of one epoch on a background thread, a few ahead of the consumer, so
/// that the model never waits for decoding and augmentation.
///
/// The epoch's order and augmentation come from `SplitMix64(seed:, stream: epoch)`, so an epoch
/// is the same whether or not the run was interrupted before it.
public final class BatchLoader: @unchecked Sendable {
  private let set: TrainingSet
  private let order: [Int]
  private let batchSize: Int
  private let augment: Bool
  private let normalization: Normalization
  private let prefetch: Int
  private var rng: SplitMix64
  private let condition = NSCondition()
  private var queue: [Batch] = []
  private var finished = false
  private var cancelled = false

  public var batchCount: Int { (order.count + batchSize - 1) / batchSize }

  public init(
    _ set: TrainingSet, batchSize: Int, shuffle: Bool, augment: Bool, normalization: Normalization, seed: UInt64,
    epoch: Int, dropLast: Bool = false, prefetch: Int = 4
  ) {
    self.set = set
    var rng = SplitMix64(seed: seed, stream: UInt64(epoch))
    var order = Array(0..<set.images.count)
    if shuffle { order.shuffle(using: &rng) }
    if dropLast { order = Array(order.prefix(order.count / batchSize * batchSize)) }
    self.order = order
    self.rng = rng
    self.batchSize = batchSize
    self.augment = augment
    self.normalization = normalization
    self.prefetch = prefetch
    let thread = Thread { [self] in produce() }
    thread.stackSize = 1 << 20
    thread.start()
  }

  private func produce() {
    let size = set.images.imageSize
    var start = 0
    while start < order.count {
      let end = min(start + batchSize, order.count)
      var pixels = [Float](repeating: 0, count: (end - start) * size)
      var labels: [Int64] = []
      pixels.withUnsafeMutableBufferPointer { buf in
        guard let base = buf.baseAddress else { return }
        for (k, index) in order[start..<end].enumerated() {
          var cx = 4
          var cy = 4
          var flip = false
          if augment {
            cx = rng.below(9)
            cy = rng.below(9)
            flip = rng.below(2) == 1
          }
          renderImage(set, index, normalization: normalization, cropX: cx, cropY: cy, flip: flip, pad: 4, into: base + k * size)
          labels.append(Int64(set.images.labels[index]))
        }
      }
      condition.lock()
      while queue.count >= prefetch && !cancelled { condition.wait() }
      if cancelled {
        condition.unlock()
        return
      }
      queue.append(Batch(pixels: pixels, labels: labels, count: end - start))
      condition.broadcast()
      condition.unlock()
      start = end
    }
    condition.lock()
    finished = true
    condition.broadcast()
    condition.unlock()
  }

  /// The next batch, or nil at the end of the epoch.
  public func next() -> Batch? {
    condition.lock()
    defer { condition.unlock() }
    while queue.isEmpty && !finished { condition.wait() }
    if queue.isEmpty { return nil }
    let b = queue.removeFirst()
    condition.broadcast()
    return b
  }

  /// Stops the producer; call it when abandoning an epoch before its last batch (the producer
  /// thread keeps the loader alive until it ends).
  public func cancel() {
    condition.lock()
    cancelled = true
    condition.broadcast()
    condition.unlock()
  }
}
