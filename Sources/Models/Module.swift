import Base
import Torch

/// A network component with named parameters and buffers, registered under PyTorch's
/// state_dict names so that checkpoints move between the two ecosystems unchanged.
///
/// A module lists its own tensors and its children; the recursive views (`namedParameters()`,
/// `stateDict()`) join names with dots, as PyTorch does.
public protocol Module: AnyObject {
  /// Trainable tensors owned directly by this module, in registration order.
  var ownParameters: [(String, Tensor)] { get }
  /// Non-trainable state (batch-norm running statistics) owned directly by this module.
  var ownBuffers: [(String, Tensor)] { get }
  /// Sub-modules, in registration order.
  var children: [(String, any Module)] { get }
}

extension Module {
  public var ownParameters: [(String, Tensor)] { [] }
  public var ownBuffers: [(String, Tensor)] { [] }
  public var children: [(String, any Module)] { [] }

  private func collect(_ prefix: String, _ own: (any Module) -> [(String, Tensor)]) -> [(String, Tensor)] {
    var out = own(self).map { (prefix + $0.0, $0.1) }
    for (name, child) in children {
      out += child.collectAny(prefix + name + ".", own)
    }
    return out
  }

  fileprivate func collectAny(_ prefix: String, _ own: (any Module) -> [(String, Tensor)]) -> [(String, Tensor)] {
    collect(prefix, own)
  }

  public func namedParameters() -> [(String, Tensor)] { collect("", { $0.ownParameters }) }
  public func namedBuffers() -> [(String, Tensor)] { collect("", { $0.ownBuffers }) }
  public func parameters() -> [Tensor] { namedParameters().map(\.1) }

  /// Parameters then buffers of each module, depth first: PyTorch's `state_dict()` order.
  public func stateDict() -> [(String, Tensor)] {
    collect("", { $0.ownParameters + $0.ownBuffers })
  }

  /// Number of trainable scalars.
  public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

  /// Copies `state` into this module's tensors. Every expected name must be present with the
  /// same shape, and no unexpected name may appear; all problems are reported at once.
  /// Batch-norm `num_batches_tracked` counters may be absent (old PyTorch files lack them).
  public func load(stateDict state: [(String, Tensor)], source: String) throws {
    let mine = stateDict()
    let given = Dictionary(state, uniquingKeysWith: { a, _ in a })
    let expected = Set(mine.map(\.0))
    var problems: [String] = []
    for (name, tensor) in mine {
      guard let t = given[name] else {
        if !name.hasSuffix("num_batches_tracked") { problems.append("missing \(name) \(tensor.shape)") }
        continue
      }
      if t.shape != tensor.shape { problems.append("\(name): expected shape \(tensor.shape), file has \(t.shape)") }
    }
    for (name, t) in state where !expected.contains(name) {
      problems.append("unexpected \(name) \(t.shape)")
    }
    if !problems.isEmpty {
      throw ModelError.stateDictMismatch(source: source, problems: problems)
    }
    for (name, tensor) in mine {
      if let t = given[name] { try tensor.copy_(t) }
    }
  }
}

public enum ModelError: Error, CustomStringConvertible {
  case stateDictMismatch(source: String, problems: [String])
  case unknownArchitecture(String, known: [String])
  case badCheckpoint(path: String, message: String)

  public var description: String {
    switch self {
    case .stateDictMismatch(let source, let problems):
      return
        "\(source): the weights do not fit the architecture (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n  "
        + problems.joined(separator: "\n  ")
    case .unknownArchitecture(let name, let known):
      return "unknown architecture '\(name)'; known: \(known.joined(separator: ", "))"
    case .badCheckpoint(let path, let message):
      return "\(path): \(SettingNames.render(message))"
    }
  }
}
