import ArgumentParser
import Audit
import Base
import Foundation
import SIS
import Training
import Torch

@main
struct Overinterp: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "overinterp",
    abstract: "Audit image classifiers for overinterpretation (Carter et al., 2021).",
    discussion: """
      Models are safetensors files made by `overinterp convert` (or trained by overinterp); \
      `default` names the model embedded in this build. Run `overinterp eval` with no arguments \
      to evaluate the embedded model on the embedded sample of CIFAR-10 test images.
      """,
    version: Self.version,
    subcommands: [
      AuditCommand.self, CompareAudits.self, SlurmCommand.self, Eval.self, Train.self, BackSelectCommand.self, SISCommand.self,
      Subsets.self,
      Table1.self, Heatmap.self,
      CompareRuns.self, FidelityCommand.self,
      Merge.self,
      StudyCommand.self, Convert.self, DataCommand.self, Bench.self,
    ]
  )

  static let version = "0.1.0"

  static func main() async {
    // `--version` also says which libtorch this build links and whether it can use CUDA.
    if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
      print("overinterp \(version), \(Runtime.summary)")
      return
    }
    // Before libtorch starts its OpenMP pool: idle threads sleep instead of spinning, which
    // matters when several processes share the cores (tests, sharded runs).
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0)
    SettingNames.install(settingFlags)
    do {
      var command = try parseAsRoot()
      if var command = command as? any AsyncParsableCommand {
        try await command.run()
      } else {
        try command.run()
      }
    } catch {
      exit(withError: describe(error))
    }
  }

  /// The flag that sets each setting the libraries name in a `SettingProblem`.
  static let settingFlags = [
    "epochs": "--epochs", "batchSize": "--batch-size", "learningRate": "--lr", "momentum": "--momentum",
    "nesterov": "--nesterov", "weightDecay": "--weight-decay", "schedule": "--schedule", "gamma": "--gamma",
    "warmupEpochs": "--warmup-epochs", "holdout": "--holdout", "threads": "--threads", "epsilon": "--eps",
    "stepSize": "--step", "steps": "--steps", "restarts": "--restarts", "normalization": "--normalization",
    "classes": "--classes", "architecture": "--arch", "trustCode": "--trust-code", "inputShape": "--input-shape",
    "precision": "--precision", "data": "--data", "labels": "--labels", "corruption": "--corruption", "severity": "--severity",
    "cifar10c": "--cifar10c", "indices": "--indices", "thresholds": "--thresholds", "fraction": "--fraction", "out": "--out",
    "images": "--images", "window": "--window", "batches": "--batches", "switchAt": "--switch-at", "exactLast": "--exact-last",
    "score": "--score", "tasks": "--tasks", "cpusPerTask": "--cpus-per-task", "interim": "--interim", "sample": "--sample",
    "seed": "--seed", "initialWeights": "--initialize", "reuse": "--reuse",
  ]

  /// Errors from our own layers carry complete messages; show them without a stack of wrappers.
  static func describe(_ error: Error) -> Error {
    switch error {
    case let e as TorchError: return ValidationFailure("libtorch: \(e.message)")
    case let e as FileFormatError: return ValidationFailure(e.description)
    case let e as SettingProblem: return ValidationFailure(e.description)
    case let e as TrainingError:
      switch e.kind {
      case .runExists: return ValidationFailure("\(e); pass --resume to continue it or choose another --out")
      case .otherSettings: return ValidationFailure("\(e); resume with the same flags or start a new --out")
      case .diverged: return ValidationFailure("\(e); lower --lr")
      case .other: return error
      }
    // The library says what is wrong with the folder; the CLI says which flag changes that.
    case SISError.otherRun: return ValidationFailure("\(error); use another --out")
    case let e as AuditError where e.kind == .otherAudit: return ValidationFailure("\(e); use another --out")
    case SISError.runExists: return ValidationFailure("\(error); pass --resume to continue it")
    default: return error
    }
  }
}

/// An error whose description is shown to the user as it is.
struct ValidationFailure: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}
