import ForkctlSys
import ForkctlWire

/// A failure of forkctl itself (not of a worker), with what failed and why.
public struct ForkctlError: Error, CustomStringConvertible, Sendable {
  /// What kind of failure. A struct over a hidden enum, as swift-subprocess's
  /// `SubprocessError.Code`, so that a kind added later breaks no switch in a caller.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    enum Storage: Hashable, Sendable {
      case daemonUnavailable, connectionLost, refused, badDescriptor, interrupted, interpreterNotFound
    }

    let storage: Storage

    init(_ storage: Storage) { self.storage = storage }

    /// The daemon could not be reached or started.
    public static var daemonUnavailable: Self { .init(.daemonUnavailable) }
    /// The daemon broke the protocol or closed the connection.
    public static var connectionLost: Self { .init(.connectionLost) }
    /// The daemon refused the request; `ForkctlError.refusal` says why.
    public static var refused: Self { .init(.refused) }
    /// A descriptor to send is not open in this process.
    public static var badDescriptor: Self { .init(.badDescriptor) }
    /// A signal ended the wait before the program ran (`SignalForwarding.interruption`).
    public static var interrupted: Self { .init(.interrupted) }
    /// A language host's interpreter is not an executable file, or not in PATH.
    public static var interpreterNotFound: Self { .init(.interpreterNotFound) }

    public var description: String { "\(storage)" }
  }

  public var code: Code
  /// The daemon's reason when `code` is `.refused`, possibly one this library has no name
  /// for (from a newer daemon; its `message` says what it means); nil otherwise.
  public var refusal: ErrorCode?
  public var message: String
  public var underlying: Errno?

  public init(_ code: Code, _ message: String, underlying: Errno? = nil) {
    self.code = code
    self.message = message
    self.underlying = underlying
  }

  /// The daemon refused with `refusal` and said `message`.
  public init(refusal: ErrorCode, _ message: String) {
    self.init(.refused, message)
    self.refusal = refusal
  }

  public var description: String { message }
}
