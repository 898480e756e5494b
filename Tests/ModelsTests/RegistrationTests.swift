import Foundation
import Testing

@testable import Models
@testable import Torch

/// Every model declares its layers twice: as stored properties and in a hand-written `children`
/// list (its state_dict names). A layer missing from the list is silently neither trained nor
/// saved, so this finds, by reflection over the stored properties, every module and tensor a
/// model holds and reports those that `children`, `ownParameters` and `ownBuffers` do not reach.
enum Registration {
  /// Paths of stored modules and tensors unreachable from `root`'s registered state.
  static func unregistered(_ root: any Module) -> [String] {
    var modules = Set<ObjectIdentifier>()
    var tensors = Set<ObjectIdentifier>()
    func register(_ m: any Module) {
      modules.insert(ObjectIdentifier(m))
      for (_, t) in m.ownParameters + m.ownBuffers { tensors.insert(ObjectIdentifier(t)) }
      for (_, c) in m.children { register(c) }
    }
    register(root)
    var problems: [String] = []
    var seen = Set<ObjectIdentifier>()
    func visit(_ value: Any, _ path: String) {
      if let m = value as? any Module {
        guard seen.insert(ObjectIdentifier(m)).inserted else { return }
        // An unregistered module is reported once, not with each of its tensors.
        guard modules.contains(ObjectIdentifier(m)) else { return problems.append("\(path) (\(type(of: m)))") }
        for child in Mirror(reflecting: m).children { visit(child.value, path + "." + (child.label ?? "?")) }
        return
      }
      if let t = value as? Tensor {
        if !tensors.contains(ObjectIdentifier(t)) { problems.append("\(path) (tensor \(t.shape))") }
        return
      }
      let mirror = Mirror(reflecting: value)
      switch mirror.displayStyle {
      case .collection, .optional, .tuple, .dictionary, .set, .enum:
        for (i, c) in mirror.children.enumerated() { visit(c.value, "\(path)[\(c.label ?? String(i))]") }
      default:
        // Structs holding layers (e.g. a block description) are searched too.
        if mirror.displayStyle == .struct {
          for c in mirror.children { visit(c.value, path + "." + (c.label ?? "?")) }
        }
      }
    }
    for child in Mirror(reflecting: root).children { visit(child.value, child.label ?? "?") }
    return problems
  }
}

@Suite struct RegistrationTests {
  @Test(arguments: Architecture.allCases)
  func everyStoredLayerIsTrainedAndSaved(architecture: Architecture) throws {
    let net = try architecture.build()
    #expect(Registration.unregistered(net) == [], "\(architecture.rawValue)")
  }

  /// The check itself: a module that forgets a layer in `children`, and one that keeps a tensor
  /// out of its parameters, are both reported by name.
  @Test func aForgottenLayerIsReported() throws {
    final class Forgetful: Module {
      let kept = try? Linear(2, 2)
      let forgotten = try? Linear(2, 3)
      let stray = try? Tensor.zeros([4])
      var children: [(String, any Module)] { kept.map { [("kept", $0 as any Module)] } ?? [] }
    }
    let problems = Registration.unregistered(Forgetful())
    #expect(problems.count == 2, "\(problems)")
    #expect(problems.contains { $0.hasPrefix("forgotten") } && problems.contains { $0.hasPrefix("stray") }, "\(problems)")
  }
}
