// Client connections: accepting them (SO_PEERCRED admission, each user's share of the slots,
// refusal with the spare descriptor when out of descriptors, a pause when nothing else
// works), reading requests one at a time (signal frames of an attached client at any time),
// refusing those that would pin the daemon's own sockets or cause unbounded work, and
// dropping connections: gone, idle too long, or too slow to send a frame (issue 11).
import ForkctlSys
import ForkctlWire

extension EventLoop {
  /// How long the listener rests after an accept error that no refusal could clear.
  static let listenerPause: Int64 = 100

  /// Connections accepted per readiness of the listener. The listener stays readable while
  /// more wait (level-triggered), so the rest come next round, after the hangups and requests
  /// of those just accepted: a burst of connections that close at once never fills the table
  /// with the dead.
  static let acceptBatch = 64

  func acceptClients() {
    for _ in 0..<Self.acceptBatch {
      let fd: FileDescriptor
      do {
        guard let accepted = try UnixSocket.accept(listener) else { return }
        fd = accepted
      } catch {
        // The connection stays in the backlog and the listener readable: returning would
        // spin the level-triggered loop. Out of descriptors, refuse it with the spare's
        // room; otherwise (no spare, or ENOMEM, ENOBUFS...) stop listening for a moment.
        if Sys.isDescriptorShortage(error) {
          switch refuseForLackOfDescriptors(error) {
          case .refused: continue
          case .backlogEmpty: return
          case .impossible: break
          }
        }
        logAcceptFailure(error)
        pauseListener()
        return
      }
      if let since = acceptFailures.since {
        log(.notice, "accepting connections again, \(Sys.monotonicMilliseconds() - since) ms after one failed")
        acceptFailures = (0, nil, 0)
      }
      if refusedForDescriptors > 0 {
        log(
          .notice,
          "accepting connections again, after refusing \(refusedForDescriptors) "
            + "for want of descriptors")
        refusedForDescriptors = 0
      }
      switch admission(fd) {
      case .refused(let code, let message):
        log(.notice, "refused a connection from \(Self.describePeer(fd)): \(message)")
        Self.turnAway(fd, code, message)
      case .admitted(let uid, let pid, let confinement):
        let id = nextClient
        nextClient += 1
        let c = ClientConnection(fd: fd, uid: uid, budget: readBudget)
        clients[id] = c
        connectionsPerUID[uid, default: 0] += 1
        supervisor.handle(.clientConnected(id, uid: uid, pid: pid, confinement: confinement))
        watch(fd, c.interest, .client(id))
      }
    }
  }

  /// How often an accept that keeps failing is logged: the listener is retried every
  /// `listenerPause` ms for as long as a client waits, and a line each time would fill the
  /// log (issue 11, item 7).
  static let acceptFailureLogInterval: Int64 = 60_000

  /// Logs a failed accept: the first of a run, then at most once per
  /// `acceptFailureLogInterval`, with how many there were in between.
  private func logAcceptFailure(_ error: Errno) {
    let now = Sys.monotonicMilliseconds()
    if acceptFailures.since != nil, now - acceptFailures.loggedAt < Self.acceptFailureLogInterval {
      acceptFailures.unlogged += 1
      return
    }
    let repeated = acceptFailures.unlogged > 0 ? " (\(acceptFailures.unlogged) more failed since the last line)" : ""
    log(
      .error,
      "cannot accept a connection: \(Sys.describe(error))\(repeated); "
        + "retrying every \(Self.listenerPause) ms, logged at most once a minute")
    acceptFailures = (0, acceptFailures.since ?? now, now)
  }

  /// The spare descriptor; nil when even that cannot be had (then an accept that fails for
  /// want of descriptors pauses the listener instead of refusing).
  func openSpare() -> FileDescriptor? { try? Sys.open("/dev/null", .readOnly) }

  private enum DescriptorRefusal { case refused, backlogEmpty, impossible }

  /// accept failed with EMFILE or ENFILE: spends the spare descriptor to accept the waiting
  /// connection, tells it why it is refused, closes it and takes the spare back.
  private func refuseForLackOfDescriptors(_ error: Errno) -> DescriptorRefusal {
    guard let s = spare else { return .impossible }
    s.closeQuietly()
    spare = nil
    defer { spare = openSpare() }
    let accepted: FileDescriptor?
    do {
      accepted = try UnixSocket.accept(listener)
    } catch {
      return .impossible
    }
    guard let fd = accepted else { return .backlogEmpty }
    if refusedForDescriptors == 0 {
      log(.warning, "\(Self.descriptorShortage(error)); refusing new connections until some close")
    }
    refusedForDescriptors += 1
    Self.turnAway(fd, .limitReached, "\(Self.descriptorShortage(error)); try again once some work has ended")
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

  private func pauseListener() {
    guard listenerPausedUntil == nil else { return }
    epoll.remove(listener)
    listenerPausedUntil = Sys.monotonicMilliseconds() + Self.listenerPause
  }

  func resumeListener() {
    listenerPausedUntil = nil
    if spare == nil { spare = openSpare() }
    do {
      try epoll.add(listener, .readable, token: Token.listener.rawValue)
    } catch {
      log(.error, "cannot watch the listening socket: \(Sys.describe(error)); retrying")
      listenerPausedUntil = Sys.monotonicMilliseconds() + Self.listenerPause
    }
  }

  /// Sends a connection that is not served a failure reply, without waiting (best effort:
  /// it may have gone already), and closes it.
  static func turnAway(_ fd: FileDescriptor, _ code: ErrorCode, _ message: String) {
    let connection = Connection(fd: fd)
    connection.sendLast(Reply.failure(code, message).frame())
    connection.close()
  }

  private enum Admission {
    case admitted(uid: UInt32, pid: Int32, Confinement)
    case refused(ErrorCode, String)
  }

  /// The peer of connection `fd` for the log: "uid 1000, pid 4242" (SO_PEERCRED, whose pid
  /// is the process that connected).
  static func describePeer(_ fd: FileDescriptor) -> String {
    guard let cred = try? UnixSocket.peerCredentials(fd) else { return "a peer of unknown credentials" }
    return "uid \(cred.uid), pid \(cred.pid)"
  }

  /// Whether a new connection is served: its peer's uid, or why not.
  private func admission(_ fd: FileDescriptor) -> Admission {
    // Who cannot be identified is not admitted.
    guard let cred = try? UnixSocket.peerCredentials(fd) else {
      return .refused(.permissionDenied, "cannot read peer credentials")
    }
    guard
      cred.uid == Sys.userID || cred.uid == 0 || config.allowedUIDs.contains(cred.uid)
        || config.allowedGIDs.contains(cred.gid)
    else {
      return .refused(.permissionDenied, "uid \(cred.uid) is not allowed to use this daemon")
    }
    // A client of another user (root, or one admitted by --allow-uid or --allow-gid) gets the
    // daemon's user's power by design, and its /proc is not the daemon's to read unless the
    // daemon is root: the confinement check is for clients of the daemon's own user, whom a
    // sandbox would otherwise not hold.
    var confinement = Confinement()
    if cred.uid == Sys.userID || Sys.userID == 0 {
      switch confinementOf(fd) {
      case .failure(let refusal): return .refused(.permissionDenied, refusal.message)
      case .success(let c): confinement = c
      }
    }
    if clients.count >= config.maxConnections {
      return .refused(
        .limitReached, "too many connections (\(config.maxConnections)); try again once some have closed")
    }
    if let share = userShare, connectionsPerUID[cred.uid, default: 0] >= share {
      return .refused(
        .limitReached,
        "too many connections for uid \(cred.uid) (\(share) of \(config.maxConnections), the rest are kept for "
          + "other users); try again once some have closed")
    }
    return .admitted(uid: cred.uid, pid: cred.pid, confinement)
  }

  /// The most connections one user may hold when the daemon admits others: seven eighths of
  /// them, so that one user's idle connections never lock the others out; nil when it serves
  /// its own user alone (and root, who can stop it anyway).
  var userShare: Int? {
    config.admitsOthers ? config.maxConnections - config.maxConnections / 8 : nil
  }

  /// Why a client may not be served although its user may: a program the daemon starts for
  /// it would escape what confines the client. Namespaces and seccomp filters cannot be put
  /// on a forked process after the fact, so such a client is refused, not served weakened.
  private struct Refusal: Error { var message: String }

  /// What a program started for this client must be held to (no_new_privs, capabilities:
  /// put on the program before exec), or why the client is refused: a program the daemon
  /// starts for it would escape what confines it, and namespaces and seccomp filters cannot
  /// be put on a forked process after the fact, so such a client is refused, not served
  /// weakened.
  private func confinementOf(_ fd: FileDescriptor) -> Result<Confinement, Refusal> {
    var peer: ProcessRestrictions
    do {
      peer = try UnixSocket.peerRestrictions(fd)
    } catch {
      // Reading takes one descriptor at a time: out of them, the spare makes the room.
      guard Sys.isDescriptorShortage(error), let s = spare else {
        return .failure(Refusal(message: "cannot read what confines the client (/proc): \(Sys.describe(error))"))
      }
      s.closeQuietly()
      spare = nil
      defer { spare = openSpare() }
      do {
        peer = try UnixSocket.peerRestrictions(fd)
      } catch {
        return .failure(Refusal(message: "cannot read what confines the client (/proc): \(Sys.describe(error))"))
      }
    }
    let namespaces = ownRestrictions.differingNamespaces(peer)
    if !namespaces.isEmpty {
      return .failure(
        Refusal(
          message: "the client is in another \(namespaces.joined(separator: ", ")) namespace than the daemon, "
            + "which the programs it starts would escape; start a daemon of its own there (FORKCTL_SOCKET)"))
    }
    if peer.seccompMode != 0
      && (peer.seccompMode != ownRestrictions.seccompMode || peer.seccompFilters > ownRestrictions.seccompFilters)
    {
      return .failure(
        Refusal(
          message: "the client runs under a seccomp filter that the daemon does not have, "
            + "which the programs it starts would escape; start a daemon of its own under the same filter"))
    }
    return .success(Confinement(peer: peer, daemon: ownRestrictions))
  }

  func dropClient(_ id: ClientID, reset: Bool = false) {
    guard let c = clients.removeValue(forKey: id) else { return }
    connectionsPerUID[c.uid, default: 1] -= 1
    if connectionsPerUID[c.uid] == 0 { connectionsPerUID[c.uid] = nil }
    // ECONNRESET: the client closed without reading what was sent to it.
    let unread = reset || UnixSocket.pendingError(c.connection.fd) == .connectionReset
    epoll.remove(c.connection.fd)
    c.connection.close()
    supervisor.handle(.clientGone(id, repliesUnread: unread))
  }

  /// Writes what is queued for client `id`, and watches for writability while it must.
  func flush(_ id: ClientID, _ c: ClientConnection) -> Bool {
    let before = c.connection.wantsWrite
    let result = c.connection.flush()
    if c.connection.wantsWrite != before { rewatch(c.connection.fd, c.interest, .client(id)) }
    return result != .broken
  }

  func serviceClient(_ id: ClientID, _ interest: Epoll.Interest) {
    guard let c = clients[id] else { return }
    if interest.contains(.writable) {
      guard flush(id, c) else { return dropClient(id) }
      // All sent: a request read before the replies backed up may be waiting.
      if !c.connection.wantsWrite { resumable.append(id) }
    }
    if interest.contains(.readable) && c.takesRequests {
      switch c.connection.readAvailable() {
      case .open: break
      case .closed: return dropClient(id)
      case .reset: return dropClient(id, reset: true)
      case .descriptorsLost(shortage: false):
        // More than a frame may carry in one sendmsg: dropped without a reply
        // (forkctl-protocol(7)).
        return dropClient(id)
      case .descriptorsLost(shortage: true):
        // The frame cannot have its descriptors any more, for want of descriptors here:
        // say so, and drop the connection.
        let message = "cannot receive the descriptors sent: \(Self.descriptorShortage(.tooManyOpenFiles))"
        return refuse(id, c, .limitReached, message)
      case .overBudget:
        let message =
          "cannot receive a frame: clients' incomplete frames already hold \(readBudget.limit) bytes of the "
          + "daemon's memory; try again"
        return refuse(id, c, .limitReached, message)
      }
      handleBufferedRequests(id)
    } else if !interest.intersection([.hangup, .error, .readHangup]).isEmpty {
      return dropClient(id)
    }
  }

  /// Handles the next complete request of a client that is not busy, and the signal frames
  /// of an attached one.
  func handleBufferedRequests(_ id: ClientID) {
    while let c = clients[id], c.takesRequests {
      let frame: Frame
      let fds: [FileDescriptor]
      do {
        // One frame at most is buffered; the rest waits in the socket, which epoll
        // reports again (level-triggered).
        guard let next = try c.connection.nextFrame() else { return }
        (frame, fds) = next
      } catch {
        return refuse(id, c, .protocolError, "protocol error: \(error.description)")
      }
      let request: Request
      do {
        request = try Request(frame)
      } catch {
        for f in fds { f.closeQuietly() }
        return refuse(id, c, .protocolError, "protocol error: \(error.description)")
      }
      if logger.wants(.debug) { log(.debug, "client \(id): \(frame.type) request, \(fds.count) descriptors") }
      if case .signal = request {
        supervisor.handle(.request(request, fds: fds, from: id))
        continue
      }
      if c.busy {
        for f in fds { f.closeQuietly() }
        let violation = WireError.invalid("only signal frames may follow spawn or run with wait before its status")
        return refuse(id, c, .protocolError, "protocol error: \(violation.description)")
      }
      c.busy = true
      rewatch(c.connection.fd, c.interest, .client(id))
      if let (code, message) = Self.refusal(of: request, fds: fds) {
        for f in fds { f.closeQuietly() }
        // The reply makes the connection ready for its next request.
        supervisor.effects.reply(id, .failure(code, message))
        return
      }
      supervisor.handle(.request(request, fds: fds, from: id))
      return
    }
  }

  /// Why a request is refused before the Supervisor sees it, if it is.
  static func refusal(of request: Request, fds: [FileDescriptor]) -> (ErrorCode, String)? {
    switch request {
    case .wait(let refs), .kill(_, let refs, _), .memory(let refs):
      // Each ref is a lookup, and each wait is checked again at every exit: bounded.
      if refs.count > DaemonDefaults.maxRefsPerRequest {
        return (
          .limitReached,
          "cannot name \(refs.count) process objects in one request: at most \(DaemonDefaults.maxRefsPerRequest)"
        )
      }
    default:
      break
    }
    if let n = fds.firstIndex(where: isDaemonSocket) {
      return (
        .badRequest,
        "cannot take descriptor \(n + 1) of the request: it is a socket connected to this daemon (a client "
          + "connection or a process object's control socket), which a process object holding it would keep open "
          + "for as long as it lives"
      )
    }
    return nil
  }

  /// A received descriptor is a socket whose peer is this daemon: a client's end of a
  /// connection (its peer is the listener, whose credentials are the daemon's from listen(2)
  /// on), the listener itself, or an end of a control socket pair the daemon made. Passed
  /// to a process object, it would keep that connection open as long as the object lives
  /// (issue 11, item 11). SO_PEERCRED, unix(7); other descriptors fail it with ENOTSOCK.
  static func isDaemonSocket(_ fd: FileDescriptor) -> Bool {
    guard let peer = try? UnixSocket.peerCredentials(fd) else { return false }
    return peer.pid == Sys.processID
  }

  /// A timeout from the environment (milliseconds, for tests and odd deployments), or the
  /// default; forkctl(1), ENVIRONMENT.
  static func timeout(_ variable: String, _ fallback: Int64) -> Int64 {
    guard let text = Sys.environmentValue(variable), let ms = Int64(text), ms > 0 else { return fallback }
    return ms
  }

  /// How often connections are checked against the timeouts: a quarter of the shorter one,
  /// so none outlives its timeout by more than that, at most once a second.
  static func timeoutCheckInterval(_ idle: Int64, _ frame: Int64) -> Int64 {
    max(10, min(1000, min(idle, frame) / 4))
  }

  /// Drops the connections idle longer than the idle timeout (nothing asked, nothing
  /// owed) and those whose frame began longer ago than the frame timeout (a slow loris), so
  /// that no connection holds a slot and its buffer for ever. One that waits for its reply
  /// or its program's status is not idle.
  func dropTimedOutClients() {
    let now = Sys.monotonicMilliseconds()
    nextTimeoutCheck = now + Self.timeoutCheckInterval(idleTimeout, frameTimeout)
    var expired: [(ClientID, ClientConnection, String)] = []
    for (id, c) in clients {
      if let started = c.connection.frameStartedAt, now - started >= frameTimeout {
        expired.append((id, c, "a frame was begun and not finished within \(frameTimeout) ms"))
      } else if !c.busy && c.connection.frameStartedAt == nil && now - c.idleSince >= idleTimeout {
        expired.append((id, c, "the connection was idle for \(idleTimeout) ms"))
      }
    }
    for (id, c, why) in expired { refuse(id, c, .limitReached, "closing the connection: \(why)") }
  }

  /// A last failure reply to a client (a protocol violation, descriptors it sent that could
  /// not be had), then its connection dropped. Nobody else notices.
  private func refuse(_ id: ClientID, _ c: ClientConnection, _ code: ErrorCode, _ message: String) {
    log(
      code == .protocolError ? .warning : .info,
      "dropping client \(id) (\(Self.describePeer(c.connection.fd))): \(message)")
    c.connection.sendLast(Reply.failure(code, message).frame())
    dropClient(id)
  }
}
