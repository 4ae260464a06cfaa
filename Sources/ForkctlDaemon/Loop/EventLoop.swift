// The daemon's event loop: one thread, epoll over the listening socket, a signalfd, every
// client connection, every process object's control socket and exec status pipes. It turns
// readiness into Supervisor events; LoopEffects carries out the Supervisor's effects.
// ClientService.swift serves connections, ProcessService.swift the process objects' descriptors.
//
// Failure policy, for every system call the loop makes:
// - epoll_ctl fails either for a bug of ours (EBADF, EEXIST, ENOENT, EINVAL, ELOOP, EPERM on
//   a descriptor we own): that traps, as swift-nio does for EBADF; or for want of kernel
//   memory or watches (ENOMEM, ENOSPC): then the descriptor's owner is let go as if it had
//   hung up (a client is dropped, a control socket closed, a status pipe read as failed),
//   through `unwatchable`, handled after the current event.
// - A write that fails other than EAGAIN means the peer is gone: its reader sees the hangup.
// - What is best effort is marked `try?` with the reason beside it: a last reply to a
//   connection being dropped, signals to processes that may have exited, the log.
import ForkctlSys
import ForkctlWire

/// What an epoll token names.
enum Token: Equatable {
  case listener
  case signals
  case client(ClientID)
  case control(UInt64)
  case statusPipe(UInt64)

  private static let shift: UInt64 = 60
  private static let mask: UInt64 = (1 << shift) - 1

  var rawValue: UInt64 {
    switch self {
    case .listener: 0
    case .signals: 1
    case .client(let n): 1 << Self.shift | n
    case .control(let n): 2 << Self.shift | n
    case .statusPipe(let n): 3 << Self.shift | n
    }
  }

  init(rawValue t: UInt64) {
    let n = t & Self.mask
    switch t >> Self.shift {
    case 0: self = n == 0 ? .listener : .signals
    case 1: self = .client(n)
    case 2: self = .control(n)
    case 3: self = .statusPipe(n)
    default: preconditionFailure("epoll returned a token the loop never registered: \(t)")
    }
  }
}

/// A client's connection and where its request stands.
final class ClientConnection {
  let connection: Connection
  /// A request is being handled; the next one waits (replies keep request order).
  var busy = false
  /// The request started a program whose status is still to come (spawn, run with
  /// waitForExit): until then the client may only send signal frames, which are read.
  var attached = false
  init(fd: FileDescriptor) { connection = Connection(fd: fd) }

  /// What epoll watches for on it.
  var interest: Epoll.Interest {
    var i: Epoll.Interest = busy && !attached ? .readHangup : [.readable, .readHangup]
    if connection.wantsWrite { i.insert(.writable) }
    return i
  }
}

final class EventLoop {
  let config: DaemonConfiguration
  let epoll: Epoll
  let listener: FileDescriptor
  let signals: SignalDescriptor
  let executable: String
  var supervisor: Supervisor<LoopEffects>!

  var clients: [ClientID: ClientConnection] = [:]
  var nextClient: ClientID = 1
  var controls: [UInt64: Connection] = [:]
  var statusPipes: [UInt64: FileDescriptor] = [:]
  /// Clients whose reply went out and whose next buffered request may now be handled.
  var resumable: [ClientID] = []
  /// Descriptors epoll could not take (ENOMEM, ENOSPC): their owners are let go.
  var unwatchable: [Token] = []
  var stopping = false
  /// A descriptor held in reserve (/dev/null) for descriptor exhaustion: when accept fails
  /// with EMFILE or ENFILE, closing it makes room to accept the waiting connection and
  /// refuse it with a clear error. Leaving the connection in the backlog instead would keep
  /// the listener readable, and the level-triggered loop would spin on it.
  var spare: FileDescriptor?
  /// While no connection can be accepted at all (no spare either, or another accept
  /// error), the listener is out of the epoll set until this time (monotonic ms).
  var listenerPausedUntil: Int64?
  /// Connections refused for want of descriptors since the last one accepted, for the log.
  var refusedForDescriptors = 0
  /// Accepts failed since the last one logged, when the run of failures began, and when
  /// one was last logged (ClientService.swift).
  var acceptFailures = (unlogged: 0, since: Int64?.none, loggedAt: Int64(0))
  /// The daemon's own namespaces and restrictions, which a client's must not exceed.
  let ownRestrictions: ProcessRestrictions

  /// The signals the daemon takes through its signalfd.
  static let handledSignals: [Signal] = [.child, .terminate, .interrupt, .hangup]

  init(config: DaemonConfiguration, listener: FileDescriptor) throws(Errno) {
    self.config = config
    self.listener = listener
    epoll = try Epoll()
    signals = try SignalDescriptor(Self.handledSignals)
    executable = try Sys.executablePath()
    ownRestrictions = try ProcessRestrictions.of(pid: Sys.processID)
    supervisor = Supervisor(effects: LoopEffects(loop: self), limits: config.limits, daemonPID: Sys.processID)
    try epoll.add(listener, .readable, token: Token.listener.rawValue)
    try epoll.add(signals.fd, .readable, token: Token.signals.rawValue)
    spare = openSpare()
  }

  /// Serves until shutdown or a terminating signal, then lets go of every connection.
  func run() throws(Errno) {
    var events: [(token: UInt64, interest: Epoll.Interest)] = []
    while !stopping {
      var timeout: Int32 = -1
      if let deadline = [supervisor.nextDeadline, listenerPausedUntil].compactMap({ $0 }).min() {
        timeout = Int32(clamping: max(0, deadline - Sys.monotonicMilliseconds()))
      }
      try epoll.wait(into: &events, timeoutMS: timeout)
      if supervisor.nextDeadline != nil { supervisor.handle(.tick(now: Sys.monotonicMilliseconds())) }
      if let until = listenerPausedUntil, Sys.monotonicMilliseconds() >= until { resumeListener() }
      for (t, interest) in events {
        switch Token(rawValue: t) {
        case .listener: acceptClients()
        case .signals: try takeSignals()
        case .client(let id): serviceClient(id, interest)
        case .control(let id): serviceControl(id, interest)
        case .statusPipe(let id): serviceStatusPipe(id)
        }
        letGoOfUnwatchable()
      }
      while !resumable.isEmpty {
        let ids = resumable
        resumable.removeAll()
        for id in ids { handleBufferedRequests(id) }
        letGoOfUnwatchable()
      }
    }
    try stop()
  }

  /// Stops answering, lets go of every connection, and ends the process objects that never
  /// ran; programs that are running keep running (they belong to their users).
  private func stop() throws(Errno) {
    // Only the signalfd stays in the epoll set below.
    if listenerPausedUntil == nil { epoll.remove(listener) }
    listener.closeQuietly()
    spare?.closeQuietly()
    spare = nil
    for (_, c) in clients {
      epoll.remove(c.connection.fd)
      c.connection.flush()
      c.connection.close()
    }
    clients.removeAll()
    for (_, fd) in statusPipes {
      epoll.remove(fd)
      fd.closeQuietly()
    }
    statusPipes.removeAll()
    supervisor.handle(.stopping)
    // Reap those that exit, so none is left a zombie under an init that does not reap.
    // Bounded: one that is stuck is left behind after 2 s.
    var events: [(token: UInt64, interest: Epoll.Interest)] = []
    var rounds = 0
    while supervisor.unrunProcessCount > 0 && rounds < 20 {
      rounds += 1
      try epoll.wait(into: &events, timeoutMS: 100)
      while try signals.next() != nil {}
      try reapChildren()
    }
  }

  // MARK: Watching descriptors, with the failure policy above

  /// Adds `fd` to the epoll set; a failure for want of memory or watches lets its owner go.
  func watch(_ fd: FileDescriptor, _ interest: Epoll.Interest, _ token: Token) {
    do {
      try epoll.add(fd, interest, token: token.rawValue)
    } catch {
      failedToWatch(error, token, "add")
    }
  }

  /// Changes what epoll watches for on `fd`, with the same policy.
  func rewatch(_ fd: FileDescriptor, _ interest: Epoll.Interest, _ token: Token) {
    do {
      try epoll.modify(fd, interest, token: token.rawValue)
    } catch {
      failedToWatch(error, token, "modify")
    }
  }

  private func failedToWatch(_ error: Errno, _ token: Token, _ op: String) {
    guard error == .noMemory || error == .noSpace else {
      preconditionFailure("epoll_ctl(\(op)) failed for \(token): \(error)")
    }
    log("forkctl daemon: cannot watch a descriptor (\(Sys.describe(error))); letting its owner go")
    unwatchable.append(token)
  }

  private func letGoOfUnwatchable() {
    while !unwatchable.isEmpty {
      switch unwatchable.removeFirst() {
      case .client(let id): dropClient(id)
      case .control(let id): supervisor.handle(.controlClosed(id))
      case .statusPipe(let id):
        statusPipes.removeValue(forKey: id)?.closeQuietly()
        supervisor.handle(.execOutcome(id, failure: .noMemory))
      case .listener, .signals:
        preconditionFailure("the listener and the signalfd are watched once, at start")
      }
    }
  }
}

/// One line to the daemon's stderr (its log when auto-started); best effort.
func log(_ s: String) {
  try? FileDescriptor.standardError.writeFully(Array((s + "\n").utf8))
}
