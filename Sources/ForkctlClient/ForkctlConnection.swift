// The client side of forkctl: one connection to the daemon, one request at a time, started
// on first use. The CLI is built on it; so can any program that wants processes without
// forking itself.
import ForkctlSys
import ForkctlWire

/// Where the daemon's socket is: `FORKCTL_SOCKET`, else `$XDG_RUNTIME_DIR/forkctl/sock`,
/// else `/tmp/forkctl-$UID/sock`, unless another user took `/tmp/forkctl-$UID` first (a
/// directory not ours, or a symbolic link: anyone may create it in the sticky /tmp), then
/// `$HOME/.forkctl/sock`, in a directory nobody else can write (issue 11, item 13).
public func defaultSocketPath() -> String {
  if let s = Sys.environmentValue("FORKCTL_SOCKET"), !s.isEmpty { return s }
  if let d = Sys.environmentValue("XDG_RUNTIME_DIR"), !d.isEmpty { return "\(d)/forkctl/sock" }
  let shared = sharedSocketDirectory
  if let status = try? Sys.linkStatus(shared), !status.isDirectory || status.owner != Sys.userID,
    let home = Sys.environmentValue("HOME"), home.hasPrefix("/")
  {
    return "\(home)/.forkctl/sock"
  }
  return "\(shared)/sock"
}

/// The default socket's directory without XDG_RUNTIME_DIR, which any user can create first.
var sharedSocketDirectory: String { "/tmp/forkctl-\(Sys.userID)" }

/// How long a client waits for the daemon (to accept its connection, to start, to answer a
/// request that does not wait for a program to end), in ms, -1 for ever: `FORKCTL_TIMEOUT`
/// seconds (0: for ever), else `ForkctlConnection.defaultTimeoutMilliseconds`.
public func timeoutFromEnvironment() throws(ForkctlError) -> Int32 {
  guard let text = Sys.environmentValue("FORKCTL_TIMEOUT"), !text.isEmpty else {
    return ForkctlConnection.defaultTimeoutMilliseconds
  }
  guard let seconds = Double(text), seconds >= 0, seconds <= 86400 else {
    throw ForkctlError(.daemonUnavailable, "FORKCTL_TIMEOUT=\(text) is not a number of seconds from 0 to 86400")
  }
  return seconds == 0 ? -1 : max(1, Int32(seconds * 1000))
}

/// One connection to the daemon, one request at a time: not for sharing between threads
/// (`ForkctlClient` is). Closing it (its end of life) abandons what it was waiting for, and
/// ends a program it spawned without `detach`.
public struct ForkctlConnection: ~Copyable, Sendable {
  /// The bound when FORKCTL_TIMEOUT is not set: longer than the daemon's own bound on a
  /// template's answer (`forkctl daemon --template-timeout`), so that its clearer error
  /// comes first.
  public static let defaultTimeoutMilliseconds: Int32 = 30_000

  public let socketPath: String
  /// How long a reply that does not wait for a program may take, in ms; -1: for ever.
  public let timeoutMilliseconds: Int32
  var channel: FrameChannel
  private var owned = true

  /// Connects to the daemon at `socketPath`, starting one if none answers and `autoStart`
  /// with `daemonExecutable` (by default $FORKCTL_EXECUTABLE, else forkctl in $PATH).
  /// `timeoutMilliseconds` (by default `timeoutFromEnvironment()`, -1: for ever) bounds
  /// the connect, the start and each reply that does not wait for a program to end.
  public init(
    socketPath: String = defaultSocketPath(), autoStart: Bool = true, daemonExecutable: String? = nil,
    timeoutMilliseconds: Int32? = nil
  ) throws(ForkctlError) {
    let bound = try Self.bound(timeoutMilliseconds)
    let fd = try DaemonStarter.connect(
      socketPath, autoStart: autoStart, executable: daemonExecutable, timeoutMilliseconds: bound)
    self.socketPath = socketPath
    self.timeoutMilliseconds = bound
    channel = FrameChannel(fd)
  }

  private static func bound(_ given: Int32?) throws(ForkctlError) -> Int32 {
    if let given { return given }
    return try timeoutFromEnvironment()
  }

  /// Takes over an open connection to the daemon at `socketPath`, between requests.
  public init(adopting fd: FileDescriptor, socketPath: String, timeoutMilliseconds: Int32? = nil) {
    self.socketPath = socketPath
    self.timeoutMilliseconds =
      timeoutMilliseconds ?? (try? timeoutFromEnvironment()) ?? Self.defaultTimeoutMilliseconds
    channel = FrameChannel(fd)
  }

  deinit { if owned { channel.fd.closeQuietly() } }

  /// The socket, for sending `signal` frames from another thread while this one waits.
  public var descriptor: FileDescriptor { channel.fd }

  /// Gives up the socket without closing it (between requests), for `init(adopting:)`.
  public mutating func release() -> FileDescriptor {
    owned = false
    return channel.fd
  }

  /// Sends one request with its descriptors and returns the daemon's reply. A `failure`
  /// reply is thrown as `ForkctlError.Code.refused`.
  public mutating func request(_ request: Request, fds: [FileDescriptor] = []) throws(ForkctlError) -> Reply {
    try send(request, fds: fds)
    return try receiveReply().reply
  }

  mutating func send(_ request: Request, fds: [FileDescriptor] = []) throws(ForkctlError) {
    try send(request.frame(), fds: fds)
  }

  private mutating func send(_ frame: Frame, fds: [FileDescriptor]) throws(ForkctlError) {
    do {
      try channel.send(frame, fds: fds)
    } catch {
      // A daemon that refuses a connection (SO_PEERCRED, --max-connections) replies before
      // any request and closes it; a request sent after that close fails with EPIPE (or
      // ECONNRESET) while the refusal still waits in the receive queue: report it.
      if error == .brokenPipe || error == .connectionReset,
        case .frame(let frame, let received)? = try? channel.receive()
      {
        for f in received { f.closeQuietly() }
        if case .failure(let code, let message)? = try? Reply(frame) {
          throw ForkctlError(refusal: code, String(decoding: message, as: UTF8.self))
        }
      }
      throw ForkctlError(
        .connectionLost, "cannot send to daemon at \(socketPath): \(Sys.describe(error))", underlying: error)
    }
  }

  /// The next reply, with the descriptor a `created` reply to a spawn may carry (the
  /// caller's to close). Unless `bounded` is false (a reply that waits for a program to
  /// end), it must come within `timeoutMilliseconds`; with `interruptible`, a signal that
  /// ends a wait before the program runs ends this one (`SignalForwarding.interruption`).
  mutating func receiveReply(
    bounded: Bool = true, interruptible: SignalForwarding? = nil
  ) throws(ForkctlError) -> (reply: Reply, fds: [FileDescriptor]) {
    try awaitAnswer(within: bounded ? timeoutMilliseconds : -1, interruptible: interruptible)
    let incoming: FrameChannel.Incoming
    do {
      incoming = try channel.receive()
    } catch  where error == .wouldBlock {
      // SO_RCVTIMEO (setTimeouts) ran out in the middle of a frame.
      throw notAnswering(underlying: error)
    } catch {
      throw ForkctlError(
        .connectionLost, "cannot read from daemon at \(socketPath): \(Sys.describe(error))", underlying: error)
    }
    switch incoming {
    case .endOfFile:
      throw ForkctlError(.connectionLost, "daemon at \(socketPath) closed the connection")
    case .violation(.unsupportedVersion(let version)):
      // A daemon of another forkctl answers in its own protocol version, which the header's
      // first byte carries (forkctl-protocol(7), FRAMES); the two sides cannot talk.
      throw ForkctlError(
        .connectionLost,
        "daemon at \(socketPath) speaks protocol version \(version), and this client version "
          + "\(WireLimits.version): stop it with the forkctl it came with, or use that forkctl")
    case .violation(let e):
      throw ForkctlError(.connectionLost, "daemon at \(socketPath) broke the protocol: \(e.description)")
    case .frame(let frame, let fds):
      let reply: Reply
      do {
        reply = try Reply(frame)
      } catch {
        for f in fds { f.closeQuietly() }
        throw ForkctlError(.connectionLost, "daemon at \(socketPath) sent a bad reply: \(error.description)")
      }
      if case .failure(let code, let message) = reply {
        for f in fds { f.closeQuietly() }
        throw ForkctlError(refusal: code, String(decoding: message, as: UTF8.self))
      }
      return (reply, fds)
    }
  }

  /// Waits until a reply starts to arrive, for at most `ms` (-1: for ever), or until
  /// `interruptible` catches a signal that ends the wait.
  private func awaitAnswer(within ms: Int32, interruptible: SignalForwarding?) throws(ForkctlError) {
    let deadline = ms < 0 ? nil : Sys.monotonicMilliseconds() + Int64(ms)
    let watched = [channel.fd] + (interruptible.map { [$0.descriptor.fd] } ?? [])
    while true {
      let left = deadline.map { Int32(clamping: max(0, $0 - Sys.monotonicMilliseconds())) } ?? -1
      let ready: [Bool]
      do {
        ready = try Sys.waitReadable(watched, timeoutMilliseconds: left)
      } catch {
        throw ForkctlError(.connectionLost, "cannot wait for the daemon: \(Sys.describe(error))", underlying: error)
      }
      if ready[0] { return }
      if let interruptible, ready[1] {
        if let signal = interruptible.takeInterruption() {
          throw ForkctlError(.interrupted, "interrupted by \(signal) before the program ran")
        }
        continue
      }
      throw notAnswering(underlying: nil)
    }
  }

  private func notAnswering(underlying: Errno?) -> ForkctlError {
    ForkctlError(
      .daemonUnavailable,
      "daemon at \(socketPath) did not answer within \(Self.seconds(timeoutMilliseconds)) s "
        + "(is it stopped? FORKCTL_TIMEOUT sets this bound)", underlying: underlying)
  }

  /// `ms` in seconds as people write them: `30` for 30000, `2.5` for 2500.
  static func seconds(_ ms: Int32) -> String {
    ms % 1000 == 0 ? String(ms / 1000) : String(Double(ms) / 1000)
  }

  func unexpected(_ r: Reply) -> ForkctlError {
    ForkctlError(.connectionLost, "daemon at \(socketPath) sent an unexpected reply: \(r)")
  }

  /// Forks a new process object from the default template (`new`).
  public mutating func new(name: String = "") throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try created(.new(name: Array(name.utf8)))
  }

  /// Starts a fresh template process (`exec`): the template image, or with `host` a language
  /// host (HostSpec.resolving makes one).
  public mutating func exec(name: String = "", host: HostSpec? = nil) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try created(.exec(name: Array(name.utf8), host: host))
  }

  /// Forks the process object `ref`, cloning what was sent to it (`fork`).
  public mutating func fork(_ ref: String, name: String = "") throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try created(.fork(ref: Array(ref.utf8), name: Array(name.utf8)))
  }

  private mutating func created(_ r: Request) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    let reply = try request(r)
    guard case .created(let id, let pid, _) = reply else { throw unexpected(reply) }
    return (id, pid)
  }

  /// Sends descriptors of this process (`send-fd`); each lands on its target in the worker,
  /// or on the next free number when the target is nil.
  public mutating func sendFDs(_ ref: String, _ fds: [(fd: FileDescriptor, target: FDTarget)]) throws(ForkctlError) {
    try checkSendable(fds.map(\.fd), room: WireLimits.maxFDsPerFrame)
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
  public mutating func run(_ ref: String, _ spec: RunSpec, workingDirectory: FileDescriptor? = nil) throws(ForkctlError)
    -> ExitStatus?
  {
    try run(ref, spec, workingDirectory: workingDirectory, forwarding: nil)
  }

  /// `run`; with `spec.waitForExit`, the signals `forwarding` catches meanwhile go to the
  /// program. `attributes` are applied in the program before exec, as with `spawn`. With
  /// `detach` (not with `spec.waitForExit`) nobody will wait: the daemon forgets the process
  /// object once it has exited.
  public mutating func run(
    _ ref: String, _ spec: RunSpec, workingDirectory: FileDescriptor? = nil, forwarding: SignalForwarding?,
    attributes: ProcessAttributes? = nil, detach: Bool = false
  ) throws(ForkctlError) -> ExitStatus? {
    var spec = spec
    spec.hasWorkingDirectory = workingDirectory != nil
    let frame = try sendable(
      .run(ref: Array(ref.utf8), spec: spec, attributes: attributes, detach: detach), spec)
    try send(frame, fds: workingDirectory.map { [$0] } ?? [])
    do throws(ForkctlError) {
      if !spec.waitForExit {
        let reply = try receiveReply().reply
        guard case .ok = reply else { throw unexpected(reply) }
        return nil
      }
      return try awaitStatus(forwarding: forwarding)
    } catch {
      throw naming(workingDirectory, in: error)
    }
  }

  /// Forks from `from` (nil: the default template) and runs `spec` with `fds` on their
  /// targets, in one request. Returns once the program runs; then `awaitStatus` gives its
  /// status. Unless `detach`, the program is sent SIGTERM (and SIGKILL after a grace
  /// period) if this connection closes before it ends. `attributes` (usually
  /// `Inherited.attributes()`) are applied in the program before exec; nil leaves it those of
  /// the template, which are the daemon's.
  public mutating func spawn(
    _ spec: RunSpec, fds: [(fd: FileDescriptor, target: FDTarget)], workingDirectory: FileDescriptor? = nil,
    from: String? = nil, name: String = "", detach: Bool = false, attributes: ProcessAttributes? = nil
  ) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    let started = try spawn(
      spec, fds: fds, workingDirectory: workingDirectory, from: from, name: name, detach: detach, wantsPIDFD: false,
      attributes: attributes)
    return (started.id, started.pid)
  }

  /// `spawn`, also returning a pidfd of the program when `wantsPIDFD` and the kernel has
  /// them: the daemon opens it before it can reap the program, so it is never another
  /// process's. The caller owns it.
  public mutating func spawn(
    _ spec: RunSpec, fds: [(fd: FileDescriptor, target: FDTarget)], workingDirectory: FileDescriptor? = nil,
    from: String? = nil, name: String = "", detach: Bool = false, wantsPIDFD: Bool,
    attributes: ProcessAttributes? = nil, forwarding: SignalForwarding? = nil
  ) throws(ForkctlError) -> (id: UInt64, pid: Int32, pidfd: FileDescriptor?) {
    var spec = spec
    spec.hasWorkingDirectory = workingDirectory != nil
    spec.waitForExit = false
    try checkSendable(fds.map(\.fd), room: WireLimits.maxFDsPerFrame - (workingDirectory == nil ? 0 : 1))
    let request = SpawnRequest(
      from: Array((from ?? "").utf8), name: Array(name.utf8), targets: fds.map(\.target), spec: spec,
      detach: detach, wantsPIDFD: wantsPIDFD, attributes: attributes)
    try send(try sendable(.spawn(request), spec), fds: fds.map(\.fd) + (workingDirectory.map { [$0] } ?? []))
    let (reply, received): (Reply, [FileDescriptor])
    do throws(ForkctlError) {
      (reply, received) = try receiveReply(interruptible: forwarding)
    } catch {
      throw naming(workingDirectory, in: error)
    }
    guard case .created(let id, let pid, _) = reply else {
      for f in received { f.closeQuietly() }
      throw unexpected(reply)
    }
    // The program runs now: what was caught while it did not is its.
    if let forwarding {
      for signal in forwarding.takeEarly() { try forward(signal) }
    }
    return (id, pid, received.first)
  }

  /// Refuses descriptors the daemon must not be sent, before anything is: more than `room`,
  /// one that is not open, or this connection itself, which in a program would keep the
  /// connection open after this process died and so defeat the kill on disconnect.
  private func checkSendable(_ fds: [FileDescriptor], room: Int) throws(ForkctlError) {
    if fds.count > room {
      throw ForkctlError(
        .badDescriptor, "cannot pass \(fds.count) descriptors: one request carries at most \(room)")
    }
    for fd in fds {
      if fd.rawValue == channel.fd.rawValue {
        throw ForkctlError(.badDescriptor, "descriptor \(fd.rawValue) is forkctl's own connection to the daemon")
      }
      if !fd.isOpen { throw ForkctlError.notOpen(fd.rawValue) }
    }
  }

  /// The frame of `request`, which starts `spec`, refused here with what the caller did and
  /// the limit where the daemon would refuse it as a protocol error (forkctl-protocol(7)):
  /// an environment entry that is not NAME=VALUE, or more strings or bytes than one request
  /// carries. An empty program is not found, as a shell says.
  private func sendable(_ request: Request, _ spec: RunSpec) throws(ForkctlError) -> Frame {
    if spec.program.isEmpty { throw ForkctlError(refusal: .programNotFound, "'': No such file or directory") }
    let environment = spec.environment ?? []
    for entry in environment where !entry.contains(UInt8(ascii: "=")) || entry.contains(0) {
      throw ForkctlError(
        refusal: .badRequest,
        "cannot pass the environment entry '\(String(decoding: entry, as: UTF8.self))': "
          + "each must be NAME=VALUE, without a NUL byte")
    }
    for (what, list) in [("environment", environment), ("argument list", spec.arguments)]
    where list.count > WireLimits.maxListCount {
      throw ForkctlError(
        refusal: .badRequest,
        "cannot pass an \(what) of \(list.count) strings: forkctl passes at most \(WireLimits.maxListCount)")
    }
    let frame = request.frame()
    if frame.payload.count > WireLimits.maxPayload {
      func bytes(_ list: [[UInt8]]) -> Int { list.reduce(0) { $0 + $1.count } }
      throw ForkctlError(
        refusal: .badRequest,
        "cannot pass an environment of \(bytes(environment)) bytes and arguments of "
          + "\(bytes(spec.arguments) + spec.program.count) bytes: "
          + "forkctl passes at most \(WireLimits.maxPayload) bytes in all")
    }
    return frame
  }

  /// `error`, which ends a run or a spawn in `workingDirectory`; when the worker could not
  /// change to it, the daemon says only why (it has the descriptor, not the path), and the
  /// message names the directory.
  private func naming(_ workingDirectory: FileDescriptor?, in error: ForkctlError) -> ForkctlError {
    guard error.refusal == .workingDirectoryFailed else { return error }
    let path = workingDirectory.flatMap { try? Sys.path(of: $0) }.map { " " + $0 } ?? ""
    var named = error
    named.message = "cannot change to the working directory\(path): \(error.message)"
    return named
  }

  /// Sends a `signal` frame for the program this connection is attached to, from any
  /// thread: the frame is small enough to go out in one write.
  public static func forward(_ signal: Int32, on socket: FileDescriptor) throws(ForkctlError) {
    do {
      try FrameChannel(socket).send(Request.signal(signal).frame())
    } catch {
      throw ForkctlError(
        .connectionLost, "cannot send a signal to the daemon: \(Sys.describe(error))", underlying: error)
    }
  }

  /// After `spawn` (or a `run` with waitForExit that has been sent): the program's status
  /// once it ends. Signals that `forwarding` catches meanwhile are sent on to the program.
  public mutating func awaitStatus(forwarding: SignalForwarding?) throws(ForkctlError) -> ExitStatus {
    if let forwarding {
      let signals = forwarding.descriptor.fd
      while true {
        let ready: [Bool]
        do {
          ready = try Sys.waitReadable([channel.fd, signals])
        } catch {
          throw ForkctlError(.connectionLost, "cannot wait for the daemon: \(Sys.describe(error))", underlying: error)
        }
        if ready[0] { break }
        while let sig = (try? forwarding.descriptor.next()) ?? nil { try forward(sig) }
      }
    }
    let (reply, fds) = try receiveReply(bounded: false)
    for f in fds { f.closeQuietly() }
    guard case .statuses(let list) = reply, list.count == 1 else { throw unexpected(reply) }
    return list[0].status
  }

  /// Sends `signal` on to the attached program.
  private mutating func forward(_ signal: Signal) throws(ForkctlError) {
    try send(.signal(signal.rawValue))
    // A terminal's stop request stops this process too, as it would a direct child's
    // parent shell job; the program was stopped first.
    if signal == .terminalStop { Sys.stopSelf() }
  }
}
