import ForkctlSys
import ForkctlWire

/// A failure of forkctl itself (not of a worker), with what failed and why.
public struct ForkctlError: Error, CustomStringConvertible, Sendable {
  public enum Code: Sendable, Equatable {
    /// The daemon could not be reached or started.
    case daemonUnavailable
    /// The daemon broke the protocol or closed the connection.
    case connectionLost
    /// The daemon refused the request.
    case refused(ErrorCode)
    /// A descriptor to send is not open in this process.
    case badDescriptor
  }
  public var code: Code
  public var message: String
  public var underlying: Errno?

  public init(_ code: Code, _ message: String, underlying: Errno? = nil) {
    self.code = code
    self.message = message
    self.underlying = underlying
  }

  public var description: String { message }
}
