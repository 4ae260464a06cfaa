import ForkctlSys
import ForkctlWire

/// Connects to the daemon, starting one when none answers. Two clients racing end with one
/// daemon: starters take an exclusive lock on `start.lock` beside the socket, and the one that
/// gets it second finds the first one's daemon answering. Each wait (the connect, the
/// daemon's ready line) lasts at most `timeoutMilliseconds` (-1: for ever).
enum DaemonStarter {
  static func connect(
    _ path: String, autoStart: Bool, executable: String?, timeoutMilliseconds: Int32
  ) throws(ForkctlError) -> FileDescriptor {
    let fd = try connectOrStart(
      path, autoStart: autoStart, executable: executable, timeoutMilliseconds: timeoutMilliseconds)
    do throws(ForkctlError) {
      try checkPeer(fd, path)
    } catch {
      fd.closeQuietly()
      throw error
    }
    return fd
  }

  /// Refuses a daemon that runs as neither this user nor root: whatever listens on the path
  /// gets this process's descriptors, environment and programs to run, and a path under
  /// another user's control (a FORKCTL_SOCKET or XDG_RUNTIME_DIR that `su` kept) may be
  /// served by that user (issue 11, item 12). For a connection still in the backlog,
  /// SO_PEERCRED names whoever called listen(2) (unix(7)).
  private static func checkPeer(_ fd: FileDescriptor, _ path: String) throws(ForkctlError) {
    let peer: UInt32
    do {
      peer = try UnixSocket.peerCredentials(fd).uid
    } catch {
      throw ForkctlError(
        .daemonUnavailable, "cannot tell who serves \(path) (SO_PEERCRED): \(Sys.describe(error))", underlying: error)
    }
    let own = Sys.userID
    guard peer != own && peer != 0 && peer != trustedDaemonUID else { return }
    throw ForkctlError(
      .daemonUnavailable,
      "refusing the daemon at \(path): it runs as uid \(peer), neither this user (uid \(own)) nor root, and would get "
        + "this process's descriptors and environment; check FORKCTL_SOCKET and XDG_RUNTIME_DIR, "
        + "or use --socket with a path of your own (FORKCTL_DAEMON_UID=\(peer) trusts that user's daemon, "
        + "one that admits you with --allow-uid)")
  }

  /// The one other user whose daemon the caller trusts: `FORKCTL_DAEMON_UID`, for a daemon
  /// of that user which admits this one (`forkctl daemon --allow-uid`).
  private static var trustedDaemonUID: UInt32? {
    Sys.environmentValue("FORKCTL_DAEMON_UID").flatMap { UInt32($0) }
  }

  private static func connectOrStart(
    _ path: String, autoStart: Bool, executable: String?, timeoutMilliseconds: Int32
  ) throws(ForkctlError) -> FileDescriptor {
    // Before anything is created beside it (.start.lock, .log), and whether or not a daemon
    // runs: no daemon can listen there.
    if let problem = UnixSocket.listeningPathProblem(path) {
      throw ForkctlError(.daemonUnavailable, "cannot connect to daemon: \(problem)", underlying: .fileNameTooLong)
    }
    do {
      return try UnixSocket.connect(to: path, timeoutMilliseconds: timeoutMilliseconds)
    } catch {
      guard autoStart, error == .noSuchFileOrDirectory || error == .connectionRefused else {
        throw connectFailure(path, error, timeoutMilliseconds)
      }
    }
    return try start(path, executable: executable, timeoutMilliseconds: timeoutMilliseconds)
  }

  /// Why connecting to `path` failed; EAGAIN is the bound running out while the daemon's
  /// backlog stayed full (it accepts nothing: stopped, or a socket nobody serves).
  private static func connectFailure(
    _ path: String, _ error: Errno, _ timeoutMilliseconds: Int32, after: String = ""
  ) -> ForkctlError {
    let why =
      error == .wouldBlock
      ? "it accepted no connection within \(ForkctlConnection.seconds(timeoutMilliseconds)) s "
        + "(is it stopped? FORKCTL_TIMEOUT sets this bound)"
      : Sys.describe(error)
    return ForkctlError(.daemonUnavailable, "cannot connect to daemon at \(path)\(after): \(why)", underlying: error)
  }

  /// The forkctl executable that starts a daemon: `executable`, else $FORKCTL_EXECUTABLE,
  /// else `forkctl` in $PATH.
  static func daemonExecutable(_ executable: String?) -> String? {
    if let executable { return executable }
    if let e = Sys.environmentValue("FORKCTL_EXECUTABLE"), !e.isEmpty { return e }
    for dir in (Sys.environmentValue("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
      let candidate = "\(dir)/forkctl"
      if Sys.isExecutable(candidate) { return candidate }
    }
    return nil
  }

  private static func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  private static func start(
    _ path: String, executable: String?, timeoutMilliseconds: Int32
  ) throws(ForkctlError) -> FileDescriptor {
    let dir = directory(of: path)
    do {
      try Sys.makePrivateDirectory(dir)
    } catch {
      throw ForkctlError(.daemonUnavailable, "cannot start daemon: \(error.description)\(advice(error))")
    }
    let lock: FileDescriptor
    let locked: Bool
    do throws(Errno) {
      lock = try Sys.openOrCreate(path + ".start.lock")
      // Another client may be starting the daemon: its start is bounded, but it may be
      // stopped or wedged, so this wait is bounded too (issue 11 item 6).
      locked = try Sys.lockExclusive(lock, timeoutMilliseconds: timeoutMilliseconds)
    } catch {
      throw ForkctlError(
        .daemonUnavailable, "cannot lock \(path).start.lock: \(Sys.describe(error))", underlying: error)
    }
    defer { lock.closeQuietly() }
    guard locked else {
      throw ForkctlError(
        .daemonUnavailable,
        "cannot start the daemon at \(path): another process held \(path).start.lock for "
          + "\(ForkctlConnection.seconds(timeoutMilliseconds)) s (FORKCTL_TIMEOUT) while starting one; "
          + "see who holds it with fuser \(path).start.lock")
    }
    if let fd = try? UnixSocket.connect(to: path, timeoutMilliseconds: timeoutMilliseconds) { return fd }
    try spawnDaemon(path, executable: executable, timeoutMilliseconds: timeoutMilliseconds)
    do {
      return try UnixSocket.connect(to: path, timeoutMilliseconds: timeoutMilliseconds)
    } catch {
      throw connectFailure(path, error, timeoutMilliseconds, after: " after starting it")
    }
  }

  /// What to do about a socket directory that is not ours: another user may have made it
  /// first, to lock us out or to serve our connections.
  private static func advice(_ error: PrivateDirectoryError) -> String {
    let status = try? Sys.linkStatus(error.path)
    guard let status, status.owner != Sys.userID || status.isSymbolicLink else { return "" }
    let what = status.isSymbolicLink ? "a symbolic link" : status.isDirectory ? "a directory" : "a file"
    let home =
      error.path == sharedSocketDirectory
      ? "; with HOME set, forkctl uses $HOME/.forkctl/sock instead" : ""
    return "; it is \(what) of uid \(status.owner), which another user can create first to lock you out or "
      + "to serve your connections: set FORKCTL_SOCKET (or --socket) to a path in a directory of your own, "
      + "or have root remove it\(home)"
  }

  /// Starts `forkctl daemon` in the background and waits for it to say it is listening.
  private static func spawnDaemon(_ path: String, executable: String?, timeoutMilliseconds: Int32) throws(ForkctlError)
  {
    let fail = { (what: String, e: Errno) in
      ForkctlError(.daemonUnavailable, "cannot start daemon for \(path): \(what): \(Sys.describe(e))", underlying: e)
    }
    let exe: String
    let ready: (read: FileDescriptor, write: FileDescriptor)
    let log: FileDescriptor
    guard let found = daemonExecutable(executable) else {
      throw ForkctlError(
        .daemonUnavailable,
        "cannot start daemon for \(path): no forkctl executable (set FORKCTL_EXECUTABLE or put forkctl in PATH)")
    }
    exe = found
    do { ready = try Sys.pipe() } catch { throw fail("pipe", error) }
    defer { ready.read.closeQuietly() }
    do {
      // Its standard error until it opens the log itself (--log-file), for what goes wrong
      // before: its arguments, a trap.
      log = try Sys.openForAppending(path + ".log")
    } catch {
      ready.write.closeQuietly()
      throw fail("cannot open \(path).log", error)
    }
    let pid: Int32
    do {
      pid = try Sys.posixSpawn(
        path: exe,
        arguments: [
          "forkctl", "daemon", "--socket", path, "--ready-fd", "3", "--background", "--log-file", path + ".log",
        ],
        environment: [], fds: [nil, nil, log, ready.write], newSession: true)
    } catch {
      ready.write.closeQuietly()
      log.closeQuietly()
      throw fail("posix_spawn", error)
    }
    ready.write.closeQuietly()
    log.closeQuietly()
    // The ready line (or end of file) first: the parent half waits for it before it exits.
    let answered = (try? Sys.waitReadable([ready.read], timeoutMilliseconds: timeoutMilliseconds))?[0] ?? true
    if !answered {
      // It is stuck before it could listen; no zombie of it may be left in a long-lived client.
      try? Sys.kill(pid, .kill)
      _ = try? Sys.waitChild(pid)
      throw ForkctlError(
        .daemonUnavailable,
        "cannot start daemon for \(path): it did not say it was ready within "
          + "\(ForkctlConnection.seconds(timeoutMilliseconds)) s (see \(path).log; FORKCTL_TIMEOUT sets this bound)")
    }
    // The daemon forks once into the background; reap the parent half so no zombie of it is
    // left in a long-lived client.
    _ = try? Sys.waitChild(pid)
    let answer = (try? ready.read.readAll(limit: 4096)) ?? []
    let message: String
    switch try? Readiness.decode(answer) {
    case .ready?, .alreadyRunning?: return  // running: another daemon won the race
    case .failed(let said)?: message = String(decoding: said, as: UTF8.self)
    case nil: message = "it exited without a word (see \(path).log)"
    }
    throw ForkctlError(.daemonUnavailable, "cannot start daemon for \(path): \(message)")
  }
}
