// The client side of forkctl: one connection to the daemon, one request at a time, started
// on first use. The CLI is built on it; so can any program that wants processes without
// forking itself.
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

/// Where the daemon's socket is: `FORKCTL_SOCKET`, else `$XDG_RUNTIME_DIR/forkctl/sock`,
/// else `/tmp/forkctl-$UID/sock`.
public func defaultSocketPath() -> String {
  if let s = Sys.environmentValue("FORKCTL_SOCKET"), !s.isEmpty { return s }
  if let d = Sys.environmentValue("XDG_RUNTIME_DIR"), !d.isEmpty { return "\(d)/forkctl/sock" }
  return "/tmp/forkctl-\(Sys.userID)/sock"
}

/// A connection to the daemon.
public struct ForkctlConnection: ~Copyable {
  public let socketPath: String
  private var channel: FrameChannel

  /// Connects to the daemon at `socketPath`, starting one if none answers and `autoStart`.
  public init(socketPath: String = defaultSocketPath(), autoStart: Bool = true) throws(ForkctlError) {
    self.socketPath = socketPath
    channel = FrameChannel(try DaemonStarter.connect(socketPath, autoStart: autoStart))
  }

  deinit { channel.fd.closeQuietly() }

  /// Sends one request with its descriptors and returns the daemon's reply. A `failure`
  /// reply is thrown as `ForkctlError.Code.refused`.
  public mutating func request(_ request: Request, fds: [FileDescriptor] = []) throws(ForkctlError) -> Reply {
    do {
      try channel.send(request.frame(), fds: fds)
    } catch {
      throw ForkctlError(.connectionLost, "cannot send to daemon at \(socketPath): \(Sys.describe(error))", underlying: error)
    }
    let incoming: FrameChannel.Incoming
    do {
      incoming = try channel.receive()
    } catch {
      throw ForkctlError(.connectionLost, "cannot read from daemon at \(socketPath): \(Sys.describe(error))", underlying: error)
    }
    switch incoming {
    case .endOfFile:
      throw ForkctlError(.connectionLost, "daemon at \(socketPath) closed the connection")
    case .violation(let e):
      throw ForkctlError(.connectionLost, "daemon at \(socketPath) broke the protocol: \(e.description)")
    case .frame(let frame, let fds):
      for f in fds { f.closeQuietly() }
      let reply: Reply
      do {
        reply = try Reply(frame)
      } catch {
        throw ForkctlError(.connectionLost, "daemon at \(socketPath) sent a bad reply: \(error.description)")
      }
      if case .failure(let code, let message) = reply {
        throw ForkctlError(.refused(code), String(decoding: message, as: UTF8.self))
      }
      return reply
    }
  }

  private func unexpected(_ r: Reply) -> ForkctlError {
    ForkctlError(.connectionLost, "daemon at \(socketPath) sent an unexpected reply: \(r)")
  }

  /// Forks a new process object from the default template (`new`).
  public mutating func new(name: String = "") throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try created(.new(name: Array(name.utf8)))
  }

  /// Starts a fresh template process (`exec`).
  public mutating func exec(name: String = "") throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try created(.exec(name: Array(name.utf8)))
  }

  /// Forks the process object `ref`, cloning what was sent to it (`fork`).
  public mutating func fork(_ ref: String, name: String = "") throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try created(.fork(ref: Array(ref.utf8), name: Array(name.utf8)))
  }

  private mutating func created(_ r: Request) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    let reply = try request(r)
    guard case .created(let id, let pid) = reply else { throw unexpected(reply) }
    return (id, pid)
  }

  /// Sends descriptors of this process (`send-fd`); each lands on its target in the worker,
  /// or on the next free number when the target is nil.
  public mutating func sendFDs(_ ref: String, _ fds: [(fd: FileDescriptor, target: FDTarget)]) throws(ForkctlError) {
    for (fd, _) in fds where !fd.isOpen {
      throw ForkctlError(.badDescriptor, "cannot send descriptor \(fd.rawValue) to process \(ref): Bad file descriptor", underlying: .badFileDescriptor)
    }
    let reply = try request(.sendFDs(ref: Array(ref.utf8), targets: fds.map(\.target)), fds: fds.map(\.fd))
    guard case .ok = reply else { throw unexpected(reply) }
  }

  /// Sends octet strings (`send-arg`).
  public mutating func sendArguments(_ ref: String, _ arguments: [[UInt8]]) throws(ForkctlError) {
    let reply = try request(.sendArgs(ref: Array(ref.utf8), arguments: arguments))
    guard case .ok = reply else { throw unexpected(reply) }
  }

  /// Makes the process object run `spec` (`run`). Returns once the program has started, or,
  /// with `spec.waitForExit`, ended (then with its status).
  public mutating func run(_ ref: String, _ spec: RunSpec, workingDirectory: FileDescriptor? = nil) throws(ForkctlError) -> ExitStatus? {
    var spec = spec
    spec.hasWorkingDirectory = workingDirectory != nil
    let reply = try request(.run(ref: Array(ref.utf8), spec: spec), fds: workingDirectory.map { [$0] } ?? [])
    switch reply {
    case .ok: return nil
    case .statuses(let list) where list.count == 1: return list[0].status
    default: throw unexpected(reply)
    }
  }

  /// Waits until every process object in `refs` has ended; their statuses in order.
  public mutating func wait(_ refs: [String]) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    let reply = try request(.wait(refs: refs.map { Array($0.utf8) }))
    guard case .statuses(let list) = reply else { throw unexpected(reply) }
    return list
  }

  /// Sends `signal` to each process object.
  public mutating func kill(_ refs: [String], signal: Int32) throws(ForkctlError) {
    let reply = try request(.kill(signal: signal, refs: refs.map { Array($0.utf8) }))
    guard case .ok = reply else { throw unexpected(reply) }
  }

  /// Every process object the daemon knows.
  public mutating func list() throws(ForkctlError) -> [ProcessInfo] {
    let reply = try request(.list)
    guard case .listing(let l) = reply else { throw unexpected(reply) }
    return l
  }

  /// Stops the daemon.
  public mutating func shutdown() throws(ForkctlError) {
    let reply = try request(.shutdown)
    guard case .ok = reply else { throw unexpected(reply) }
  }
}
