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

/// Mutable containers while unpickling (pickle appends to lists and dicts after memoizing them).
private final class Box {
  enum Kind { case list, dict }
  let kind: Kind
  var items: [PickleValue] = []
  var pairs: [(PickleValue, PickleValue)] = []
  init(_ kind: Kind) { self.kind = kind }
}

private enum Item {
  case value(PickleValue)
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

  let path: String

  public init(path: String) { self.path = path }

  func fail(_ message: String) -> FileFormatError { FileFormatError(path, message) }

  /// Unpickles one object starting at `reader.offset`, leaving the offset just after STOP.
  func load(_ reader: inout ByteReader) throws -> PickleValue {
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
    func value(_ item: Item) throws -> PickleValue {
      switch item {
      case .value(let v): return v
      case .box(let b): return b.kind == .list ? .list(b.items) : .dict(b.pairs)
      case .mark: throw fail("corrupt pickle: MARK used as a value")
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
      case 0x4e: stack.append(.value(.none))  // NONE
      case 0x88: stack.append(.value(.bool(true)))  // NEWTRUE
      case 0x89: stack.append(.value(.bool(false)))  // NEWFALSE
      case 0x4b: stack.append(.value(.int(Int(try reader.u8()))))  // BININT1
      case 0x4d: stack.append(.value(.int(try reader.u16())))  // BININT2
      case 0x4a: stack.append(.value(.int(Int(Int32(truncatingIfNeeded: try reader.u32())))))  // BININT
      case 0x8a:  // LONG1
        let n = Int(try reader.u8())
        let raw = Array(try reader.take(n, "LONG1"))
        stack.append(.value(raw.count > 8 ? .bigInt(raw) : .int(littleEndianSigned(raw))))
      case 0x8b:  // LONG4
        let n = try reader.u32()
        let raw = Array(try reader.take(n, "LONG4"))
        stack.append(.value(raw.count > 8 ? .bigInt(raw) : .int(littleEndianSigned(raw))))
      case 0x47:  // BINFLOAT (big-endian double)
        let raw = try reader.take(8, "BINFLOAT")
        var bits: UInt64 = 0
        for b in raw { bits = bits << 8 | UInt64(b) }
        stack.append(.value(.float(Double(bitPattern: bits))))
      case 0x58:  // BINUNICODE
        let n = try reader.u32()
        stack.append(.value(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self))))
      case 0x8c:  // SHORT_BINUNICODE
        let n = Int(try reader.u8())
        stack.append(.value(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self))))
      case 0x8d:  // BINUNICODE8
        let n = Int(try reader.u64())
        stack.append(.value(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self))))
      case 0x43:  // SHORT_BINBYTES
        let n = Int(try reader.u8())
        stack.append(.value(.bytes(Array(try reader.take(n, "bytes")))))
      case 0x42:  // BINBYTES
        let n = try reader.u32()
        stack.append(.value(.bytes(Array(try reader.take(n, "bytes")))))
      case 0x8e:  // BINBYTES8
        let n = Int(try reader.u64())
        stack.append(.value(.bytes(Array(try reader.take(n, "bytes")))))
      case 0x54:  // BINSTRING (protocol 0-2 byte string)
        let n = try reader.u32()
        stack.append(.value(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self))))
      case 0x55:  // SHORT_BINSTRING
        let n = Int(try reader.u8())
        stack.append(.value(.string(String(decoding: try reader.take(n, "string"), as: UTF8.self))))
      case 0x5d: stack.append(.box(Box(.list)))  // EMPTY_LIST
      case 0x7d: stack.append(.box(Box(.dict)))  // EMPTY_DICT
      case 0x29: stack.append(.value(.tuple([])))  // EMPTY_TUPLE
      case 0x85: stack.append(.value(.tuple([try value(try pop())])))  // TUPLE1
      case 0x86:  // TUPLE2
        let b = try value(try pop())
        let a = try value(try pop())
        stack.append(.value(.tuple([a, b])))
      case 0x87:  // TUPLE3
        let c = try value(try pop())
        let b = try value(try pop())
        let a = try value(try pop())
        stack.append(.value(.tuple([a, b, c])))
      case 0x74: stack.append(.value(.tuple(try popMark().map(value))))  // TUPLE
      case 0x6c:  // LIST
        let box = Box(.list)
        box.items = try popMark().map(value)
        stack.append(.box(box))
      case 0x64:  // DICT
        let items = try popMark().map(value)
        let box = Box(.dict)
        for i in stride(from: 0, to: items.count - 1, by: 2) { box.pairs.append((items[i], items[i + 1])) }
        stack.append(.box(box))
      case 0x61:  // APPEND
        let v = try value(try pop())
        guard case .box(let b) = stack.last, b.kind == .list else { throw fail("corrupt pickle: APPEND to a non-list") }
        b.items.append(v)
      case 0x65:  // APPENDS
        let items = try popMark().map(value)
        guard case .box(let b) = stack.last, b.kind == .list else { throw fail("corrupt pickle: APPENDS to a non-list") }
        b.items += items
      case 0x73:  // SETITEM
        let v = try value(try pop())
        let k = try value(try pop())
        guard case .box(let b) = stack.last, b.kind == .dict else { throw fail("corrupt pickle: SETITEM on a non-dict") }
        b.pairs.append((k, v))
      case 0x75:  // SETITEMS
        let items = try popMark().map(value)
        guard case .box(let b) = stack.last, b.kind == .dict else { throw fail("corrupt pickle: SETITEMS on a non-dict") }
        for i in stride(from: 0, to: items.count - 1, by: 2) { b.pairs.append((items[i], items[i + 1])) }
      case 0x71: memo[Int(try reader.u8())] = stack.last  // BINPUT
      case 0x72: memo[try reader.u32()] = stack.last  // LONG_BINPUT
      case 0x94: memo[memo.count] = stack.last  // MEMOIZE
      case 0x68:  // BINGET
        let k = Int(try reader.u8())
        guard let v = memo[k] else { throw fail("corrupt pickle: memo key \(k) missing") }
        stack.append(v)
      case 0x6a:  // LONG_BINGET
        let k = try reader.u32()
        guard let v = memo[k] else { throw fail("corrupt pickle: memo key \(k) missing") }
        stack.append(v)
      case 0x63:  // GLOBAL "module\nname\n"
        let module = try readLine(&reader)
        let name = try readLine(&reader)
        stack.append(.value(try global(module, name)))
      case 0x93:  // STACK_GLOBAL
        guard case .string(let name) = try value(try pop()), case .string(let module) = try value(try pop()) else {
          throw fail("corrupt pickle: STACK_GLOBAL needs two strings")
        }
        stack.append(.value(try global(module, name)))
      case 0x51:  // BINPERSID
        stack.append(.value(.storage(try persistentStorage(try value(try pop())))))
      case 0x52:  // REDUCE
        let args = try value(try pop())
        let callable = try value(try pop())
        stack.append(try reduce(callable, args))
      case 0x62:  // BUILD: only OrderedDict state (a dict of attributes, empty in practice) is accepted
        let state = try value(try pop())
        if case .none = state { break }
        if case .dict(let d) = state, d.isEmpty { break }
        throw fail("refusing BUILD with state \(state): only tensors, storages and plain containers are allowed")
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
    }
    return String(decoding: chars, as: UTF8.self)
  }

  func global(_ module: String, _ name: String) throws -> PickleValue {
    let full = "\(module).\(name)"
    if Self.allowedCallables.contains(full) || Self.storageTypes[full] != nil { return .global(full) }
    throw fail(
      "refusing to load global '\(full)': this reader accepts only tensors, storages and plain containers, and never runs code from a file"
    )
  }

  func persistentStorage(_ pid: PickleValue) throws -> StorageRef {
    // ('storage', storage_type, key, location, numel[, view_metadata])
    guard case .tuple(let t) = pid, t.count >= 5, t[0].string == "storage", case .global(let type) = t[1],
      let dtype = Self.storageTypes[type], let count = t[4].int
    else {
      throw fail("unsupported persistent id \(pid): expected ('storage', <torch.*Storage>, key, location, numel)")
    }
    let key: String
    switch t[2] {
    case .string(let s): key = s
    case .int(let i): key = String(i)
    default: throw fail("unsupported storage key \(t[2])")
    }
    if t.count >= 6, case .tuple = t[5] { throw fail("storage views (pre-0.4 checkpoints) are not supported") }
    return StorageRef(key: key, dtype: dtype, count: count)
  }

  private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> Item {
    guard case .global(let name) = callable, case .tuple(let a) = args else {
      throw fail("refusing to call \(callable) with \(args)")
    }
    switch name {
    case "collections.OrderedDict":
      guard a.isEmpty else { throw fail("OrderedDict with constructor arguments is not supported") }
      return .box(Box(.dict))
    case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
      guard a.count >= 4, case .storage(let s) = a[0], let offset = a[1].int, case .tuple(let size) = a[2],
        case .tuple(let stride) = a[3]
      else { throw fail("malformed _rebuild_tensor_v2 arguments") }
      let shape = size.compactMap(\.int)
      let strides = stride.compactMap(\.int)
      guard shape.count == size.count, strides.count == stride.count, shape.count == strides.count else {
        throw fail("malformed tensor size or stride")
      }
      return .value(.tensor(TensorRef(storage: s, offset: offset, shape: shape, stride: strides)))
    case "torch._utils._rebuild_parameter":
      guard let first = a.first, case .tensor = first else { throw fail("malformed _rebuild_parameter arguments") }
      return .value(first)
    case "_codecs.encode":
      guard let s = a.first?.string else { throw fail("malformed _codecs.encode arguments") }
      // latin-1 (what pickle protocol 2 uses for bytes): each code point is one byte.
      return .value(.bytes(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }))
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
