import Torch

/// Labelled images held in memory as uint8, NCHW, with where they came from.
public struct ImageDataset: Sendable {
  /// N * C * H * W bytes, channel planes in row-major order (the CIFAR binary layout).
  public var pixels: [UInt8]
  public var labels: [Int]
  /// Channels, height, width.
  public var imageShape: [Int]
  public var classNames: [String]
  /// Index of each image in its source (e.g. the official test index), for reports and SIS runs.
  public var sourceIndices: [Int]
  /// Human-readable provenance, shown in every report (e.g. which split, and whether pixels are lossy).
  public var description: String
  /// For pixel-subset datasets: N * H * W bytes, 1 where a pixel is kept and 0 where it is masked.
  /// A masked pixel takes the value 0 after normalization (the dataset mean), in every channel,
  /// exactly as SIS masks it; `normalized` applies this, and training applies it after
  /// augmentation, so the mask moves with the image.
  public var masks: [UInt8]?

  public init(
    pixels: [UInt8], labels: [Int], imageShape: [Int], classNames: [String], sourceIndices: [Int]? = nil,
    description: String, masks: [UInt8]? = nil
  ) {
    precondition(pixels.count == labels.count * imageShape.reduce(1, *), "pixel count does not match labels and shape")
    if let masks {
      precondition(masks.count == labels.count * imageShape[1] * imageShape[2], "one H*W mask per image")
    }
    self.pixels = pixels
    self.labels = labels
    self.imageShape = imageShape
    self.classNames = classNames
    self.sourceIndices = sourceIndices ?? Array(labels.indices)
    self.description = description
    self.masks = masks
  }

  /// Pixels per image (H * W).
  public var plane: Int { imageShape[1] * imageShape[2] }

  /// The mask of image `i` (H * W bytes), if the dataset has masks.
  public func mask(_ i: Int) -> ArraySlice<UInt8>? { masks.map { $0[(i * plane)..<((i + 1) * plane)] } }

  /// Images `range`, normalized as a model expects (float32 NCHW on `device`), with masked pixels
  /// at 0 for pixel-subset datasets.
  public func normalized(_ range: Range<Int>, _ normalization: Normalization, device: Device = .cpu) throws -> Tensor {
    let x = try normalization.apply(try batch(range).to(device))
    guard let masks else { return x }
    let m = try Tensor(
      masks[(range.lowerBound * plane)..<(range.upperBound * plane)].map { Float($0 == 0 ? 0 : 1) },
      shape: [range.count, 1, imageShape[1], imageShape[2]])
    return try x * (try m.to(device))
  }

  public var count: Int { labels.count }
  public var imageSize: Int { imageShape.reduce(1, *) }

  /// Images `range` as a uint8 tensor (n, C, H, W).
  public func batch(_ range: Range<Int>) throws -> Tensor {
    let size = imageSize
    return try pixels.withUnsafeBytes { buf in
      try Tensor(
        bytes: UnsafeRawBufferPointer(rebasing: buf[(range.lowerBound * size)..<(range.upperBound * size)]),
        shape: [range.count] + imageShape, dtype: .uint8)
    }
  }

  /// Labels of `range` as an int64 tensor.
  public func labelTensor(_ range: Range<Int>) throws -> Tensor {
    try Tensor(labels[range].map { Int64($0) }, shape: [range.count])
  }

  /// The pixels of one image (C*H*W bytes).
  public func image(_ i: Int) -> ArraySlice<UInt8> { pixels[(i * imageSize)..<((i + 1) * imageSize)] }

  /// The images at the given positions (not source indices), in that order.
  public func subset(_ positions: [Int], description: String? = nil) -> ImageDataset {
    var px: [UInt8] = []
    px.reserveCapacity(positions.count * imageSize)
    for p in positions { px += image(p) }
    return ImageDataset(
      pixels: px, labels: positions.map { labels[$0] }, imageShape: imageShape, classNames: classNames,
      sourceIndices: positions.map { sourceIndices[$0] }, description: description ?? self.description,
      masks: masks.map { _ in positions.flatMap { mask($0) ?? [] } })
  }

  /// Joins datasets with the same image shape and classes.
  public static func concatenate(_ parts: [ImageDataset], description: String) -> ImageDataset {
    let shape = parts.first?.imageShape ?? [3, 32, 32]
    let anyMasks = parts.contains { $0.masks != nil }
    return ImageDataset(
      pixels: parts.flatMap(\.pixels), labels: parts.flatMap(\.labels), imageShape: shape,
      classNames: parts.first?.classNames ?? [], sourceIndices: parts.flatMap(\.sourceIndices), description: description,
      masks: anyMasks ? parts.flatMap { $0.masks ?? [UInt8](repeating: 1, count: $0.count * shape[1] * shape[2]) } : nil)
  }

  /// Converts HWC images (as numpy stores them) to this type's CHW layout.
  public static func fromHWC(_ hwc: [UInt8], count: Int, height: Int, width: Int, channels: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: hwc.count)
    let plane = height * width
    hwc.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        for n in 0..<count {
          let base = n * plane * channels
          for p in 0..<plane {
            for c in 0..<channels { dst[base + c * plane + p] = src[base + p * channels + c] }
          }
        }
      }
    }
    return out
  }
}
