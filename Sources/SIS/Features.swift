import Base
import Datasets

/// How an input of shape (C, H, W) is divided into features for SIS.
///
/// A feature layout is a mask shape that broadcasts over the input, as in the reference SIS
/// implementation: `(1, H, W)` makes one feature per pixel with all its channels (the paper's
/// choice), `(C, H, W)` one per value, `(1, H, 1)` one per row, `(C, 1, 1)` one per channel.
/// `patch(k)` groups k x k pixel blocks. Feature indices are flat, row-major indices into the
/// mask shape (for pixels: y * W + x).
public struct FeatureLayout: Equatable, Sendable, CustomStringConvertible {
  public let inputShape: [Int]
  /// Mask shape; for patches, the grid of patches.
  public let maskShape: [Int]
  public let patch: Int
  /// For each feature, the flat CHW element indices it covers.
  public let elements: [[Int]]

  public var count: Int { elements.count }

  /// Each feature's pixel (y * W + x) when every feature covers elements of one pixel only;
  /// otherwise nil.
  public func singlePixels() -> [Int]? {
    let plane = inputShape[1] * inputShape[2]
    var out: [Int] = []
    out.reserveCapacity(elements.count)
    for e in elements {
      guard let first = e.first else { return nil }
      let p = first % plane
      guard e.allSatisfy({ $0 % plane == p }) else { return nil }
      out.append(p)
    }
    return out
  }

  /// A layout from a mask shape that broadcasts over `inputShape` (each dimension equal or 1).
  public init(inputShape: [Int], maskShape: [Int]) throws {
    guard inputShape.count == 3, maskShape.count == 3,
      zip(inputShape, maskShape).allSatisfy({ $1 == $0 || $1 == 1 })
    else {
      throw SISError.badArgument("feature mask shape \(maskShape) does not broadcast over input shape \(inputShape)")
    }
    self.inputShape = inputShape
    self.maskShape = maskShape
    self.patch = 1
    let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
    var elements = [[Int]](repeating: [], count: maskShape.reduce(1, *))
    for ch in 0..<c {
      for y in 0..<h {
        for x in 0..<w {
          let m =
            (maskShape[0] == 1 ? 0 : ch) * maskShape[1] * maskShape[2] + (maskShape[1] == 1 ? 0 : y) * maskShape[2]
            + (maskShape[2] == 1 ? 0 : x)
          elements[m].append(ch * h * w + y * w + x)
        }
      }
    }
    self.elements = elements
  }

  /// Square k x k pixel blocks (all channels); edge blocks are smaller when k does not divide H or W.
  public init(inputShape: [Int], patch k: Int) throws {
    guard inputShape.count == 3, k >= 1 else { throw SISError.badArgument("patch size must be at least 1, got \(k)") }
    let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
    let gh = (h + k - 1) / k
    let gw = (w + k - 1) / k
    var elements = [[Int]](repeating: [], count: gh * gw)
    for ch in 0..<c {
      for y in 0..<h {
        for x in 0..<w { elements[(y / k) * gw + x / k].append(ch * h * w + y * w + x) }
      }
    }
    self.inputShape = inputShape
    self.maskShape = [1, gh, gw]
    self.patch = k
    self.elements = elements
  }

  /// One feature per pixel, all channels together (the paper's layout).
  public static func pixels(_ inputShape: [Int]) -> FeatureLayout {
    // (1, H, W) always broadcasts over (C, H, W).
    (try? FeatureLayout(inputShape: inputShape, maskShape: [1, inputShape[1], inputShape[2]]))
      ?? FeatureLayout(unchecked: inputShape)
  }

  private init(unchecked inputShape: [Int]) {
    self.inputShape = inputShape
    maskShape = inputShape
    patch = 1
    elements = (0..<inputShape.reduce(1, *)).map { [$0] }
  }

  /// Parses `pixel`, `value`, `row`, `column`, `channel` or `patchK` (e.g. `patch4`).
  public init(parsing text: String, inputShape: [Int]) throws {
    let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
    switch text {
    case "pixel": try self.init(inputShape: inputShape, maskShape: [1, h, w])
    case "value": try self.init(inputShape: inputShape, maskShape: [c, h, w])
    case "row": try self.init(inputShape: inputShape, maskShape: [1, h, 1])
    case "column": try self.init(inputShape: inputShape, maskShape: [1, 1, w])
    case "channel": try self.init(inputShape: inputShape, maskShape: [c, 1, 1])
    default:
      guard text.hasPrefix("patch"), let k = Int(text.dropFirst(5)) else {
        throw SISError.badArgument("features must be pixel, value, row, column, channel or patchK (e.g. patch4), got '\(text)'")
      }
      try self.init(inputShape: inputShape, patch: k)
    }
  }

  public var description: String {
    if patch > 1 { return "patch\(patch)" }
    let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
    switch maskShape {
    case [1, h, w]: return "pixel"
    case [c, h, w]: return "value"
    case [1, h, 1]: return "row"
    case [1, 1, w]: return "column"
    case [c, 1, 1]: return "channel"
    default: return "mask\(maskShape)"
    }
  }
}

/// The value masked features take. `.mean` is the paper's: 0 after per-channel normalization,
/// i.e. the dataset mean. `.image` is any image of the input's shape, normalized like the inputs.
public enum MaskValue: Equatable, Sendable {
  case mean
  case image(path: String, normalized: [Float])

  /// "zero" or an `.npy` of one uint8 image (H, W, C), normalized with `normalization`.
  public init(parsing text: String, inputShape shape: [Int], normalization: Normalization) throws {
    if text == "zero" {
      self = .mean
      return
    }
    let a = try NpyArray.read(text)
    guard a.kind == .uint8, a.shape == [shape[1], shape[2], shape[0]] else {
      throw SISError.badArgument(
        "mask value \(text): expected a uint8 image of shape (\(shape[1]), \(shape[2]), \(shape[0])), got \(a.kind.rawValue) \(a.shape)"
      )
    }
    let chw = ImageDataset.fromHWC(a.data, count: 1, height: shape[1], width: shape[2], channels: shape[0])
    let plane = shape[1] * shape[2]
    self = .image(path: text, normalized: chw.enumerated().map { normalization.value($0.element, channel: $0.offset / plane) })
  }

  /// What manifests record: "zero" or the image's path.
  public var recorded: String {
    switch self {
    case .mean: return "zero"
    case .image(let path, _): return path
    }
  }

  /// The fully masked input (nil: zeros).
  public var values: [Float]? {
    if case .image(_, let v) = self { return v }
    return nil
  }
}

public enum SISError: Error, CustomStringConvertible {
  case badArgument(String)
  case store(String)
  /// A run folder holds a run with other settings (the fields that differ).
  case otherRun(directory: String, differences: [String])
  /// A run folder already holds this run, and it was not to be continued.
  case runExists(directory: String)

  public var description: String {
    switch self {
    case .badArgument(let m), .store(let m): return SettingNames.render(m)
    case .otherRun(let d, let fields):
      return
        "\(d) holds a different run (differs in \(fields.isEmpty ? "shard" : fields.joined(separator: ", ") + ": the folder's value vs this one's"))"
    case .runExists(let d): return "\(d) already holds this run"
    }
  }
}
