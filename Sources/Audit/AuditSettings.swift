import Analysis
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Everything that determines an audit's results, stored as `audit.json` in the audit folder. An
/// audit folder refuses a command whose settings differ (use another `--out`).
public struct AuditSettings: Codable, Equatable, Sendable {
  public var format = "overinterp-audit/1"
  public var modelPaths: [String]
  public var modelSHA256: [String]
  public var dataPath: String
  public var dataSplit: String
  public var dataHoldout: Int
  public var dataLabels: String?
  /// Images whose predicted class has probability at least this are audited (the lowest
  /// threshold of the grid by default, so every threshold has its images).
  public var minConfidence: Double
  public var correctOnly: Bool
  /// A seeded random sample of this many of the selected images (nil: all of them).
  public var sample: Int?
  public var seed: UInt64
  public var method: String
  public var score: String
  public var k: Int?
  public var thresholds: [Double]
  public var fraction: Double
  /// Every parameter of backward selection (absent in audit folders written before it was
  /// recorded: their `run/manifest.json` holds it).
  public var selection: SelectionSettings?

  public init(
    modelPaths: [String], modelSHA256: [String], dataPath: String, dataSplit: String, dataHoldout: Int, dataLabels: String?,
    minConfidence: Double, correctOnly: Bool, sample: Int?, seed: UInt64, method: String, score: String, k: Int?,
    thresholds: [Double], fraction: Double, selection: SelectionSettings? = nil
  ) {
    self.selection = selection
    self.modelPaths = modelPaths
    self.modelSHA256 = modelSHA256
    self.dataPath = dataPath
    self.dataSplit = dataSplit
    self.dataHoldout = dataHoldout
    self.dataLabels = dataLabels
    self.minConfidence = minConfidence
    self.correctOnly = correctOnly
    self.sample = sample
    self.seed = seed
    self.method = method
    self.score = score
    self.k = k
    self.thresholds = thresholds
    self.fraction = fraction
  }

  /// What determines the audit's results (the model files' paths are not part of it).
  public var record: ResultRecord {
    ResultRecord(
      models: modelSHA256,
      data: DataRecord(
        path: dataPath, labels: dataLabels, split: Split(rawValue: dataSplit) ?? .test, holdout: dataHoldout, description: ""),
      images: .init(minConfidence: minConfidence, correctOnly: correctOnly, sample: sample, seed: seed),
      selection: selection ?? recordedSelection, analysis: .init(thresholds: thresholds, fraction: fraction))
  }

  /// The record to compare with `other`'s: where `other` was written before every selection
  /// parameter was recorded, only what it recorded (method, score, k) is compared; its run's
  /// manifest checks the rest.
  public func record(comparedWith other: AuditSettings) -> ResultRecord {
    var r = record
    if other.selection == nil { r.selection = recordedSelection }
    return r
  }

  /// Method, score and k as the first audit.json format recorded them, every other parameter at
  /// its default of that time (M 16 before session 20).
  var recordedSelection: SelectionSettings {
    SelectionSettings(
      score: SelectionScore(rawValue: score) ?? .logprob, method: SelectionMethod(rawValue: method) ?? .exact, k: k,
      hybrid: HybridSettings(), screening: ScreeningSettings(top: 16))
  }
}
