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
  case notify(UInt64)
  case notifySocket(UInt64)

  private static let shift: UInt64 = 60
  private static let mask: UInt64 = (1 << shift) - 1

  var rawValue: UInt64 {
    switch self {
    case .listener: 0
    case .signals: 1
    case .client(let n): 1 << Self.shift | n
    case .control(let n): 2 << Self.shift | n
    case .statusPipe(let n): 3 << Self.shift | n
    case .notify(let n): 4 << Self.shift | n
    case .notifySocket(let n): 5 << Self.shift | n
    }
  }

  init(rawValue t: UInt64) {
    let n = t & Self.mask
    switch t >> Self.shift {
    case 0: self = n == 0 ? .listener : .signals
    case 1: self = .client(n)
    case 2: self = .control(n)
    case 3: self = .statusPipe(n)
    case 4: self = .notify(n)
    case 5: self = .notifySocket(n)
    default: preconditionFailure("epoll returned a token the loop never registered: \(t)")
    }
  }
}

/// A client's connection and where its request stands.
final class ClientConnection {
  let connection: Connection
  /// The peer's user (SO_PEERCRED), whose share of the connection slots it takes.
  let uid: UInt32
  /// A request is being handled; the next one waits (replies keep request order).
  var busy = false {
    didSet { if !busy { idleSince = Sys.monotonicMilliseconds() } }
  }
  /// The request started a program whose status is still to come (spawn, run with
  /// waitForExit): until then the client may only send signal frames, which are read.
  var attached = false
  /// Since when nothing has been asked of the daemon on it (monotonic ms).
  private(set) var idleSince = Sys.monotonicMilliseconds()

  init(fd: FileDescriptor, uid: UInt32, budget: ReadBudget) {
    connection = Connection(fd: fd, budget: budget)
    self.uid = uid
  }

  /// Its next request may be read and handled: none is being handled and its replies have
  /// all gone out (a client that sends requests and never reads the replies would otherwise
  /// have them pile up here); an attached client's signal frames are read at any time.
  var takesRequests: Bool { attached || (!busy && !connection.wantsWrite) }

  /// What epoll watches for on it.
  var interest: Epoll.Interest {
    var i: Epoll.Interest = takesRequests ? [.readable, .readHangup] : .readHangup
    if connection.wantsWrite { i.insert(.writable) }
    return i
  }
}

final class EventLoop {
  let config: DaemonConfiguration
  let logger: DaemonLog
  /// When the daemon started (wall clock, ms since the epoch), for `status`.
  let startedAt: Int64
  let epoll: Epoll
  let listener: FileDescriptor
  let signals: SignalDescriptor
  /// What templates are started from (TemplateImage.swift).
  let templateImage: TemplateImage
  /// The sealed file of each language's host script, made at its first host (HostScriptFiles).
  var hostScripts: [HostLanguage: FileDescriptor] = [:]
  var supervisor: Supervisor<LoopEffects>!

  var clients: [ClientID: ClientConnection] = [:]
  var nextClient: ClientID = 1
  var controls: [UInt64: Connection] = [:]
  var statusPipes: [UInt64: FileDescriptor] = [:]
  /// Pool workers' notify sockets, the daemon's ends.
  var notifySockets: [UInt64: FileDescriptor] = [:]
  /// Notify sockets that became readable, read together at `notifyDrainAt` (ProcessService).
  var notifyPending: [UInt64] = []
  var notifyDrainAt: Int64?
  /// Where notify datagrams are read (recvmmsg: 32 slots of 4 KiB), once for all.
  var notifyBuffer = [UInt8](repeating: 0, count: 32 * 4096)
  var notifyLengths = [Int](repeating: 0, count: 32)
  /// Their NOTIFY_SOCKET counterparts, bound to an abstract address (--notify-socket).
  var boundNotifySockets: [UInt64: FileDescriptor] = [:]
  /// Clients whose reply went out and whose next buffered request may now be handled.
  var resumable: [ClientID] = []
  /// Descriptors epoll could not take (ENOMEM, ENOSPC): their owners are let go.
  var unwatchable: [Token] = []
  var stopping = false
  /// The connections of shutdown requests, answered once the daemon has let go of its
  /// socket and pid file.
  private var stopRequests: [Connection] = []
  private var events: [(token: UInt64, interest: Epoll.Interest)] = []
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
  /// What the incomplete frames of all clients may take together.
  let readBudget = ReadBudget(limit: DaemonDefaults.maxBufferedBytes)
  /// Open connections per peer uid, for each user's share of the slots.
  var connectionsPerUID: [UInt32: Int] = [:]
  /// How long a connection may stay idle, and take to send one frame (ms).
  let idleTimeout: Int64
  let frameTimeout: Int64
  /// When the connections are next checked against those timeouts (monotonic ms).
  var nextTimeoutCheck: Int64

  /// The signals the daemon takes through its signalfd.
  static let handledSignals: [Signal] = [.child, .terminate, .interrupt, .hangup]

  init(
    config: DaemonConfiguration, logger: DaemonLog, listener: FileDescriptor, templateImage: TemplateImage
  ) throws(Errno) {
    self.config = config
    self.logger = logger
    startedAt = Sys.realtimeMilliseconds()
    self.listener = listener
    epoll = try Epoll()
    signals = try SignalDescriptor(Self.handledSignals)
    self.templateImage = templateImage
    ownRestrictions = try ProcessRestrictions.of(pid: Sys.processID)
    idleTimeout = Self.timeout("FORKCTL_DAEMON_IDLE_TIMEOUT_MS", DaemonDefaults.idleTimeoutMilliseconds)
    frameTimeout = Self.timeout("FORKCTL_DAEMON_FRAME_TIMEOUT_MS", DaemonDefaults.frameTimeoutMilliseconds)
    nextTimeoutCheck = Sys.monotonicMilliseconds() + Self.timeoutCheckInterval(idleTimeout, frameTimeout)
    supervisor = Supervisor(effects: LoopEffects(loop: self), limits: config.limits, daemonPID: Sys.processID)
    supervisor.identity.version = Array(config.version.utf8)
    supervisor.identity.log = Array(config.log.destination.utf8)
    supervisor.identity.startedAt = startedAt
    supervisor.identity.startedMonotonic = Sys.monotonicMilliseconds()
    try epoll.add(listener, .readable, token: Token.listener.rawValue)
    try epoll.add(signals.fd, .readable, token: Token.signals.rawValue)
    spare = openSpare()
  }

  /// How long a stopping daemon waits for the commands already sent to process objects to
  /// be reported (a fork, a spawn, a run's exec): a template forks in well under a
  /// millisecond, so only a stuck one takes it all, and is then killed.
  static let inFlightGrace: Int64 = 5000

  /// Serves until shutdown or a terminating signal, then stops.
  func run() throws(Errno) {
    while !stopping {
      let deadline = [supervisor.nextDeadline, listenerPausedUntil, nextTimeoutCheck, notifyDrainAt].compactMap({ $0 })
        .min()
      try serveOnce(until: deadline)
    }
    config.notifier?.send(["STOPPING=1", "STATUS=stopping"])
    try stop()
  }

  /// One round: waits for readiness (until `deadline`, monotonic ms, if any) and serves it.
  private func serveOnce(until deadline: Int64?) throws(Errno) {
    var timeout: Int32 = -1
    if let deadline { timeout = Int32(clamping: max(0, deadline - Sys.monotonicMilliseconds())) }
    try epoll.wait(into: &events, timeoutMS: timeout)
    if Sys.monotonicMilliseconds() >= nextTimeoutCheck { dropTimedOutClients() }
    if let due = notifyDrainAt, Sys.monotonicMilliseconds() >= due { drainNotify() }
    if let due = supervisor.nextDeadline, Sys.monotonicMilliseconds() >= due {
      // A pool's timeout must not fire on a worker whose IDLE=1 waits unread.
      if !notifyPending.isEmpty { drainNotify() }
      supervisor.handle(.tick(now: Sys.monotonicMilliseconds()))
    }
    if let until = listenerPausedUntil, Sys.monotonicMilliseconds() >= until { resumeListener() }
    for (t, interest) in events {
      switch Token(rawValue: t) {
      case .listener: acceptClients()
      case .signals: try takeSignals()
      case .client(let id): serviceClient(id, interest)
      case .control(let id): serviceControl(id, interest)
      case .statusPipe(let id): serviceStatusPipe(id)
      case .notify(let id): serviceNotify(id)
      case .notifySocket(let id): serviceNotifySocket(id)
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

  /// Stops taking connections and requests; lets the commands in flight finish and be
  /// reported (issue 11, item 5: a client that retries on 125 must never run a program
  /// twice); tells the clients that wait for a program that it keeps running; lets go of
  /// every connection but those that asked for the stop, which are answered once the socket
  /// and pid file are free; and ends the process objects that never ran. Programs that are
  /// running keep running (they belong to their users).
  private func stop() throws(Errno) {
    if listenerPausedUntil == nil { epoll.remove(listener) }
    listenerPausedUntil = nil
    listener.closeQuietly()
    spare?.closeQuietly()
    spare = nil
    // Requests are still read, and refused, so that an attached client's signal frames
    // still reach its program meanwhile.
    supervisor.handle(.stopRequested)
    let grace = Sys.monotonicMilliseconds() + Self.inFlightGrace
    while supervisor.inFlight > 0 && Sys.monotonicMilliseconds() < grace {
      try serveOnce(until: [grace, supervisor.nextDeadline].compactMap { $0 }.min())
    }
    supervisor.handle(.stopping)
    let requesters = Set(supervisor.stopRequesters)
    for (id, c) in clients {
      epoll.remove(c.connection.fd)
      c.connection.flush()
      if requesters.contains(id) { stopRequests.append(c.connection) } else { c.connection.close() }
    }
    clients.removeAll()
    for (_, fd) in statusPipes {
      epoll.remove(fd)
      fd.closeQuietly()
    }
    statusPipes.removeAll()
    // Reap those that exit, so none is left a zombie under an init that does not reap.
    // Bounded: one that is stuck is left behind after 2 s.
    var rounds = 0
    while supervisor.unrunProcessCount > 0 && rounds < 20 {
      rounds += 1
      try epoll.wait(into: &events, timeoutMS: 100)
      while try signals.next() != nil {}
      try reapChildren()
    }
  }

  /// Answers the shutdown requests, which `stop` kept: to be called once the daemon has let
  /// go of its socket and pid file, so that the caller's next command starts a new daemon
  /// that can take them (issue 11, item 16). Best effort: a requester may have gone.
  func answerStopRequests() {
    for c in stopRequests {
      c.sendLast(Reply.ok.frame())
      c.close()
    }
    stopRequests.removeAll()
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
    log(.error, "cannot watch a descriptor (\(Sys.describe(error))); letting its owner go")
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
      case .notify(let id):
        // Its worker is then not heard: counted idle until it ends, as one that never reports.
        notifySockets.removeValue(forKey: id)?.closeQuietly()
      case .notifySocket(let id):
        boundNotifySockets.removeValue(forKey: id)?.closeQuietly()
      case .listener, .signals:
        preconditionFailure("the listener and the signalfd are watched once, at start")
      }
    }
  }
}

extension EventLoop {
  /// One line to the daemon's log (Log.swift); best effort.
  func log(_ level: LogLevel, _ message: String) { logger.write(level, message) }
}
