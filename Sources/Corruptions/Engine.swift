import Datasets
import Foundation

/// Generates CIFAR-10-C-style data sets from clean images.
public enum CorruptionEngine {
  /// The random stream of one (corruption, severity, image): every output image is a function of
  /// the seed and these three numbers alone, whatever the order or parallelism of generation.
  static func stream(_ corruption: Corruption, severity: Int, image: Int) -> UInt64 {
    let k = UInt64(Corruption.alphabetical.firstIndex(of: corruption) ?? 0)
    return (k << 48) ^ (UInt64(severity) << 40) ^ UInt64(image)
  }

  /// Corrupts image `index` of `data` (uint8 CHW) and returns uint8 HWC pixels.
  public static func corrupt(_ data: ImageDataset, index: Int, corruption: Corruption, severity: Int, seed: UInt64) throws
    -> [UInt8]
  {
    let (c, h, w) = (data.imageShape[0], data.imageShape[1], data.imageShape[2])
    let hwc = ImageIO.hwc(fromCHW: data.image(index), channels: c, height: h, width: w)
    var random = CorruptionRandom(seed: seed, stream: stream(corruption, severity: severity, image: data.sourceIndices[index]))
    let out = try corruption.apply(FloatImage(uint8: hwc, height: h, width: w, channels: c), severity: severity, random: &random)
    return out.uint8()
  }

  /// Every image at every severity in `severities`, severities stacked in order (the layout of
  /// the official `<corruption>.npy`: (N * severities, H, W, C) uint8). Runs on all cores.
  public static func corruptAll(
    _ data: ImageDataset, corruption: Corruption, severities: [Int], seed: UInt64, onImage: (@Sendable () -> Void)? = nil
  ) throws -> [UInt8] {
    let size = data.imageSize
    let n = data.count
    let total = n * severities.count
    let buffer = SharedBuffer(count: total * size)
    let failure = LockedError()
    DispatchQueue.concurrentPerform(iterations: total) { job in
      let s = severities[job / n]
      let i = job % n
      do {
        let px = try corrupt(data, index: i, corruption: corruption, severity: s, seed: seed)
        for (k, v) in px.enumerated() { buffer.pointer[job * size + k] = v }
      } catch {
        failure.set(error)
      }
      onImage?()
    }
    if let e = failure.error { throw e }
    return Array(buffer.pointer)
  }
}

/// A byte buffer written by parallel jobs at disjoint offsets.
final class SharedBuffer: @unchecked Sendable {
  let pointer: UnsafeMutableBufferPointer<UInt8>
  init(count: Int) {
    pointer = .allocate(capacity: count)
    pointer.initialize(repeating: 0)
  }
  deinit { pointer.deallocate() }
}

final class LockedError: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: Error?
  func set(_ e: Error) {
    lock.lock()
    if stored == nil { stored = e }
    lock.unlock()
  }
  var error: Error? {
    lock.lock()
    defer { lock.unlock() }
    return stored
  }
}

/// numpy's legacy MT19937 (np.random.seed / RandomState), enough to reproduce
/// `np.random.seed(1234); np.random.choice(950000, 2000, replace=False)`, the paper's
/// CIFAR-10-C sample (a permutation by Fisher-Yates with masked rejection sampling).
public struct NumpyRandomState {
  var mt = [UInt32](repeating: 0, count: 624)
  var index = 624

  public init(seed: UInt32) {
    mt[0] = seed
    for i in 1..<624 { mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i) }
  }

  mutating func next32() -> UInt32 {
    if index >= 624 {
      for i in 0..<624 {
        let y = (mt[i] & 0x8000_0000) | (mt[(i + 1) % 624] & 0x7fff_ffff)
        mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_b0df : 0)
      }
      index = 0
    }
    var y = mt[index]
    index += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9d2c_5680
    y ^= (y << 15) & 0xefc6_0000
    y ^= y >> 18
    return y
  }

  /// Uniform in 0...max (numpy's legacy rk_interval).
  mutating func interval(_ max: UInt32) -> UInt32 {
    if max == 0 { return 0 }
    var mask = max
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    while true {
      let v = next32() & mask
      if v <= max { return v }
    }
  }

  /// `permutation(n)` of the legacy RandomState.
  public mutating func permutation(_ n: Int) -> [Int] {
    var a = Array(0..<n)
    var i = n - 1
    while i >= 1 {
      let j = Int(interval(UInt32(i)))
      a.swapAt(i, j)
      i -= 1
    }
    return a
  }

  /// `choice(n, k, replace=False)`.
  public mutating func choiceWithoutReplacement(_ n: Int, _ k: Int) -> [Int] { Array(permutation(n).prefix(k)) }
}
