import Base
import Datasets
import Foundation

/// How BackSelect was run: the score, the method and its parameters, and the batch shape. Every
/// field is typed; `RunManifest` stores them flat in `manifest.json` (see `docs/RUN-FORMAT.md`).
public struct SelectionSettings: Codable, Equatable, Sendable {
  public var score: SelectionScore
  public var method: SelectionMethod
  /// Gradient and hybrid: pixels masked per gradient block (nil for exact).
  public var k: Int?
  /// Hybrid and fast: the gradient phase and its switch to exact selection.
  public var hybrid: HybridSettings?
  /// Fast only: how the exact phase screens its candidates.
  public var screening: ScreeningSettings?
  /// Candidate images per forward pass.
  public var chunk: Int
  /// Images advanced in lockstep (the gradient method's mini-batch).
  public var group: Int
  /// How exact selection (the exact method, the hybrid's exact phase) scores candidates.
  public var precision: Precision
  /// With `.bf16Verify`: candidates per step scored again in float32.
  public var verifyTop: Int?

  public init(
    score: SelectionScore = .logprob, method: SelectionMethod = .exact, k: Int? = nil, hybrid: HybridSettings? = nil,
    screening: ScreeningSettings? = nil, chunk: Int = 128, group: Int = 4, precision: Precision = .fp32, verifyTop: Int? = nil
  ) {
    self.score = score
    self.method = method
    self.k = method == .exact ? nil : k
    self.hybrid = method == .hybrid || method == .fast ? hybrid : nil
    self.screening = method == .fast ? screening : nil
    self.chunk = chunk
    self.group = group
    self.precision = method == .gradient ? .fp32 : precision
    self.verifyTop = self.precision == .bf16Verify ? verifyTop : nil
  }

  /// What is missing for the method, if anything ("the gradient method needs a block size k").
  public func problems() -> [String] {
    var out: [String] = []
    if method != .exact, (k ?? 0) < 1 { out.append("the \(method.rawValue) method needs a block size k >= 1") }
    if method == .hybrid || method == .fast, hybrid == nil {
      out.append("the \(method.rawValue) method needs its switch settings")
    }
    if method == .fast {
      if let screening { out += screening.problems() } else { out.append("the fast method needs its screening settings") }
      // bf16-verify hides the unverified candidates' scores, which screening and the occlusion
      // phase rank by (measured: 12 s per image and SIS 1.7-2.6x exact's on the 20 lossless images).
      if precision == .bf16Verify {
        out.append("the fast method takes precision fp32 or bf16 (its values are measured again in float32), not bf16-verify")
      }
    }
    if chunk < 1 { out.append("chunk must be at least 1") }
    if group < 1 { out.append("group must be at least 1") }
    if precision == .bf16Verify, (verifyTop ?? 0) < 1 { out.append("bf16-verify needs at least 1 candidate to verify") }
    return out
  }

  /// Whether selection needs the bfloat16 twin of the model (`bfloat16Twin`): a bfloat16
  /// precision, or the fast method's occlusion rankings in bfloat16.
  public var needsBFloat16Twin: Bool {
    precision != .fp32 || (method == .fast && screening?.ranksInBFloat16 == true)
  }

  /// "exact, score logprob", "gradient k=8, score logprob",
  /// "hybrid k=8 switch 0.9990 last 256 on dip set-aside cap confidence, score logprob".
  public var label: String {
    let base = methodLabel
    switch precision {
    case .fp32: return base
    case .bf16: return base + ", bf16"
    case .bf16Verify: return base + ", bf16-verify top \(verifyTop ?? 0)"
    }
  }

  var methodLabel: String {
    switch method {
    case .exact: return "exact, score \(score.rawValue)"
    case .gradient: return "gradient k=\(k ?? 0), score \(score.rawValue)"
    case .hybrid, .fast:
      let h = hybrid ?? HybridSettings()
      // At least 4 decimals, more where they are needed (0.99999 is not "1.0000").
      let digits = (4...9).first { Swift.abs((Double(fmt(h.switchAt, digits: $0)) ?? .nan) - h.switchAt) < 1e-12 } ?? 9
      return "\(method.rawValue) k=\(k ?? 0) switch \(fmt(h.switchAt, digits: digits)) last \(h.exactLast)"
        + (h.onDip == .switch ? "" : " on dip \(h.onDip.rawValue)") + (h.switchCap == .none ? "" : " cap \(h.switchCap.rawValue)")
        + (screening.map { ", screened \($0.label)" } ?? "") + ", score \(score.rawValue)"
    }
  }

  /// What one tie-counting step is: a feature for exact BackSelect, a block of k for the gradient
  /// method (and both for the hybrid).
  public func stepsDescription(featureCount p: Int) -> String {
    switch method {
    case .gradient:
      let k = Swift.max(self.k ?? 1, 1)
      return "\((p + k - 1) / k) gradient iterations"
    case .hybrid: return "at most \(p) steps (gradient iterations, then exact steps)"
    case .fast: return "at most \(p) steps (gradient iterations, then screened exact steps)"
    case .exact: return "\(p) steps"
    }
  }
}

/// The cost model of every method, in one place: what plans, progress bars and reports use.
extension SelectionSettings {
  /// Pixels the exact phase of the hybrid and fast methods orders when no pilot has measured it:
  /// `exactLast` (a dip below the switch level starts it earlier, set-aside blocks add to it).
  public var nominalExactPhase: Int { hybrid?.exactLast ?? 256 }

  /// Forward passes of an exact phase over `r` features: every candidate of every step,
  /// r(r+1)/2, or the screened count of the fast method (`ScreeningSettings.evaluations`).
  public func exactPhasePasses(features r: Int) -> Int {
    if method == .fast, let screening { return screening.evaluations(features: r) }
    return r * (r + 1) / 2
  }

  /// Model passes per image of `p` pixels (forward, and gradient: one forward and one backward):
  /// exact 1 + p(p+1)/2; gradient 1 + ceil(p/k) gradient passes; hybrid and fast about ceil(p/k)
  /// gradient passes and 1 + the exact phase's passes, over `exactPhase` pixels (per image, e.g.
  /// from a pilot; averaged) or `nominalExactPhase`.
  public func passesPerImage(pixels p: Int, exactPhase: [Int]? = nil) -> (forward: Int, gradient: Int) {
    let k = Swift.max(self.k ?? 1, 1)
    switch method {
    case .exact: return (1 + p * (p + 1) / 2, 0)
    case .gradient: return (1, (p + k - 1) / k)
    case .hybrid, .fast:
      if let occlusion = occlusionPhasePasses(pixels: p) {
        return (1 + occlusion + exactPhasePasses(features: Swift.min(p, nominalExactPhase)), 0)
      }
      let phases = exactPhase.flatMap { $0.isEmpty ? nil : $0 } ?? [nominalExactPhase]
      return (1 + phases.map { exactPhasePasses(features: $0) }.reduce(0, +) / phases.count, (p + k - 1) / k)
    }
  }

  /// The fast method with an occlusion early phase: its forward passes on `p` pixels when no
  /// block dips (each round evaluates the input and every remaining pixel, then measures its
  /// block); nil for the other early phases.
  public func occlusionPhasePasses(pixels p: Int) -> Int? {
    occlusionRounds(pixels: p).map { rounds in rounds.reduce(0) { $0 + $1 + 2 } }
  }

  /// The pixels each round of the occlusion phase evaluates when no block dips (each round masks
  /// the share of those left, never leaving fewer than the exact phase); nil without the phase.
  func occlusionRounds(pixels p: Int) -> [Int]? {
    guard method == .fast, let share = screening?.occlusionShare, share > 0 else { return nil }
    var r = p
    var rounds: [Int] = []
    while r > nominalExactPhase {
      rounds.append(r)
      r -= Swift.max(1, Swift.min(Int(share * Double(r)), r - nominalExactPhase))
    }
    return rounds
  }

  /// Progress units (candidates decided, a gradient block counting its pixels) per image, as
  /// `BackSelectRunner` reports them: p for the gradient method, p(p+1)/2 for exact selection, and
  /// for hybrid and fast the gradient phase's p − r pixels plus the exact phase's candidates
  /// (`exactPhase` as in `passesPerImage`).
  public func progressUnits(pixels p: Int, exactPhase: [Int]? = nil) -> Int {
    switch method {
    case .gradient: return p
    case .exact: return p * (p + 1) / 2
    case .hybrid, .fast:
      if let rounds = occlusionRounds(pixels: p) {
        // The occlusion phase reports the pixels it evaluates each round.
        let r = Swift.min(p, nominalExactPhase)
        return rounds.reduce(0, +) + r * (r + 1) / 2
      }
      let phases = exactPhase.flatMap { $0.isEmpty ? nil : $0 } ?? [nominalExactPhase]
      return phases.map { r in r * (r + 1) / 2 + Swift.max(p - r, 0) }.reduce(0, +) / phases.count
    }
  }
}

/// The hybrid method's switch from gradient blocks to exact selection (`hybridBackSelect`).
public struct HybridSettings: Codable, Equatable, Sendable {
  /// Leave the gradient phase when a block takes the probability below this.
  public var switchAt: Double
  /// Also leave it once at most this many pixels are left.
  public var exactLast: Int
  public var onDip: DipPolicy
  public var switchCap: SwitchCap

  public init(switchAt: Double = 0.999, exactLast: Int = 256, onDip: DipPolicy = .setAside, switchCap: SwitchCap = .confidence) {
    self.switchAt = switchAt
    self.exactLast = exactLast
    self.onDip = onDip
    self.switchCap = switchCap
  }
}

/// Which part of the run a folder holds: the lockstep groups g with g % count == index.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
  public var index: Int
  public var count: Int

  public static let whole = Shard(index: 0, count: 1)

  public init(index: Int, count: Int) {
    self.index = index
    self.count = count
  }

  /// "i/n" with 0 <= i < n.
  public init?(parsing text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
    guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 0, i < n else { return nil }
    self.init(index: i, count: n)
  }

  public var description: String { "\(index)/\(count)" }

  public func contains(group: Int) -> Bool { group % count == index }
}

/// Where a run's images came from, enough to load them again (`RunManifest.loadData`).
public struct DataRecord: Codable, Equatable, Sendable {
  /// The `--data` path as given (absolute), or `EmbeddedSample.recordedPath`.
  public var path: String
  /// Labels file for an .npy of images.
  public var labels: String?
  public var split: Split
  public var holdout: Int
  public var description: String
  /// The model's image-folder preprocessing and class count (to reload image folders).
  public var preprocessing: String?
  public var numClasses: Int?

  public static let embeddedSamplePath = "embedded sample"

  public init(
    path: String, labels: String? = nil, split: Split = .test, holdout: Int = 5000, description: String,
    preprocessing: String? = nil, numClasses: Int? = nil
  ) {
    self.path = path
    self.labels = labels
    self.split = split
    self.holdout = holdout
    self.description = description
    self.preprocessing = preprocessing
    self.numClasses = numClasses
  }

  /// Whether two records name the same images: everything but the description, which is prose
  /// that spells the path as it was typed (relative or absolute).
  public func sameImages(as other: DataRecord) -> Bool {
    var o = other
    o.description = description
    return self == o
  }
}

/// Everything that determines the results of a backward-selection run. Two runs (or shards)
/// whose manifests agree except for `shard` can be merged. Stored as flat JSON (`manifest.json`);
/// manifests written by earlier versions load: a missing method means exact, a hybrid without
/// `onDip` switched, one without `switchCap` had no cap.
public struct RunManifest: Equatable, Sendable {
  public static let format = "overinterp-backselect/1"

  public var modelPaths: [String]
  /// SHA-256 of each model file.
  public var modelSHA256: [String]
  public var architecture: String
  public var data: DataRecord
  /// How the images were chosen (e.g. "indices 0..<100", "confident >= 0.99").
  public var selection: String
  /// Positions of the selected images in the loaded dataset, in run order.
  public var positions: [Int]
  /// Their indices in the source (e.g. official test indices).
  public var sourceIndices: [Int]
  public var inputShape: [Int]
  /// The model's input normalization (`Normalization.description`), whose mean is the masked
  /// pixels' colour; nil in manifests written before it was recorded.
  public var normalization: String?
  /// The feature layout (`FeatureLayout.description`: "pixel", "value", "patch4", ...).
  public var features: String
  public var featureCount: Int
  /// "zero" (the dataset mean after normalization) or the path of the mask image.
  public var maskValue: String
  public var settings: SelectionSettings
  public var shard: Shard
  public var overinterpVersion: String
  public var libtorchVersion: String
  public var device: String

  public init(
    modelPaths: [String], modelSHA256: [String], architecture: String, data: DataRecord, selection: String, positions: [Int],
    sourceIndices: [Int], inputShape: [Int], features: String, featureCount: Int, maskValue: String = "zero",
    settings: SelectionSettings, shard: Shard = .whole, overinterpVersion: String, libtorchVersion: String, device: String,
    normalization: String? = nil
  ) {
    self.normalization = normalization
    self.modelPaths = modelPaths
    self.modelSHA256 = modelSHA256
    self.architecture = architecture
    self.data = data
    self.selection = selection
    self.positions = positions
    self.sourceIndices = sourceIndices
    self.inputShape = inputShape
    self.features = features
    self.featureCount = featureCount
    self.maskValue = maskValue
    self.settings = settings
    self.shard = shard
    self.overinterpVersion = overinterpVersion
    self.libtorchVersion = libtorchVersion
    self.device = device
  }

  /// The fields that differ between runs or shards that may be merged. The shard is not one, nor is
  /// the data's description: it is prose that spells the data path as it was typed (relative or
  /// absolute), and the absolute path, split and holdout that it describes are compared themselves.
  public func differences(from other: RunManifest) -> [String] {
    var (a, b) = (record, other.record)
    // Manifests written before the normalization was recorded resume under newer versions.
    if a.input?.normalization == nil || b.input?.normalization == nil { b.input?.normalization = a.input?.normalization }
    return a.differences(from: b)
  }

  /// What determines the run's results (not the model files' paths, the shard, the data's
  /// description, versions or the device).
  public var record: ResultRecord {
    ResultRecord(
      models: modelSHA256, data: data, images: .init(positions: positions),
      input: .init(shape: inputShape, features: features, maskValue: maskValue, normalization: normalization),
      selection: settings)
  }

  /// Number of lockstep groups over all positions.
  public var groupCount: Int { (positions.count + settings.group - 1) / settings.group }

  /// Positions of lockstep group `g`.
  public func positions(ofGroup g: Int) -> ArraySlice<Int> {
    let lo = Swift.min(g * settings.group, positions.count)
    return positions[lo..<Swift.min(lo + settings.group, positions.count)]
  }

  /// The run's label, e.g. "exact, score logprob".
  public var label: String { settings.label }

  /// What one tie-counting step is in this run.
  public var stepsDescription: String { settings.stepsDescription(featureCount: featureCount) }

  /// The dataset the run was made from; `embeddedSample` is the folder of the embedded sample
  /// (for runs on it).
  public func loadData(embeddedSample: String?) throws -> ImageDataset {
    if data.path == DataRecord.embeddedSamplePath {
      guard let embeddedSample else {
        throw SISError.store("the run was made on the embedded sample, which this caller cannot load")
      }
      return try EmbeddedSample.load(directory: embeddedSample)
    }
    let source = DataSource(path: data.path, split: data.split, holdout: data.holdout, labelsPath: data.labels)
    return try source.load(
      preprocessing: data.preprocessing.flatMap(Preprocessing.init(parsing:)) ?? .none,
      classNames: data.numClasses.map { n in n == 10 ? CIFAR10.classNames : (0..<n).map { "class \($0)" } } ?? CIFAR10.classNames)
  }
}

extension RunManifest: Codable {
  enum Key: String, CodingKey {
    case format, modelPaths, modelSHA256, architecture, dataPath, dataLabels, dataSplit, dataHoldout, dataDescription
    case preprocessing, numClasses, selection, positions, sourceIndices, inputShape, features, featureCount, maskValue
    case score, method, k, switchProbability, exactLast, onDip, switchCap, chunk, group, shard, precision, verifyTop
    case screenTop, screenRadius, screenRefresh, screenFullBelow, occlusionShare
    case overinterpVersion, libtorchVersion, device, normalization
  }
  /// Keys added later, read and written by helpers: Swift 6.3.1's optimizer crashes
  /// (LoadableByAddress, signal 11) when `init(from:)` decodes one more value inline.
  enum LaterKey: String, CodingKey {
    case screenWiden, occlusionRerank, occlusionPool, occlusionPrecision
  }

  static func later<T: Decodable>(_ type: T.Type, _ key: LaterKey, in decoder: Decoder) throws -> T? {
    try decoder.container(keyedBy: LaterKey.self).decodeIfPresent(type, forKey: key)
  }

  static func encodeLater(_ value: some Encodable, _ key: LaterKey, to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: LaterKey.self)
    try c.encode(value, forKey: key)
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: Key.self)
    let format = try c.decode(String.self, forKey: .format)
    guard format == Self.format else { throw SISError.store("format '\(format)' is not \(Self.format)") }
    /// A recorded option value as its enum; `absent` for a field the manifest does not have.
    func recorded<T: RawRepresentable & CaseIterable>(_ key: Key, absent: T?) throws -> T where T.RawValue == String {
      guard let value = try c.decodeIfPresent(String.self, forKey: key) else {
        guard let absent else { throw SISError.store("manifest has no \(key.rawValue)") }
        return absent
      }
      guard let parsed = T(rawValue: value) else {
        throw SISError.store(
          "manifest \(key.rawValue) '\(value)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      return parsed
    }
    let method: SelectionMethod = try recorded(.method, absent: .exact)
    var hybrid: HybridSettings?
    var screening: ScreeningSettings?
    if method == .fast {
      var s = ScreeningSettings(
        top: try c.decode(Int.self, forKey: .screenTop), radius: try c.decode(Int.self, forKey: .screenRadius),
        refresh: try c.decode(Int.self, forKey: .screenRefresh), fullBelow: try c.decode(Int.self, forKey: .screenFullBelow),
        occlusionShare: try c.decodeIfPresent(Double.self, forKey: .occlusionShare) ?? 0)
      s.widen = try Self.later(Int.self, .screenWiden, in: decoder) ?? 0
      s.occlusionRerank = try Self.later(Double.self, .occlusionRerank, in: decoder) ?? 0
      s.occlusionPool = try Self.later(Int.self, .occlusionPool, in: decoder) ?? 0
      s.occlusionPrecision = try Self.later(Precision.self, .occlusionPrecision, in: decoder) ?? .fp32
      screening = s
    }
    if method == .hybrid || method == .fast {
      hybrid = HybridSettings(
        switchAt: try c.decode(Double.self, forKey: .switchProbability),
        exactLast: try c.decodeIfPresent(Int.self, forKey: .exactLast) ?? 0,
        onDip: try recorded(.onDip, absent: DipPolicy.switch), switchCap: try recorded(.switchCap, absent: SwitchCap.none))
    }
    let shardText = try c.decode(String.self, forKey: .shard)
    guard let shard = Shard(parsing: shardText) else { throw SISError.store("manifest shard '\(shardText)' is not i/n") }
    self.init(
      modelPaths: try c.decode([String].self, forKey: .modelPaths),
      modelSHA256: try c.decode([String].self, forKey: .modelSHA256),
      architecture: try c.decode(String.self, forKey: .architecture),
      data: DataRecord(
        path: try c.decode(String.self, forKey: .dataPath), labels: try c.decodeIfPresent(String.self, forKey: .dataLabels),
        split: try recorded(.dataSplit, absent: Split.test), holdout: try c.decode(Int.self, forKey: .dataHoldout),
        description: try c.decode(String.self, forKey: .dataDescription),
        preprocessing: try c.decodeIfPresent(String.self, forKey: .preprocessing),
        numClasses: try c.decodeIfPresent(Int.self, forKey: .numClasses)),
      selection: try c.decode(String.self, forKey: .selection), positions: try c.decode([Int].self, forKey: .positions),
      sourceIndices: try c.decode([Int].self, forKey: .sourceIndices), inputShape: try c.decode([Int].self, forKey: .inputShape),
      features: try c.decode(String.self, forKey: .features), featureCount: try c.decode(Int.self, forKey: .featureCount),
      maskValue: try c.decode(String.self, forKey: .maskValue),
      settings: SelectionSettings(
        score: try recorded(.score, absent: nil), method: method, k: try c.decodeIfPresent(Int.self, forKey: .k), hybrid: hybrid,
        screening: screening,
        chunk: try c.decode(Int.self, forKey: .chunk), group: try c.decode(Int.self, forKey: .group),
        precision: try recorded(.precision, absent: Precision.fp32),
        verifyTop: try c.decodeIfPresent(Int.self, forKey: .verifyTop)),
      shard: shard, overinterpVersion: try c.decode(String.self, forKey: .overinterpVersion),
      libtorchVersion: try c.decode(String.self, forKey: .libtorchVersion), device: try c.decode(String.self, forKey: .device),
      normalization: try c.decodeIfPresent(String.self, forKey: .normalization))
    if let n = normalization, Normalization(parsing: n) == nil {
      throw SISError.store("manifest normalization '\(n)' is not m1,m2,m3/s1,s2,s3")
    }
    let problems = settings.problems()
    guard problems.isEmpty else { throw SISError.store("manifest settings: \(problems.joined(separator: "; "))") }
    guard positions.count == sourceIndices.count else {
      throw SISError.store("manifest has \(positions.count) positions but \(sourceIndices.count) source indices")
    }
    guard positions.allSatisfy({ $0 >= 0 }), Set(positions).count == positions.count else {
      throw SISError.store("manifest positions must be distinct non-negative integers")
    }
    guard (1...65_536).contains(featureCount), !inputShape.isEmpty,
      let inputSize = checkedByteCount(shape: inputShape, elementSize: 1), inputSize > 0, inputSize % featureCount == 0
    else {
      throw SISError.store(
        "manifest featureCount \(featureCount) and inputShape \(inputShape) do not fit (1 to 65,536 features dividing the input)")
    }
    if let n = data.numClasses, n < 1 { throw SISError.store("manifest numClasses must be at least 1") }
    if let h = settings.hybrid, !(0...1).contains(h.switchAt) || h.exactLast < 0 {
      throw SISError.store("manifest switchProbability must lie in [0, 1] and exactLast be non-negative")
    }
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: Key.self)
    try c.encode(Self.format, forKey: .format)
    try c.encode(modelPaths, forKey: .modelPaths)
    try c.encode(modelSHA256, forKey: .modelSHA256)
    try c.encode(architecture, forKey: .architecture)
    try c.encode(data.path, forKey: .dataPath)
    try c.encodeIfPresent(data.labels, forKey: .dataLabels)
    try c.encode(data.split.rawValue, forKey: .dataSplit)
    try c.encode(data.holdout, forKey: .dataHoldout)
    try c.encode(data.description, forKey: .dataDescription)
    try c.encodeIfPresent(data.preprocessing, forKey: .preprocessing)
    try c.encodeIfPresent(data.numClasses, forKey: .numClasses)
    try c.encode(selection, forKey: .selection)
    try c.encode(positions, forKey: .positions)
    try c.encode(sourceIndices, forKey: .sourceIndices)
    try c.encode(inputShape, forKey: .inputShape)
    try c.encodeIfPresent(normalization, forKey: .normalization)
    try c.encode(features, forKey: .features)
    try c.encode(featureCount, forKey: .featureCount)
    try c.encode(maskValue, forKey: .maskValue)
    try c.encode(settings.score.rawValue, forKey: .score)
    try c.encode(settings.method.rawValue, forKey: .method)
    try c.encodeIfPresent(settings.k, forKey: .k)
    if let h = settings.hybrid {
      try c.encode(h.switchAt, forKey: .switchProbability)
      try c.encode(h.exactLast, forKey: .exactLast)
      try c.encode(h.onDip.rawValue, forKey: .onDip)
      try c.encode(h.switchCap.rawValue, forKey: .switchCap)
    }
    if let s = settings.screening {
      try c.encode(s.top, forKey: .screenTop)
      try c.encode(s.radius, forKey: .screenRadius)
      try c.encode(s.refresh, forKey: .screenRefresh)
      try c.encode(s.fullBelow, forKey: .screenFullBelow)
      if s.occlusionShare > 0 { try c.encode(s.occlusionShare, forKey: .occlusionShare) }
      if s.widen > 0 { try Self.encodeLater(s.widen, .screenWiden, to: encoder) }
      if s.occlusionRerank > 0 { try Self.encodeLater(s.occlusionRerank, .occlusionRerank, to: encoder) }
      if s.occlusionPool > 0 { try Self.encodeLater(s.occlusionPool, .occlusionPool, to: encoder) }
      if s.occlusionPrecision != .fp32 { try Self.encodeLater(s.occlusionPrecision, .occlusionPrecision, to: encoder) }
    }
    try c.encode(settings.chunk, forKey: .chunk)
    try c.encode(settings.group, forKey: .group)
    if settings.precision != .fp32 { try c.encode(settings.precision.rawValue, forKey: .precision) }
    try c.encodeIfPresent(settings.verifyTop, forKey: .verifyTop)
    try c.encode(shard.description, forKey: .shard)
    try c.encode(overinterpVersion, forKey: .overinterpVersion)
    try c.encode(libtorchVersion, forKey: .libtorchVersion)
    try c.encode(device, forKey: .device)
  }
}

extension Shard {
  /// The shard of a Slurm job-array task: index (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) /
  /// SLURM_ARRAY_TASK_STEP (1 if unset) of SLURM_ARRAY_TASK_COUNT. nil when not in a job array;
  /// an error naming the variables when they do not describe a task of the array.
  public static func fromSlurm(_ environment: [String: String]) throws -> Shard? {
    guard let idText = environment["SLURM_ARRAY_TASK_ID"] else { return nil }
    let names = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT"]
    let values = names.map { environment[$0].flatMap { Int($0) } }
    let step = environment["SLURM_ARRAY_TASK_STEP"].flatMap { Int($0) } ?? 1
    let described = (names + ["SLURM_ARRAY_TASK_STEP"]).map { "\($0)=\(environment[$0] ?? "unset")" }.joined(separator: ", ")
    guard let id = values[0], let low = values[1], let count = values[2], count >= 1, step >= 1, id >= low,
      (id - low) % step == 0, (id - low) / step < count
    else {
      throw SISError.badArgument(
        "the Slurm array variables do not describe a task of the array (\(described), task id '\(idText)')")
    }
    return Shard(index: (id - low) / step, count: count)
  }
}
