import Base
import Foundation
import Datasets
import Models
import Torch

/// Evaluates a classifier on masked copies of images, for BackSelect.
///
/// Each problem is one image (normalized, C x H x W float32) with a fixed class c (the class
/// predicted on the full image). A masked feature's elements take the value of the fully masked
/// input `maskValue` (default: zeros, i.e. the dataset mean after normalization).
///
/// Candidate inputs are written straight into a preallocated CPU tensor of `chunk` images, so
/// no per-candidate tensors are created; candidates of several problems share a chunk. The
/// forward pass runs in inference mode; softmax and log-softmax are libtorch's (float32), so
/// `.prob` scores are bit-identical to PyTorch's. With a classifier that evaluates one-pixel
/// changes incrementally (`SinglePixelIncremental`: the fast method's BN-folded CIFAR ResNets) and
/// one-pixel features, each candidate's first stage is recomputed only around its pixel (the same
/// values up to rounding; `incremental: false` or `OVERINTERP_NO_INCREMENTAL=1` turns it off).
public final class ClassifierScorer: CandidateScorer {
  public let classifier: any Classifier
  public let images: [[Float]]
  public let classes: [Int]
  public let layout: FeatureLayout
  public let maskValue: [Float]
  public let score: SelectionScore
  public let chunk: Int
  public let device: Device
  let buffer: Tensor
  let bufferPointer: UnsafeMutablePointer<Float>
  /// With a classifier that can evaluate one-pixel changes incrementally (`SinglePixelIncremental`)
  /// and features of one pixel each: that classifier and each feature's pixel (y * W + x). Nil:
  /// every candidate runs through the whole model.
  let incremental: (model: any SinglePixelIncremental, featurePixels: [Int])?
  /// Forward passes run so far (candidates evaluated).
  public private(set) var evaluations = 0

  public init(
    classifier: any Classifier, images: [[Float]], classes: [Int], layout: FeatureLayout, maskValue: [Float]? = nil,
    score: SelectionScore, chunk: Int = 128, device: Device = .cpu, incremental: Bool = true
  ) throws {
    let size = layout.inputShape.reduce(1, *)
    guard images.allSatisfy({ $0.count == size }) else {
      throw SISError.badArgument("every image must have \(size) values (shape \(layout.inputShape))")
    }
    guard images.count == classes.count else { throw SISError.badArgument("one class per image") }
    guard chunk >= 1 else { throw SISError.badArgument("the candidates per forward pass must be at least 1, got \(chunk)") }
    if let maskValue, maskValue.count != size {
      throw SISError.badArgument("the mask value must have \(size) values (shape \(layout.inputShape)), got \(maskValue.count)")
    }
    self.classifier = classifier
    self.images = images
    self.classes = classes
    self.layout = layout
    self.maskValue = maskValue ?? [Float](repeating: 0, count: size)
    self.score = score
    self.chunk = chunk
    self.device = device
    buffer = try Tensor.zeros([chunk] + layout.inputShape)
    if incremental, ProcessInfo.processInfo.environment["OVERINTERP_NO_INCREMENTAL"] == nil,
      let model = classifier as? any SinglePixelIncremental, model.incrementalAvailable, let pixels = layout.singlePixels()
    {
      self.incremental = (model, pixels)
    } else {
      self.incremental = nil
    }
    bufferPointer = try buffer.withUnsafeMutableRawPointer { $0.bindMemory(to: Float.self, capacity: chunk * size) }
  }

  /// float32 softmax never exceeds 1 and the log-softmax never exceeds 0; the margin has no bound.
  public var scoreCeiling: Double? {
    switch score {
    case .prob: 1
    case .logprob: 0
    case .margin: nil
    }
  }

  /// The image of `problem` with the features in `masked` set to the mask value.
  func maskedImage(_ problem: Int, _ masked: [Bool]) -> [Float] {
    var x = images[problem]
    for (f, isMasked) in masked.enumerated() where isMasked {
      for e in layout.elements[f] { x[e] = maskValue[e] }
    }
    return x
  }

  public func evaluate(_ requests: [CandidateRequest]) throws -> [[Evaluation]] {
    let size = layout.inputShape.reduce(1, *)
    let bases = requests.map { maskedImage($0.problem, $0.masked) }
    var out = requests.map { [Evaluation](repeating: Evaluation(score: 0, probability: 0), count: $0.candidates.count) }
    var jobs: [(request: Int, slot: Int)] = []
    jobs.reserveCapacity(requests.reduce(0) { $0 + $1.candidates.count })
    for (r, req) in requests.enumerated() {
      for k in req.candidates.indices { jobs.append((r, k)) }
    }
    var start = 0
    var incrementalBases: IncrementalBases?
    try withInferenceMode {
      while start < jobs.count {
        let n = Swift.min(chunk, jobs.count - start)
        for j in 0..<n {
          let (r, k) = jobs[start + j]
          let dst = bufferPointer + j * size
          bases[r].withUnsafeBufferPointer { src in
            guard let base = src.baseAddress else { return }
            dst.update(from: base, count: size)
          }
          let c = requests[r].candidates[k]
          if c != CandidateRequest.none {
            for e in layout.elements[c] { dst[e] = maskValue[e] }
          }
        }
        let x = try (n == chunk ? buffer : buffer.slice(dim: 0, 0, n)).to(device)
        let logits: Tensor
        if let incremental {
          // Each candidate differs from its request's base in one pixel.
          let kept: IncrementalBases
          if let incrementalBases {
            kept = incrementalBases
          } else {
            let all = try Tensor(Array(bases.joined()), shape: [bases.count] + layout.inputShape).to(device)
            kept = try incremental.model.incrementalBases(all)
            incrementalBases = kept
          }
          let pixels = (0..<n).map { j -> Int in
            let (r, k) = jobs[start + j]
            let c = requests[r].candidates[k]
            return c == CandidateRequest.none ? -1 : incremental.featurePixels[c]
          }
          logits = try incremental.model.logits(
            inputs: x, bases: kept, baseOf: (0..<n).map { jobs[start + $0].request }, pixels: pixels)
        } else {
          logits = try classifier.logits(x)
        }
        let classesInChunk = try Tensor(
          (0..<n).map { Int64(classes[requests[jobs[start + $0].request].problem]) }, shape: [n, 1]
        ).to(device)
        let probs = try NN.softmax(logits, dim: 1).gather(dim: 1, classesInChunk).floats()
        let scores: [Float]
        switch score {
        case .prob:
          scores = probs
        case .logprob:
          scores = stableLogProbabilities(try logits.floats(), rows: n) { classes[requests[jobs[start + $0].request].problem] }
        case .margin:
          let l = try logits.floats()
          let k = l.count / n
          scores = (0..<n).map { j in
            let c = classes[requests[jobs[start + j].request].problem]
            var other = -Float.infinity
            for i in 0..<k where i != c { other = Swift.max(other, l[j * k + i]) }
            return l[j * k + c] - other
          }
        }
        for j in 0..<n {
          let (r, k) = jobs[start + j]
          out[r][k] = Evaluation(score: Double(scores[j]), probability: Double(probs[j]))
        }
        evaluations += n
        start += n
      }
    }
    return out
  }
}

/// log softmax(z)[c] per row, in float32, without saturating: when z_c is the largest logit it is
/// -log1p(sum over j != c of exp(z_j - z_c)), which stays below 0 (and ordered) long after
/// softmax and the usual log-softmax (z_c - logsumexp z) have rounded to 1 and 0. Otherwise the
/// usual form, shifted by the maximum.
func stableLogProbabilities(_ logits: [Float], rows: Int, classOf: (Int) -> Int) -> [Float] {
  let k = logits.count / max(rows, 1)
  return (0..<rows).map { r in
    let z = logits[(r * k)..<((r + 1) * k)]
    let c = z.startIndex + classOf(r)
    let m = z.max() ?? 0
    if z[c] >= m {
      var s: Float = 0
      for j in z.indices where j != c { s += expf(z[j] - z[c]) }
      return -log1pf(s)
    }
    var s: Float = 0
    for j in z.indices { s += expf(z[j] - m) }
    return (z[c] - m) - logf(s)
  }
}

/// The SIS collection (`sisCollection`) of image `position` of `data` under `classifier`, for
/// the class it predicts on the full image.
public func sisCollection(
  classifier: any Classifier, data: ImageDataset, position: Int, layout: FeatureLayout, threshold: Double,
  score: SelectionScore, chunk: Int = 128, device: Device = .cpu
) throws -> (predicted: Int, confidence: Float, collection: [(sis: [Int], backSelect: BackSelectResult)]) {
  let x = try data.subset([position]).normalized(0..<1, classifier.info.normalization)
  let probs = try withInferenceMode { try classifier.probabilities(try x.to(device)).floats() }
  guard let c = argmax(probs) else { throw SISError.badArgument("the classifier returned no probabilities") }
  let scorer = try ClassifierScorer(
    classifier: classifier, images: [try x.floats()], classes: [c], layout: layout, score: score, chunk: chunk, device: device)
  let found = try sisCollection(problem: 0, featureCount: layout.count, threshold: Float(threshold), scorer: scorer)
  return (c, probs[c], found)
}
