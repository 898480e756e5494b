import Foundation

/// The fields in which two values differ, as dotted paths of their JSON encodings
/// (`selection.hybrid.switchAt`), each with both values when they are short scalars
/// (`data.holdout (5000 vs 1000)`). Arrays are compared whole. The one comparison behind every
/// "this folder holds other settings" message.
public func differingFields<T: Encodable>(_ a: T, _ b: T) -> [String] {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys]
  func flat(_ value: T) -> [String: String] {
    guard let data = try? encoder.encode(value),
      let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    else { return [:] }
    var out: [String: String] = [:]
    func walk(_ v: Any, _ path: String) {
      if let d = v as? [String: Any] {
        for (k, x) in d { walk(x, path.isEmpty ? k : path + "." + k) }
      } else if v is NSNull {
        return  // absent and null are the same field
      } else {
        let text =
          (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]))
          .flatMap { String(data: $0, encoding: .utf8) } ?? "\(v)"
        out[path.isEmpty ? "value" : path] = text
      }
    }
    walk(object, "")
    return out
  }
  let (x, y) = (flat(a), flat(b))
  return Set(x.keys).union(y.keys).sorted().compactMap { key in
    let (u, v) = (x[key], y[key])
    guard u != v else { return nil }
    let scalar = { (s: String?) in s.map { !$0.hasPrefix("[") && !$0.hasPrefix("{") && $0.count <= 40 } ?? true }
    guard scalar(u), scalar(v) else { return key }
    return "\(key) (\(u ?? "none") vs \(v ?? "none"))"
  }
}
