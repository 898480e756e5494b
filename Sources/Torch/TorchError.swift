import CTorch

/// An error raised by libtorch (through the C shim) or by overinterp's Swift tensor layer.
///
/// `message` carries libtorch's own text (for a shape mismatch, the sizes it saw), so callers can
/// print it to users as it is.
public struct TorchError: Error, CustomStringConvertible, Equatable, Sendable {
  public let message: String

  public init(_ message: String) { self.message = message }

  public var description: String { message }

  /// Reads and clears the shim's thread-local error slot.
  static func last() -> TorchError {
    let message = ot_last_error().map { String(cString: $0) } ?? "libtorch call failed without a message"
    ot_clear_error()
    return TorchError(message)
  }
}

/// Turns a nullable handle from the shim into an owned tensor, or throws the shim's error.
@inline(__always)
func owned(_ handle: OpaquePointer?) throws(TorchError) -> Tensor {
  guard let handle else { throw TorchError.last() }
  return Tensor(owning: handle)
}

/// Throws the shim's error when a status-returning call failed.
@inline(__always)
func checked(_ status: Int32) throws(TorchError) {
  if status < 0 { throw TorchError.last() }
}
