import CSQLite
import Foundation

/// A small SQLite wrapper: every statement is prepared and its values are bound as parameters
/// (no SQL is ever built from input). One connection per instance; not shared across threads
/// without the caller's lock.
public final class Database: @unchecked Sendable {
  public enum Value: Equatable, Sendable {
    case int(Int)
    case double(Double)
    case text(String)
    case null

    public var int: Int? { if case .int(let v) = self { return v } else { return nil } }
    public var double: Double? {
      switch self {
      case .double(let v): return v
      case .int(let v): return Double(v)
      default: return nil
      }
    }
    public var text: String? { if case .text(let v) = self { return v } else { return nil } }
  }

  public struct Failure: Error, CustomStringConvertible {
    public let description: String
    /// SQLite's primary result code (e.g. SQLITE_CONSTRAINT = 19).
    public let code: Int32
  }

  let handle: OpaquePointer
  public let path: String
  private let lock = NSLock()

  public init(path: String) throws {
    var db: OpaquePointer?
    let status = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
    guard status == SQLITE_OK, let db else {
      let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
      if let db { sqlite3_close(db) }
      throw Failure(description: "\(path): \(message)", code: status)
    }
    handle = db
    self.path = path
    sqlite3_busy_timeout(db, 5000)
    try execute("PRAGMA journal_mode = WAL")
    try execute("PRAGMA synchronous = FULL")
  }

  deinit { sqlite3_close(handle) }

  private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

  /// Runs one statement with bound parameters and returns its rows.
  @discardableResult
  public func execute(_ sql: String, _ parameters: [Value] = []) throws -> [[Value]] {
    lock.lock()
    defer { lock.unlock() }
    var statement: OpaquePointer?
    guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
      throw Failure(description: "\(path): \(String(cString: sqlite3_errmsg(handle)))", code: sqlite3_errcode(handle))
    }
    defer { sqlite3_finalize(statement) }
    for (i, p) in parameters.enumerated() {
      let index = Int32(i + 1)
      switch p {
      case .int(let v): sqlite3_bind_int64(statement, index, Int64(v))
      case .double(let v): sqlite3_bind_double(statement, index, v)
      case .text(let v): sqlite3_bind_text(statement, index, v, -1, Self.transient)
      case .null: sqlite3_bind_null(statement, index)
      }
    }
    var rows: [[Value]] = []
    while true {
      let status = sqlite3_step(statement)
      if status == SQLITE_DONE { break }
      guard status == SQLITE_ROW else {
        throw Failure(description: "\(path): \(String(cString: sqlite3_errmsg(handle)))", code: status & 0xff)
      }
      let columns = sqlite3_column_count(statement)
      rows.append(
        (0..<columns).map { c in
          switch sqlite3_column_type(statement, c) {
          case SQLITE_INTEGER: return .int(Int(sqlite3_column_int64(statement, c)))
          case SQLITE_FLOAT: return .double(sqlite3_column_double(statement, c))
          case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(statement, c)))
          default: return .null
          }
        })
    }
    return rows
  }
}
