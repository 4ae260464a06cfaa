// The daemon's event loop: one thread, epoll over the listening socket, a signalfd, every
// client connection, every process object's control socket and exec status pipes. It turns
// readiness into Supervisor events and carries out the Supervisor's effects.
import ForkctlSys
import ForkctlWire

/// How the daemon is started.
public struct DaemonConfiguration: Sendable {
  public var socketPath: String
  /// Extra users and groups admitted besides our own uid and root.
  public var allowedUIDs: [UInt32] = []
  public var allowedGIDs: [UInt32] = []
  public var limits = SupervisorLimits()
  /// Most client connections open at once.
  public var maxConnections = 1024
  /// A descriptor to write "ready\n" to once the socket accepts connections (auto-start).
  public var readyFD: FileDescriptor?

  public init(socketPath: String) { self.socketPath = socketPath }

  public var directory: String {
    guard let slash = socketPath.lastIndex(of: "/") else { return "." }
    return slash == socketPath.startIndex ? "/" : String(socketPath[..<slash])
  }
  public var pidfilePath: String { socketPath + ".pid" }
}

/// Why the daemon could not start.
public struct DaemonStartError: Error {
  public var message: String
  /// Another daemon holds the socket.
  public var alreadyRunning: Bool
}

private enum TokenKind: UInt64 {
  case special = 0
  case client = 1
  case control = 2
  case statusPipe = 3
}

private func token(_ kind: TokenKind, _ n: UInt64) -> UInt64 { kind.rawValue << 60 | n }
private let listenerToken: UInt64 = 0
private let signalToken: UInt64 = 1
private let epollRDHUP = Epoll.Interest(rawValue: 0x2000)

/// A queued write: bytes, and descriptors to attach to its first byte.
private struct Outgoing {
  var bytes: [UInt8]
  var offset = 0
  var fds: [FileDescriptor]
}

/// A socket carrying frames both ways, non-blocking.
private final class Peer {
  let fd: FileDescriptor
  var decoder = FrameDecoder()
  var receivedFDs: [FileDescriptor] = []
  var queue: [Outgoing] = []
  var wantsWrite = false

  init(fd: FileDescriptor) { self.fd = fd }

  func closeReceived() {
    for f in receivedFDs { f.closeQuietly() }
    receivedFDs.removeAll()
  }
}

private final class ClientConnection {
  let peer: Peer
  /// A request is being handled; the next one waits (replies keep request order).
  var busy = false
  /// The request started a program whose status is still to come (spawn, run with
  /// waitForExit): until then the client may only send signal frames, which are read.
  var attached = false
  init(fd: FileDescriptor) { peer = Peer(fd: fd) }
}

/// State the loop and its effects share.
final class LoopState {
  let epoll: Epoll
  fileprivate var clients: [ClientID: ClientConnection] = [:]
  fileprivate var controls: [UInt64: Peer] = [:]
  fileprivate var statusPipes: [UInt64: FileDescriptor] = [:]
  /// Clients whose reply went out and whose next buffered request may now be handled.
  fileprivate var resumable: [ClientID] = []
  var stopping = false
  let executable: String
  /// A descriptor held in reserve (/dev/null) for descriptor exhaustion: when accept fails
  /// with EMFILE or ENFILE, closing it makes room to accept the waiting connection and
  /// refuse it with a clear error. Leaving the connection in the backlog instead would keep
  /// the listener readable, and the level-triggered loop would spin on it.
  fileprivate var spare: FileDescriptor?
  /// While no connection can be accepted at all (no spare either, or another accept
  /// error), the listener is out of the epoll set until this time (monotonic ms).
  fileprivate var listenerPausedUntil: Int64?
  /// Connections refused for want of descriptors since the last one accepted, for the log.
  fileprivate var refusedForDescriptors = 0

  init(executable: String) throws(Errno) {
    epoll = try Epoll()
    self.executable = executable
  }

  /// Queues a frame and writes what it can; false when the peer is broken.
  @discardableResult
  fileprivate func enqueue(_ peer: Peer, _ frame: Frame, fds: [FileDescriptor], token t: UInt64, baseInterest: Epoll.Interest) -> Bool {
    peer.queue.append(Outgoing(bytes: frame.encoded(), fds: fds))
    return flush(peer, token: t, baseInterest: baseInterest)
  }

  /// Writes what it can; returns false when the peer is broken.
  @discardableResult
  fileprivate func flush(_ peer: Peer, token t: UInt64, baseInterest: Epoll.Interest) -> Bool {
    while var item = peer.queue.first {
      do {
        let n = try UnixSocket.send(
          peer.fd, item.bytes[item.offset...], fds: item.offset == 0 ? item.fds : [], nonblocking: true)
        if item.offset == 0 {
          for f in item.fds { f.closeQuietly() }
          item.fds = []
        }
        item.offset += n
        if item.offset == item.bytes.count {
          peer.queue.removeFirst()
        } else {
          peer.queue[0] = item
        }
      } catch {
        if error == .wouldBlock || error == .resourceTemporarilyUnavailable {
          if !peer.wantsWrite {
            peer.wantsWrite = true
            try? epoll.modify(peer.fd, baseInterest.union(.writable), token: t)
          }
          return true
        }
        // EPIPE, ECONNRESET: the reader will see the hangup and clean up.
        for o in peer.queue { for f in o.fds { f.closeQuietly() } }
        peer.queue.removeAll()
        return false
      }
    }
    if peer.wantsWrite {
      peer.wantsWrite = false
      try? epoll.modify(peer.fd, baseInterest, token: t)
    }
    return true
  }

  fileprivate func clientInterest(_ c: ClientConnection) -> Epoll.Interest {
    c.busy && !c.attached ? epollRDHUP : Epoll.Interest.readable.union(epollRDHUP)
  }
}

/// The effects of the Supervisor, carried out by the loop.
struct LoopEffects: SupervisorEffects {
  let state: LoopState

  @discardableResult
  mutating func reply(_ client: ClientID, _ reply: Reply) -> Bool {
    guard let c = state.clients[client] else { return false }
    c.busy = false
    c.attached = false
    let written = state.enqueue(
      c.peer, reply.frame(), fds: [], token: token(.client, client), baseInterest: state.clientInterest(c))
    if !c.peer.wantsWrite { try? state.epoll.modify(c.peer.fd, state.clientInterest(c), token: token(.client, client)) }
    state.resumable.append(client)
    return written
  }

  mutating func send(_ id: UInt64, _ command: Command, fds: [FileDescriptor]) {
    guard let p = state.controls[id] else {
      for f in fds { f.closeQuietly() }
      return
    }
    state.enqueue(p, command.frame(), fds: fds, token: token(.control, id), baseInterest: .readable)
  }

  mutating func startTemplate(id: UInt64, control: FileDescriptor) throws(Errno) -> Int32 {
    defer { control.closeQuietly() }
    // The template gets /dev/null on 0 and 1, the daemon's stderr on 2 (its own errors go
    // to the daemon's log), the control socket on 3 and nothing else.
    return try Sys.spawn(
      path: state.executable, arguments: ["forkctl", "__template", String(id)], environment: [],
      fds: [nil, nil, FileDescriptor(rawValue: 2), control])
  }

  mutating func socketPair() throws(Errno) -> (FileDescriptor, FileDescriptor) { try Sys.socketPair() }

  mutating func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) { try Sys.pipe() }

  mutating func watchControl(_ id: UInt64, _ fd: FileDescriptor) {
    try? fd.setNonblocking(true)
    state.controls[id] = Peer(fd: fd)
    do {
      try state.epoll.add(fd, .readable, token: token(.control, id))
    } catch {
      preconditionFailure("epoll_ctl(ADD) of a new control socket failed: \(error)")
    }
  }

  mutating func closeControl(_ id: UInt64) {
    guard let p = state.controls.removeValue(forKey: id) else { return }
    state.epoll.remove(p.fd)
    for o in p.queue { for f in o.fds { f.closeQuietly() } }
    p.closeReceived()
    p.fd.closeQuietly()
  }

  mutating func watchStatusPipe(_ id: UInt64, _ fd: FileDescriptor) {
    state.statusPipes[id] = fd
    do {
      try state.epoll.add(fd, .readable, token: token(.statusPipe, id))
    } catch {
      preconditionFailure("epoll_ctl(ADD) of a status pipe failed: \(error)")
    }
  }

  mutating func close(_ fd: FileDescriptor) { fd.closeQuietly() }

  mutating func signal(_ pid: Int32, _ signal: Int32) throws(Errno) { try Sys.kill(pid, signal) }

  mutating func signalGroup(_ pid: Int32, _ signal: Int32) { try? Sys.signalGroup(pid, signal) }

  mutating func attach(_ client: ClientID, _ reply: Reply?, fds: [FileDescriptor]) {
    guard let c = state.clients[client] else {
      for f in fds { f.closeQuietly() }
      return
    }
    c.attached = true
    let t = token(.client, client)
    if var reply {
      // The Supervisor hands the pidfd apart from its `created`, which must declare it.
      if case .created(let id, let pid, _) = reply {
        reply = .created(id: id, pid: pid, withPIDFD: !fds.isEmpty)
      }
      state.enqueue(c.peer, reply.frame(), fds: fds, token: t, baseInterest: state.clientInterest(c))
    } else {
      for f in fds { f.closeQuietly() }
    }
    if !c.peer.wantsWrite { try? state.epoll.modify(c.peer.fd, state.clientInterest(c), token: t) }
    // Signal frames may already be buffered.
    state.resumable.append(client)
  }

  mutating func now() -> Int64 { Sys.monotonicMilliseconds() }

  mutating func openPIDFD(_ pid: Int32) -> FileDescriptor? { try? Sys.openPIDFD(pid) }

  mutating func shutdown() { state.stopping = true }
}

/// The daemon process.
public struct Daemon {
  public static let signals: [Int32] = [17 /* SIGCHLD */, 15 /* SIGTERM */, 2 /* SIGINT */, 1 /* SIGHUP */]

  /// Runs the daemon until shutdown or a terminating signal. Returns the exit code.
  public static func run(_ config: DaemonConfiguration) -> Int32 {
    do {
      return try runThrowing(config)
    } catch {
      log("forkctl daemon: \(error.message)")
      if let r = config.readyFD {
        let message = Array(error.message.utf8)
        let said: Readiness =
          error.alreadyRunning ? .alreadyRunning(message: message) : .failed(message: message)
        try? r.writeAll(said.encode())
      }
      return error.alreadyRunning ? 3 : 1
    }
  }

  static func log(_ s: String) {
    try? FileDescriptor(rawValue: 2).writeAll(Array((s + "\n").utf8))
  }

  private static func runThrowing(_ config: DaemonConfiguration) throws(DaemonStartError) -> Int32 {
    let path = config.socketPath
    do {
      // Admitted others must reach the socket by its name: the directory is 0711 then.
      try Sys.makePrivateDirectory(config.directory, searchableByOthers: admitsOthers(config))
    } catch {
      throw DaemonStartError(message: error.description, alreadyRunning: false)
    }
    let pidfile: Pidfile
    do {
      pidfile = try Pidfile(path: config.pidfilePath)
    } catch {
      switch error {
      case .running(let pid):
        throw DaemonStartError(
          message: "a daemon is already running on \(path)\(pid > 0 ? " (pid \(pid))" : "")", alreadyRunning: true)
      case .system(let e):
        throw DaemonStartError(message: "cannot lock \(config.pidfilePath): \(Sys.describe(e))", alreadyRunning: false)
      }
    }
    // We hold the lock, so any socket file is a leftover of a daemon that was killed.
    // Bind under a temporary name and rename it into place: the path either answers or
    // does not exist, and a client never connects to a half-set-up socket.
    let temporary = "\(path).\(Sys.processID).new"
    let listener: FileDescriptor
    do {
      try Sys.removeFile(temporary)
      listener = try UnixSocket.listen(at: temporary)
      // connect(2) needs write permission on the socket: the owner's alone, or everybody's
      // when others are admitted (SO_PEERCRED decides for each connection).
      try Sys.setMode(temporary, admitsOthers(config) ? 0o666 : 0o600)
      try Sys.rename(temporary, path)
      try listener.setNonblocking(true)
      try pidfile.write()
    } catch {
      try? Sys.removeFile(temporary)
      throw DaemonStartError(message: "cannot listen on \(path): \(Sys.describe(error))", alreadyRunning: false)
    }
    let exitCode: Int32
    do {
      exitCode = try serve(config, listener: listener)
    } catch {
      try? Sys.removeFile(path)
      pidfile.remove()
      throw DaemonStartError(message: "event loop failed: \(Sys.describe(error))", alreadyRunning: false)
    }
    try? Sys.removeFile(path)
    pidfile.remove()
    return exitCode
  }

  private static func serve(_ config: DaemonConfiguration, listener: FileDescriptor) throws(Errno) -> Int32 {
    Sys.ignoreBrokenPipe()
    // Do not pin the directory the daemon happened to be started from; workers get their
    // client's directory with each run.
    try Sys.changeDirectory("/")
    try Sys.becomeChildSubreaper()
    let signals = try SignalDescriptor(signals)
    let state = try LoopState(executable: try Sys.executablePath())
    var supervisor = Supervisor(
      effects: LoopEffects(state: state), limits: config.limits, daemonPID: Sys.processID)
    try state.epoll.add(listener, .readable, token: listenerToken)
    try state.epoll.add(signals.fd, .readable, token: signalToken)
    state.spare = openSpare()
    Sys.setProcessTitle("forkctl: daemon \(config.socketPath)")
    if let r = config.readyFD {
      try? r.writeAll(Readiness.ready.encode())
      r.closeQuietly()
    }

    var nextClient: ClientID = 1
    var events: [(token: UInt64, interest: Epoll.Interest)] = []
    var exitCode: Int32 = 0
    while !state.stopping {
      var timeout: Int32 = -1
      if let deadline = [supervisor.nextDeadline, state.listenerPausedUntil].compactMap({ $0 }).min() {
        timeout = Int32(clamping: max(0, deadline - Sys.monotonicMilliseconds()))
      }
      try state.epoll.wait(into: &events, timeoutMS: timeout)
      if supervisor.nextDeadline != nil { supervisor.deadlinesPassed(now: Sys.monotonicMilliseconds()) }
      if let until = state.listenerPausedUntil, Sys.monotonicMilliseconds() >= until {
        resumeListener(listener, state)
      }
      for (t, interest) in events {
        let kind = TokenKind(rawValue: t >> 60)!
        let n = t & ((1 << 60) - 1)
        switch kind {
        case .special where t == listenerToken:
          acceptClients(listener, config, state, &nextClient, &supervisor)
        case .special:
          while let sig = try signals.next() {
            if sig == 17 {
              while let (pid, value) = try reap() { supervisor.childExited(pid: pid, status: value) }
            } else {
              log("forkctl daemon: signal \(sig), shutting down")
              state.stopping = true
              exitCode = 0
            }
          }
        case .client:
          serviceClient(n, interest, state, &supervisor)
        case .control:
          serviceControl(n, interest, state, &supervisor)
        case .statusPipe:
          serviceStatusPipe(n, state, &supervisor)
        }
      }
      while !state.resumable.isEmpty {
        let ids = state.resumable
        state.resumable.removeAll()
        for id in ids { handleBufferedRequests(id, state, &supervisor) }
      }
    }
    // Stop answering first: only the signalfd stays in the epoll set below.
    if state.listenerPausedUntil == nil { state.epoll.remove(listener) }
    listener.closeQuietly()
    state.spare?.closeQuietly()
    state.spare = nil
    for (_, c) in state.clients {
      state.epoll.remove(c.peer.fd)
      state.flush(c.peer, token: 0, baseInterest: .readable)
      c.peer.closeReceived()
      c.peer.fd.closeQuietly()
    }
    state.clients.removeAll()
    for (_, fd) in state.statusPipes {
      state.epoll.remove(fd)
      fd.closeQuietly()
    }
    state.statusPipes.removeAll()
    // Process objects that never ran exit when their control socket closes; programs that
    // are running keep running (they belong to their users, not to this daemon).
    supervisor.closeAllControls()
    // Reap those that exit, so none is left a zombie under an init that does not reap.
    // Bounded: one that is stuck is left behind after 2 s.
    var rounds = 0
    while supervisor.unrunProcessCount > 0 && rounds < 20 {
      rounds += 1
      try state.epoll.wait(into: &events, timeoutMS: 100)
      while try signals.next() != nil {}
      while let (pid, value) = try reap() { supervisor.childExited(pid: pid, status: value) }
    }
    return exitCode
  }

  private static func reap() throws(Errno) -> (Int32, ExitStatus)? {
    guard let (pid, v) = try Sys.reapChild() else { return nil }
    if let code = v.exitCode { return (pid, .exited(code)) }
    return (pid, .signaled(v.signal ?? 0, coreDumped: v.coreDumped))
  }

  private static func acceptClients(
    _ listener: FileDescriptor, _ config: DaemonConfiguration, _ state: LoopState, _ next: inout ClientID,
    _ supervisor: inout Supervisor<LoopEffects>
  ) {
    while true {
      let fd: FileDescriptor
      do {
        guard let accepted = try UnixSocket.accept(listener) else { return }
        fd = accepted
      } catch {
        // The connection stays in the backlog and the listener readable: returning would
        // spin the level-triggered loop. Out of descriptors, refuse it with the spare's
        // room; otherwise (no spare, or ENOMEM, ENOBUFS...) stop listening for a moment.
        if Sys.isDescriptorShortage(error) {
          switch refuseForLackOfDescriptors(listener, error, state) {
          case .refused: continue
          case .backlogEmpty: return
          case .impossible: break
          }
        }
        log("forkctl daemon: cannot accept a connection: \(Sys.describe(error)); not listening for \(listenerPause) ms")
        pauseListener(listener, state)
        return
      }
      if state.refusedForDescriptors > 0 {
        log("forkctl daemon: accepting connections again, after refusing \(state.refusedForDescriptors) for want of descriptors")
        state.refusedForDescriptors = 0
      }
      let uid: UInt32
      switch admission(fd, config, state) {
      case .refused(let code, let message):
        turnAway(fd, code, message)
        continue
      case .admitted(let peer):
        uid = peer
      }
      let id = next
      next += 1
      let c = ClientConnection(fd: fd)
      state.clients[id] = c
      do {
        try state.epoll.add(fd, state.clientInterest(c), token: token(.client, id))
        supervisor.clientConnected(id, uid: uid)
      } catch {
        state.clients[id] = nil
        turnAway(fd, .internalError, "cannot watch the connection: \(Sys.describe(error))")
      }
    }
  }

  /// How long the listener rests after an accept error that no refusal could clear.
  private static let listenerPause: Int64 = 100

  private static func openSpare() -> FileDescriptor? { try? Sys.open("/dev/null", flags: 0 /* O_RDONLY */) }

  private enum DescriptorRefusal { case refused, backlogEmpty, impossible }

  /// accept failed with EMFILE or ENFILE: spends the spare descriptor to accept the waiting
  /// connection, tells it why it is refused, closes it and takes the spare back.
  private static func refuseForLackOfDescriptors(
    _ listener: FileDescriptor, _ error: Errno, _ state: LoopState
  ) -> DescriptorRefusal {
    guard let spare = state.spare else { return .impossible }
    spare.closeQuietly()
    state.spare = nil
    defer { state.spare = openSpare() }
    let accepted: FileDescriptor?
    do {
      accepted = try UnixSocket.accept(listener)
    } catch {
      return .impossible
    }
    guard let fd = accepted else { return .backlogEmpty }
    if state.refusedForDescriptors == 0 {
      log("forkctl daemon: \(descriptorShortage(error)); refusing new connections until some close")
    }
    state.refusedForDescriptors += 1
    turnAway(fd, .limitReached, "\(descriptorShortage(error)); try again once some work has ended")
    return .refused
  }

  /// Names the limit that a descriptor shortage hit.
  static func descriptorShortage(_ error: Errno) -> String {
    if error == .tooManyOpenFilesInSystem {
      return "the system is out of file descriptors (ENFILE, fs.file-max)"
    }
    let limit = Sys.descriptorLimit().map { " of \($0)" } ?? ""
    return "the daemon is out of file descriptors (its RLIMIT_NOFILE\(limit) is reached)"
  }

  private static func pauseListener(_ listener: FileDescriptor, _ state: LoopState) {
    guard state.listenerPausedUntil == nil else { return }
    state.epoll.remove(listener)
    state.listenerPausedUntil = Sys.monotonicMilliseconds() + listenerPause
  }

  private static func resumeListener(_ listener: FileDescriptor, _ state: LoopState) {
    state.listenerPausedUntil = nil
    if state.spare == nil { state.spare = openSpare() }
    do {
      try state.epoll.add(listener, .readable, token: listenerToken)
    } catch {
      log("forkctl daemon: cannot watch the listening socket: \(Sys.describe(error)); retrying")
      state.listenerPausedUntil = Sys.monotonicMilliseconds() + listenerPause
    }
  }

  /// Sends a connection a failure reply, without waiting, and closes it.
  private static func turnAway(_ fd: FileDescriptor, _ code: ErrorCode, _ message: String) {
    let bytes = Reply.failure(code, message).frame().encoded()
    _ = try? UnixSocket.send(fd, bytes[...], nonblocking: true)
    fd.closeQuietly()
  }

  /// Whether --allow-uid or --allow-gid admit anybody besides our own user and root.
  private static func admitsOthers(_ config: DaemonConfiguration) -> Bool {
    !config.allowedUIDs.isEmpty || !config.allowedGIDs.isEmpty
  }

  private enum Admission {
    case admitted(uid: UInt32)
    case refused(ErrorCode, String)
  }

  /// Whether a new connection is served: its peer's uid, or why not.
  private static func admission(_ fd: FileDescriptor, _ config: DaemonConfiguration, _ state: LoopState) -> Admission {
    guard let cred = try? UnixSocket.peerCredentials(fd) else { return .refused(.permissionDenied, "cannot read peer credentials") }
    guard
      cred.uid == Sys.userID || cred.uid == 0 || config.allowedUIDs.contains(cred.uid)
        || config.allowedGIDs.contains(cred.gid)
    else {
      return .refused(.permissionDenied, "uid \(cred.uid) is not allowed to use this daemon")
    }
    if state.clients.count >= config.maxConnections {
      return .refused(.limitReached, "too many connections (\(config.maxConnections)); try again once some have closed")
    }
    return .admitted(uid: cred.uid)
  }

  private static func dropClient(
    _ id: ClientID, _ state: LoopState, _ supervisor: inout Supervisor<LoopEffects>, reset: Bool = false
  ) {
    guard let c = state.clients.removeValue(forKey: id) else { return }
    // ECONNRESET: the client closed without reading what was sent to it.
    let unread = reset || UnixSocket.pendingError(c.peer.fd) == .connectionReset
    state.epoll.remove(c.peer.fd)
    c.peer.closeReceived()
    for o in c.peer.queue { for f in o.fds { f.closeQuietly() } }
    c.peer.fd.closeQuietly()
    supervisor.clientGone(id, repliesUnread: unread)
  }

  /// What reading a peer came to.
  private enum ReadOutcome {
    case open
    /// End of file or a broken connection.
    case closed
    /// The peer closed with replies still unread (ECONNRESET).
    case reset
    /// Descriptors sent were lost (MSG_CTRUNC): more than a frame may carry, or, with
    /// fewer than that installed, this process is out of descriptors.
    case descriptorsLost(shortage: Bool)
  }

  /// Reads until the decoder has a frame (or an error) ready, or nothing more is there;
  /// never past the end of a frame.
  private static func readAvailable(_ peer: Peer) -> ReadOutcome {
    while !peer.decoder.isReady {
      let got: UnixSocket.Received
      do {
        got = try UnixSocket.receive(peer.fd, maxBytes: peer.decoder.bytesWanted, nonblocking: true)
      } catch {
        if error == .connectionReset { return .reset }
        return error == .wouldBlock || error == .resourceTemporarilyUnavailable ? .open : .closed
      }
      if got.bytes.isEmpty && got.fds.isEmpty { return .closed }
      peer.receivedFDs += got.fds
      // The kernel installs what fits in the room for a frame's worth and drops the rest;
      // fewer than that means a descriptor could not be had (scm_detach_fds: EMFILE).
      if got.overflow { return .descriptorsLost(shortage: got.fds.count < WireLimits.maxFDsPerFrame) }
      peer.decoder.append(got.bytes, fdCount: got.fds.count)
    }
    return .open
  }

  private static func serviceClient(
    _ id: ClientID, _ interest: Epoll.Interest, _ state: LoopState, _ supervisor: inout Supervisor<LoopEffects>
  ) {
    guard let c = state.clients[id] else { return }
    if interest.contains(.writable) {
      if !state.flush(c.peer, token: token(.client, id), baseInterest: state.clientInterest(c)) {
        return dropClient(id, state, &supervisor)
      }
    }
    if interest.contains(.readable) && (!c.busy || c.attached) {
      switch readAvailable(c.peer) {
      case .open: break
      case .closed: return dropClient(id, state, &supervisor)
      case .reset: return dropClient(id, state, &supervisor, reset: true)
      case .descriptorsLost(shortage: false):
        // More than a frame may carry in one sendmsg: dropped without a reply
        // (forkctl-protocol(7)).
        return dropClient(id, state, &supervisor)
      case .descriptorsLost(shortage: true):
        // The frame cannot have its descriptors any more, for want of descriptors here:
        // say so, and drop the connection.
        let message = "cannot receive the descriptors sent: \(descriptorShortage(.tooManyOpenFiles))"
        return refuse(id, c, .limitReached, message, state, &supervisor)
      }
      handleBufferedRequests(id, state, &supervisor)
    } else if !interest.intersection([.hangup, .error, epollRDHUP]).isEmpty {
      return dropClient(id, state, &supervisor)
    }
  }

  /// Handles the next complete request of a client that is not busy, and the signal frames
  /// of an attached one.
  private static func handleBufferedRequests(
    _ id: ClientID, _ state: LoopState, _ supervisor: inout Supervisor<LoopEffects>
  ) {
    while let c = state.clients[id], !c.busy || c.attached {
      let frame: Frame?
      do {
        frame = try c.peer.decoder.next()
      } catch {
        return refuseGarbage(id, c, error, state, &supervisor)
      }
      // The decoder holds one frame at most; the rest waits in the socket, which epoll
      // reports again (level-triggered).
      guard let frame else { return }
      let fds = Array(c.peer.receivedFDs.prefix(frame.fdCount))
      c.peer.receivedFDs.removeFirst(frame.fdCount)
      let request: Request
      do {
        request = try Request(frame)
      } catch {
        for f in fds { f.closeQuietly() }
        return refuseGarbage(id, c, error, state, &supervisor)
      }
      if case .signal = request {
        supervisor.handle(request, fds: fds, from: id)
        continue
      }
      if c.busy {
        for f in fds { f.closeQuietly() }
        return refuseGarbage(
          id, c, .invalid("only signal frames may follow spawn or run with wait before its status"), state,
          &supervisor)
      }
      c.busy = true
      try? state.epoll.modify(
        c.peer.fd, state.clientInterest(c).union(c.peer.wantsWrite ? .writable : []), token: token(.client, id))
      supervisor.handle(request, fds: fds, from: id)
      return
    }
  }

  /// A protocol violation: a clear error to that client, its descriptors closed, the
  /// connection dropped. Nobody else notices.
  private static func refuseGarbage(
    _ id: ClientID, _ c: ClientConnection, _ error: WireError, _ state: LoopState,
    _ supervisor: inout Supervisor<LoopEffects>
  ) {
    refuse(id, c, .protocolError, "protocol error: \(error.description)", state, &supervisor)
  }

  /// A last failure reply to a client, then its connection dropped. The reply goes only
  /// when no earlier one is still queued, so that no frame is cut in two.
  private static func refuse(
    _ id: ClientID, _ c: ClientConnection, _ code: ErrorCode, _ message: String, _ state: LoopState,
    _ supervisor: inout Supervisor<LoopEffects>
  ) {
    if c.peer.queue.isEmpty {
      let bytes = Reply.failure(code, message).frame().encoded()
      _ = try? UnixSocket.send(c.peer.fd, bytes[...], nonblocking: true)
    }
    dropClient(id, state, &supervisor)
  }

  private static func serviceControl(
    _ id: UInt64, _ interest: Epoll.Interest, _ state: LoopState, _ supervisor: inout Supervisor<LoopEffects>
  ) {
    guard let p = state.controls[id] else { return }
    if interest.contains(.writable) {
      if !state.flush(p, token: token(.control, id), baseInterest: .readable) {
        return supervisor.controlClosed(id)
      }
    }
    guard !interest.intersection([.readable, .hangup, .error]).isEmpty else { return }
    var open = true
    while true {
      // A process object never sends descriptors: losing some is as bad as a hang-up.
      if open, case .open = readAvailable(p) {} else { open = false }
      let frame: Frame?
      do {
        frame = try p.decoder.next()
      } catch {
        log("forkctl daemon: process \(id) sent garbage: \(error.description)")
        open = false
        break
      }
      guard let frame else { break }
      if frame.fdCount > 0 {
        open = false
        break
      }
      guard let report = try? Report(frame) else {
        open = false
        break
      }
      supervisor.handle(report, from: id)
      if state.controls[id] == nil { return }
    }
    if !open { supervisor.controlClosed(id) }
  }

  private static func serviceStatusPipe(_ id: UInt64, _ state: LoopState, _ supervisor: inout Supervisor<LoopEffects>) {
    guard let fd = state.statusPipes.removeValue(forKey: id) else { return }
    state.epoll.remove(fd)
    // The worker writes an ExecFailureReport only when exec failed; end of file alone means
    // exec closed the close-on-exec write end, so the program is running. A short read
    // (which an atomic pipe write cannot give, pipe(7)) counts as nothing written.
    let bytes = (try? fd.readSome(max: ExecFailureReport.size)) ?? []
    fd.closeQuietly()
    let report = (try? ExecFailureReport.decode(bytes)) ?? nil
    supervisor.statusPipeResult(id, failure: report.map { Errno(rawValue: $0.errno) })
  }
}
