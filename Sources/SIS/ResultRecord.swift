import Base
import Foundation

/// What determines a result: the models (by content), the data, which of its images, how they are
/// fed to the model, how backward selection ran, and the analysis on top. Every artifact that can
/// be resumed, merged or combined projects onto it (`RunManifest.record`, the audit's
/// `AuditSettings.record`), and `differences(from:)` is the one comparison that says in which
/// fields two of them differ. What does not change a result is left out: where the model files
/// lie, the shard, prose descriptions, versions and the device.
public struct ResultRecord: Codable, Equatable, Sendable {
  /// SHA-256 of each model file, in ensemble order.
  public var models: [String]
  /// The data, as `DataSource` takes it (its description left empty: prose).
  public var data: DataRecord
  /// Which of the data's images.
  public var images: ImageChoice
  /// How an image becomes features (a backward-selection run's; nil for an audit, whose run
  /// records it).
  public var input: InputTreatment?
  /// How backward selection ran (for an audit folder older than that record, what it recorded:
  /// `AuditSettings.record(comparedWith:)`).
  public var selection: SelectionSettings
  /// An audit's analysis settings.
  public var analysis: AnalysisSettings?

  public init(
    models: [String], data: DataRecord, images: ImageChoice, input: InputTreatment? = nil, selection: SelectionSettings,
    analysis: AnalysisSettings? = nil
  ) {
    self.models = models
    var d = data
    d.description = ""
    self.data = d
    self.images = images
    self.input = input
    self.selection = selection
    self.analysis = analysis
  }

  /// The fields in which `other` differs from this record (empty: the same result).
  public func differences(from other: ResultRecord) -> [String] { differingFields(self, other) }

  public struct ImageChoice: Codable, Equatable, Sendable {
    /// A run's positions in the loaded data, in run order.
    public var positions: [Int]?
    /// An audit's rule: predicted class probability at least this, correct only, a seeded sample.
    public var minConfidence: Double?
    public var correctOnly: Bool?
    public var sample: Int?
    public var seed: UInt64?

    public init(
      positions: [Int]? = nil, minConfidence: Double? = nil, correctOnly: Bool? = nil, sample: Int? = nil, seed: UInt64? = nil
    ) {
      self.positions = positions
      self.minConfidence = minConfidence
      self.correctOnly = correctOnly
      self.sample = sample
      self.seed = seed
    }
  }

  public struct InputTreatment: Codable, Equatable, Sendable {
    public var shape: [Int]
    /// `FeatureLayout.description`.
    public var features: String
    /// "zero" or a mask image's path.
    public var maskValue: String
    /// `Normalization.description`; nil where a manifest predates it.
    public var normalization: String?

    public init(shape: [Int], features: String, maskValue: String, normalization: String?) {
      self.shape = shape
      self.features = features
      self.maskValue = maskValue
      self.normalization = normalization
    }
  }

  public struct AnalysisSettings: Codable, Equatable, Sendable {
    public var thresholds: [Double]
    public var fraction: Double

    public init(thresholds: [Double], fraction: Double) {
      self.thresholds = thresholds
      self.fraction = fraction
    }
  }
}
