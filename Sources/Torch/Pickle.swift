import Base

/// A restricted reader for Python pickles (protocols 2-5), as written by `torch.save`.
///
/// It never runs code: the only callables it accepts are a fixed allow-list of constructors of
/// tensors, storages and plain containers (`collections.OrderedDict`,
/// `torch._utils._rebuild_tensor(_v2)`, `torch._utils._rebuild_parameter`, the typed storage
/// classes, `_codecs.encode`). Any other global (for example `os.system` or `builtins.eval`),
/// and the object-construction opcodes (`INST`, `OBJ`, `NEWOBJ`), are refused with an error naming
/// what the file asked for.
public indirect enum PickleValue: CustomStringConvertible {
  case none
  case bool(Bool)
  case int(Int)
  /// An integer wider than 64 bits, as little-endian two's-complement bytes.
  case bigInt([UInt8])
  case float(Double)
  case string(String)
  case bytes([UInt8])
  case list([PickleValue])
  case tuple([PickleValue])
  /// Key-value pairs in insertion order.
  case dict([(PickleValue, PickleValue)])
  case storage(StorageRef)
  case tensor(TensorRef)
  /// An allow-listed callable, kept until a REDUCE applies it.
  case global(String)

  public var description: String {
    switch self {
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return "\(i)"
    case .bigInt(let b): return "int(\(b.count) bytes)"
    case .float(let f): return "\(f)"
    case .string(let s): return "'\(s)'"
    case .bytes(let b): return "bytes(\(b.count))"
    case .list(let l): return "[\(l.map(\.description).joined(separator: ", "))]"
    case .tuple(let l): return "(\(l.map(\.description).joined(separator: ", ")))"
    case .dict(let d): return "{\(d.map { "\($0.0): \($0.1)" }.joined(separator: ", "))}"
    case .storage(let s): return "storage(\(s.key), \(s.dtype), \(s.count))"
    case .tensor(let t): return "tensor(\(t.dtype), \(t.shape))"
    case .global(let g): return g
    }
  }

  /// The description cut to about `limit` characters (error messages quote values from files,
  /// which may be large).
  public func summary(limit: Int = 200) -> String {
    var out = ""
    func write(_ v: PickleValue) {
      guard out.count < limit else { return }
      switch v {
      case .list(let l), .tuple(let l):
        let (open, close) = if case .list = v { ("[", "]") } else { ("(", ")") }
        out += open
        for (i, e) in l.enumerated() {
          guard out.count < limit else { break }
          if i > 0 { out += ", " }
          write(e)
        }
        out += close
      case .dict(let d):
        out += "{"
        for (i, e) in d.enumerated() {
          guard out.count < limit else { break }
          if i > 0 { out += ", " }
          write(e.0)
          out += ": "
          write(e.1)
        }
        out += "}"
      case .string(let s): out += "'\(s.prefix(limit))'"
      default: out += v.description
      }
    }
    write(self)
    return out.count > limit ? String(out.prefix(limit)) + "..." : out
  }

  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  public var int: Int? { if case .int(let i) = self { return i } else { return nil } }
  public var double: Double? {
    switch self {
    case .float(let f): return f
    case .int(let i): return Double(i)
    default: return nil
    }
  }
  public var dictItems: [(PickleValue, PickleValue)]? { if case .dict(let d) = self { return d } else { return nil } }

  /// Looks up a string key in a dict value.
  public subscript(key: String) -> PickleValue? {
    guard case .dict(let items) = self else { return nil }
    return items.first { $0.0.string == key }?.1
  }
}

/// A reference to a storage the pickle names by persistent id; its bytes live outside the pickle.
public struct StorageRef {
  public let key: String
  public let dtype: DType
  /// Number of elements.
  public let count: Int
}

/// A tensor view onto a storage.
public struct TensorRef {
  public let storage: StorageRef
  public let offset: Int
  public let shape: [Int]
  public let stride: [Int]
  public var dtype: DType { storage.dtype }
}

/// How big and how deep a value is; every value on the unpickling stack carries it, so that a
/// small hostile pickle cannot build a structure that is exponentially large (a list appended to
/// itself over and over through the memo) or deep enough to exhaust the call stack when it is
/// walked or freed.
private struct Size {
  var nodes = 1
  var depth = 1

  /// The size of this container once `children` are added to it.
  func adding(_ children: [Size]) -> Size {
    var s = self
    for c in children {
      s.nodes = s.nodes &+ c.nodes
      s.depth = Swift.max(s.depth, c.depth + 1)
    }
    return s
  }
}

/// Mutable containers while unpickling (pickle appends to lists and dicts after memoizing them).
private final class Box {
  enum Kind { case list, dict }
  let kind: Kind
  var items: [PickleValue] = []
  var pairs: [(PickleValue, PickleValue)] = []
  var size = Size()
  init(_ kind: Kind) { self.kind = kind }
}

private enum Item {
  case value(PickleValue, Size)
  case box(Box)
  case mark
}

public struct PickleReader {
  static let storageTypes: [String: DType] = [
    "torch.FloatStorage": .float32, "torch.DoubleStorage": .float64, "torch.HalfStorage": .float16,
    "torch.BFloat16Storage": .bfloat16, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
    "torch.ByteStorage": .uint8, "torch.BoolStorage": .bool,
  ]
  static let allowedCallables: Set<String> = [
    "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "_codecs.encode",
  ]
  /// Bounds on one unpickled value: a state dict of a large model has a few thousand nodes and a
  /// depth below 10; Python's own unpickler stops at a recursion depth of about 1,000.
  public static let maxNodes = 1 << 22
  public static let maxDepth = 1000

  let path: String

  /// What the reader resolves and calls, for the fuzz targets that check the allow-list
  /// independently (Fuzz/): `.resolve(name)` for every global it returns, `.call(name)` for every
  /// callable it applies. Nil (no cost) outside them.
  package enum Event {
    case resolve(String)
    case call(String)
  }
  nonisolated(unsafe) package static var observer: ((Event) -> Void)?

  public init(path: String) { self.path = path }

  func fail(_ message: String) -> FileFormatError { FileFormatError(path, message) }

  /// Unpickles one object starting at `reader.offset`, leaving the offset just after STOP.
  package func load(_ reader: inout ByteReader) throws -> PickleValue {
    var stack: [Item] = []
    var memo: [Int: Item] = [:]

    func pop() throws -> Item {
      guard let top = stack.popLast() else { throw fail("corrupt pickle: stack underflow at byte \(reader.offset)") }
      return top
    }
    func popMark() throws -> [Item] {
      guard let m = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
        throw fail("corrupt pickle: no MARK on the stack")
      }
      let items = Array(stack[(m + 1)...])
      stack.removeSubrange(m...)
      return items
    }
    func sized(_ item: Item) throws -> (PickleValue, Size) {
      switch item {
      case .value(let v, let s): return (v, s)
      case .box(let b): return (b.kind == .list ? .list(b.items) : .dict(b.pairs), b.size)
      case .mark: throw fail("corrupt pickle: MARK used as a value")
      }
    }
    func value(_ item: Item) throws -> PickleValue { try sized(item).0 }
    func check(_ s: Size) throws {
      guard s.nodes <= Self.maxNodes, s.nodes > 0, s.depth <= Self.maxDepth else {
        throw fail(
          "pickle structure too large or too deep at byte \(reader.offset) (limits: \(Self.maxNodes) values, depth \(Self.maxDepth)); not a checkpoint this reader accepts"
        )
      }
    }
    func push(_ v: PickleValue) { stack.append(.value(v, Size())) }
    /// A new container of the items' values.
    func container(_ items: [Item], _ make: ([PickleValue]) -> PickleValue) throws -> Item {
      let parts = try items.map(sized)
      let size = Size().adding(parts.map(\.1))
      try check(size)
      return .value(make(parts.map(\.0)), size)
    }
    func add(_ items: [Item], to b: Box) throws {
      let parts = try items.map(sized)
      let size = b.size.adding(parts.map(\.1))
      try check(size)
      b.size = size
      switch b.kind {
      case .list: b.items += parts.map(\.0)
      case .dict:
        for i in stride(from: 0, to: parts.count - 1, by: 2) { b.pairs.append((parts[i].0, parts[i + 1].0)) }
      }
    }

    while true {
      let op = try reader.u8("pickle opcode")
      switch op {
      case 0x80: _ = try reader.u8("protocol")  // PROTO
      case 0x95: reader.offset += 8  // FRAME
      case 0x2e:  // STOP
        return try value(try pop())
      case 0x28: stack.append(.mark)  // MARK
      case 0x4e: push(.none)  // NONE
      case 0x88: push(.bool(true))  // NEWTRUE
      case 0x89: push(.bool(false))  // NEWFALSE
      case 0x4b: push(.int(Int(try reader.u8())))  // BININT1
      case 0x4d: push(.int(try reader.u16()))  // BININT2
      case 0x4a: push(.int(Int(Int32(truncatingIfNeeded: try reader.u32()))))  // BININT
      case 0x8a:  // LONG1
        let n = Int(try reader.u8())
        let raw = Array(try reader.take(n, "LONG1"))
        push(raw.count > 8 ? .bigInt(raw) : .int(littleEndianSigned(raw)))
      case 0x8b:  // LONG4
        let n = try reader.u32()
        let raw = Array(try reader.take(n, "LONG4"))
        push(raw.count > 8 ? .bigInt(raw) : .int(littleEndianSigned(raw)))
      case 0x47:  // BINFLOAT (big-endian double)
        let raw = try reader.take(8, "BINFLOAT")
        var bits: UInt64 = 0
        for b in raw { bits = bits << 8 | UInt64(b) }
        push(.float(Double(bitPattern: bits)))
      case 0x58, 0x54:  // BINUNICODE, BINSTRING (protocol 0-2 byte string)
        let n = try reader.u32()
        push(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self)))
      case 0x8c, 0x55:  // SHORT_BINUNICODE, SHORT_BINSTRING
        let n = Int(try reader.u8())
        push(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self)))
      case 0x8d:  // BINUNICODE8
        let n = try reader.size64("BINUNICODE8 length")
        push(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self)))
      case 0x43:  // SHORT_BINBYTES
        let n = Int(try reader.u8())
        push(.bytes(Array(try reader.take(n, "bytes"))))
      case 0x42:  // BINBYTES
        let n = try reader.u32()
        push(.bytes(Array(try reader.take(n, "bytes"))))
      case 0x8e:  // BINBYTES8
        let n = try reader.size64("BINBYTES8 length")
        push(.bytes(Array(try reader.take(n, "bytes"))))
      case 0x5d: stack.append(.box(Box(.list)))  // EMPTY_LIST
      case 0x7d: stack.append(.box(Box(.dict)))  // EMPTY_DICT
      case 0x29: push(.tuple([]))  // EMPTY_TUPLE
      case 0x85: stack.append(try container([try pop()]) { .tuple($0) })  // TUPLE1
      case 0x86:  // TUPLE2
        let b = try pop()
        let a = try pop()
        stack.append(try container([a, b]) { .tuple($0) })
      case 0x87:  // TUPLE3
        let c = try pop()
        let b = try pop()
        let a = try pop()
        stack.append(try container([a, b, c]) { .tuple($0) })
      case 0x74: stack.append(try container(try popMark()) { .tuple($0) })  // TUPLE
      case 0x6c, 0x64:  // LIST, DICT
        let items = try popMark()
        let box = Box(op == 0x6c ? .list : .dict)
        try add(items, to: box)
        stack.append(.box(box))
      case 0x61, 0x65:  // APPEND, APPENDS
        let items = op == 0x61 ? [try pop()] : try popMark()
        guard case .box(let b) = stack.last, b.kind == .list else { throw fail("corrupt pickle: APPEND to a non-list") }
        try add(items, to: b)
      case 0x73, 0x75:  // SETITEM, SETITEMS
        var items: [Item]
        if op == 0x73 {
          let v = try pop()
          items = [try pop(), v]
        } else {
          items = try popMark()
        }
        guard case .box(let b) = stack.last, b.kind == .dict else { throw fail("corrupt pickle: SETITEM on a non-dict") }
        try add(items, to: b)
      case 0x71: memo[Int(try reader.u8())] = stack.last  // BINPUT
      case 0x72: memo[try reader.u32()] = stack.last  // LONG_BINPUT
      case 0x94: memo[memo.count] = stack.last  // MEMOIZE
      case 0x68, 0x6a:  // BINGET, LONG_BINGET
        let k = op == 0x68 ? Int(try reader.u8()) : try reader.u32()
        guard let v = memo[k] else { throw fail("corrupt pickle: memo key \(k) missing") }
        stack.append(v)
      case 0x63:  // GLOBAL "module\nname\n"
        let module = try readLine(&reader)
        let name = try readLine(&reader)
        push(try global(module, name))
      case 0x93:  // STACK_GLOBAL
        guard case .string(let name) = try value(try pop()), case .string(let module) = try value(try pop()) else {
          throw fail("corrupt pickle: STACK_GLOBAL needs two strings")
        }
        push(try global(module, name))
      case 0x51:  // BINPERSID
        push(.storage(try persistentStorage(try value(try pop()))))
      case 0x52:  // REDUCE
        let args = try value(try pop())
        let callable = try value(try pop())
        stack.append(try reduce(callable, args))
      case 0x62:  // BUILD: only OrderedDict state (a dict of attributes, empty in practice) is accepted
        let state = try value(try pop())
        if case .none = state { break }
        if case .dict(let d) = state, d.isEmpty { break }
        throw fail(
          "refusing BUILD with state \(state.summary()): only tensors, storages and plain containers are allowed")
      case 0x69, 0x6f, 0x81, 0x92:  // INST, OBJ, NEWOBJ, NEWOBJ_EX
        throw fail(
          "refusing to construct an arbitrary object (pickle opcode 0x\(String(op, radix: 16))): only tensors, storages and plain containers are allowed"
        )
      default:
        throw fail("unsupported or unsafe pickle opcode 0x\(String(op, radix: 16)) at byte \(reader.offset - 1)")
      }
    }
  }

  func readLine(_ reader: inout ByteReader) throws -> String {
    var chars: [UInt8] = []
    while true {
      let c = try reader.u8("GLOBAL name")
      if c == 0x0a { break }
      chars.append(c)
      guard chars.count <= 1024 else { throw fail("corrupt pickle: a GLOBAL name longer than 1,024 bytes") }
    }
    return String(decoding: chars, as: UTF8.self)
  }

  func global(_ module: String, _ name: String) throws -> PickleValue {
    let full = "\(module).\(name)"
    if Self.allowedCallables.contains(full) || Self.storageTypes[full] != nil {
      Self.observer?(.resolve(full))
      return .global(full)
    }
    throw fail(
      "refusing to load global '\(full)': this reader accepts only tensors, storages and plain containers, and never runs code from a file"
    )
  }

  func persistentStorage(_ pid: PickleValue) throws -> StorageRef {
    // ('storage', storage_type, key, location, numel[, view_metadata])
    guard case .tuple(let t) = pid, t.count >= 5, t[0].string == "storage", case .global(let type) = t[1],
      let dtype = Self.storageTypes[type], let count = t[4].int
    else {
      throw fail("unsupported persistent id \(pid.summary()): expected ('storage', <torch.*Storage>, key, location, numel)")
    }
    let key: String
    switch t[2] {
    case .string(let s): key = s
    case .int(let i): key = String(i)
    default: throw fail("unsupported storage key \(t[2].summary())")
    }
    if t.count >= 6, case .tuple = t[5] { throw fail("storage views (pre-0.4 checkpoints) are not supported") }
    return StorageRef(key: key, dtype: dtype, count: count)
  }

  private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> Item {
    guard case .global(let name) = callable, case .tuple(let a) = args else {
      throw fail("refusing to call \(callable.summary()) with \(args.summary())")
    }
    switch name {
    case "collections.OrderedDict":
      Self.observer?(.call(name))
      guard a.isEmpty else { throw fail("OrderedDict with constructor arguments is not supported") }
      return .box(Box(.dict))
    case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
      Self.observer?(.call(name))
      guard a.count >= 4, case .storage(let s) = a[0], let offset = a[1].int, case .tuple(let size) = a[2],
        case .tuple(let stride) = a[3]
      else { throw fail("malformed _rebuild_tensor_v2 arguments") }
      let shape = size.compactMap(\.int)
      let strides = stride.compactMap(\.int)
      guard shape.count == size.count, strides.count == stride.count, shape.count == strides.count else {
        throw fail("malformed tensor size or stride")
      }
      return .value(.tensor(TensorRef(storage: s, offset: offset, shape: shape, stride: strides)), Size())
    case "torch._utils._rebuild_parameter":
      Self.observer?(.call(name))
      guard let first = a.first, case .tensor = first else { throw fail("malformed _rebuild_parameter arguments") }
      return .value(first, Size())
    case "_codecs.encode":
      Self.observer?(.call(name))
      guard let s = a.first?.string else { throw fail("malformed _codecs.encode arguments") }
      // latin-1 (what pickle protocol 2 uses for bytes): each code point is one byte.
      return .value(.bytes(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }), Size())
    default:
      throw fail("refusing to call '\(name)'")
    }
  }

  func littleEndianSigned(_ raw: [UInt8]) -> Int {
    if raw.isEmpty { return 0 }
    var v: UInt64 = 0
    for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
    if raw.count < 8, let last = raw.last, last & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(raw.count)) }
    return Int(Int64(bitPattern: v))
  }
}
