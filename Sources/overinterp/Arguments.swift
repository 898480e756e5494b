import ArgumentParser
import Analysis
import Audit
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

extension Split: ExpressibleByArgument {}

extension Architecture: ExpressibleByArgument {}

/// A `--normalization` value: a preset name or m1,m2,m3/s1,s2,s3, parsed once; `text` keeps the
/// spelling given (a training config records it as typed).
struct NormalizationArgument: ExpressibleByArgument {
  let text: String
  let value: Normalization

  init?(argument: String) {
    guard let value = Normalization(parsing: argument) else { return nil }
    text = argument
    self.value = value
  }
}

/// A pixel-unit amount: a fraction such as 8/255, or a decimal such as 0.031 (`--eps`, `--step`).
struct PixelAmount: ExpressibleByArgument, CustomStringConvertible {
  let text: String
  let value: Double

  init?(argument: String) {
    guard let v = PGDAttack.parseFraction(argument) else { return nil }
    text = argument
    value = v
  }

  /// `numerator/denominator`, e.g. 8/255.
  init(_ numerator: Int, over denominator: Int) {
    text = "\(numerator)/\(denominator)"
    value = Double(numerator) / Double(denominator)
  }

  var description: String { text }
  var defaultValueDescription: String { text }
}

/// `--input-shape C,H,W`.
struct InputShapeArgument: ExpressibleByArgument {
  let value: [Int]

  init?(argument: String) {
    guard let shape = TorchScriptMetadata.parseShape(argument) else { return nil }
    value = shape
  }
}

extension Preprocessing: ExpressibleByArgument {
  public init?(argument: String) { self.init(parsing: argument) }
}

extension Device: ExpressibleByArgument {
  public init?(argument: String) { self.init(parsing: argument) }
  public var defaultValueDescription: String { description }
}

/// `--shard`: `i/n` with 0 <= i < n, or `auto` (the Slurm job array's task), parsed once.
enum ShardFlag: ExpressibleByArgument, Equatable {
  case auto
  case fixed(Shard)

  init?(argument: String) {
    if argument == "auto" {
      self = .auto
    } else if let s = Shard(parsing: argument) {
      self = .fixed(s)
    } else {
      return nil
    }
  }
}

/// The shard a run processes: `--shard i/n`; `auto` or, when the flag is absent inside a Slurm
/// job array, the array task's (said on stderr); otherwise the whole run.
func resolveShard(_ flag: ShardFlag?) throws -> Shard {
  if case .fixed(let shard) = flag { return shard }
  let fromSlurm: Shard?
  do { fromSlurm = try Shard.fromSlurm(ProcessInfo.processInfo.environment) } catch {
    throw ValidationFailure("--shard auto: \(error)")
  }
  if let shard = fromSlurm {
    printError(
      "shard \(shard) from the Slurm job array (SLURM_ARRAY_TASK_ID \(ProcessInfo.processInfo.environment["SLURM_ARRAY_TASK_ID"] ?? ""))"
    )
    return shard
  }
  if flag == .auto { throw ValidationFailure("--shard auto needs a Slurm job array: SLURM_ARRAY_TASK_ID is not set") }
  return .whole
}

/// `LABEL=PATH` split at the first `=`; both sides must be non-empty (`flag` names the argument
/// in the error).
func labelledPath(_ text: String, flag: String) throws -> (String, String) {
  guard let eq = text.firstIndex(of: "="), eq != text.startIndex, text.index(after: eq) != text.endIndex else {
    throw ValidationError("\(flag) must be LABEL=PATH, got '\(text)'")
  }
  return (String(text[..<eq]), String(text[text.index(after: eq)...]))
}

/// The PGD attack of `--eps`, `--step`, `--steps` and `--restarts`.
func pgdAttack(eps: PixelAmount, step: PixelAmount, steps: Int, restarts: Int = 1) -> PGDAttack {
  PGDAttack(epsilon: eps.value, stepSize: step.value, steps: steps, randomStart: true, restarts: restarts)
}
