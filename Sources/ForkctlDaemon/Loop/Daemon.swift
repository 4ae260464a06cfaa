// The daemon's start-up and shut-down: its private directory, the pidfile lock, the socket
// bound under a temporary name and renamed into place (or the one a service manager passed),
// the ready line for whoever started it; then the event loop (EventLoop.swift) until
// shutdown, and the socket (unless passed) and pidfile removed.
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
  public var maxConnections = DaemonDefaults.maxConnections
  /// A descriptor to write "ready\n" to once the socket accepts connections (auto-start).
  public var readyFD: FileDescriptor?
  /// Where the log goes and what it keeps (Log.swift).
  public var log = LogConfiguration()
  /// The version of forkctl this daemon is, for its start line and `status`.
  public var version = "unknown"
  /// The listening socket passed by socket activation, used instead of binding one; its
  /// file belongs to the service manager, which made it, and stays at exit.
  public var activated: ActivatedSocket?
  /// The service manager's NOTIFY_SOCKET (sd_notify(3)), told READY=1 and STOPPING=1.
  public var notifyAddress: [UInt8]?
  /// Its socket, opened by `Daemon.run` in the process that stays (after --background).
  var notifier: ServiceNotifier?

  public init(socketPath: String) { self.socketPath = socketPath }

  /// With socket activation, `socketPath` is the passed socket's.
  public init(socketPath: String, activated: ActivatedSocket?) {
    self.socketPath = activated?.path ?? socketPath
    self.activated = activated
  }

  public var directory: String {
    guard let slash = socketPath.lastIndex(of: "/") else { return "." }
    return slash == socketPath.startIndex ? "/" : String(socketPath[..<slash])
  }
  public var pidfilePath: String { socketPath + ".pid" }

  /// Whether --allow-uid or --allow-gid admit anybody besides our own user and root.
  var admitsOthers: Bool { !allowedUIDs.isEmpty || !allowedGIDs.isEmpty }
}

/// Why the daemon could not start.
public struct DaemonStartError: Error {
  public var message: String
  /// Another daemon holds the socket.
  public var alreadyRunning: Bool
}

/// The daemon process.
public enum Daemon {
  /// Runs the daemon until shutdown or a terminating signal. Returns the exit code: 0 after
  /// a shutdown or a terminating signal, 3 when another daemon holds the socket, 1 when it
  /// could not start or its loop failed.
  public static func run(_ configuration: DaemonConfiguration) -> Int32 {
    var config = configuration
    // Best effort: a manager that cannot be told still gets the daemon, and sees it listen.
    config.notifier = config.notifyAddress.flatMap { try? ServiceNotifier(address: $0) }
    let logger: DaemonLog
    do {
      logger = try DaemonLog(config.log)
    } catch {
      let message = "cannot open the log file \(config.log.destination): \(Sys.describe(error))"
      Sys.printError("forkctl daemon: \(message)")
      if let r = config.readyFD { try? r.writeFully(Readiness.failed(message: Array(message.utf8)).encode()) }
      return 1
    }
    do {
      try runThrowing(config, logger)
      return 0
    } catch {
      if config.log.path == nil {
        // On standard error it is the command's own failure, said as every forkctl command does.
        Sys.printError("forkctl daemon: \(error.message)")
      } else {
        logger.write(error.alreadyRunning ? .notice : .error, "cannot start: \(error.message)")
      }
      config.notifier?.send(["STATUS=cannot start: \(error.message)"])
      if let r = config.readyFD {
        // Best effort: whoever started us may have gone.
        let message = Array(error.message.utf8)
        let said: Readiness = error.alreadyRunning ? .alreadyRunning(message: message) : .failed(message: message)
        try? r.writeFully(said.encode())
      }
      return error.alreadyRunning ? 3 : 1
    }
  }

  /// Descriptors the daemon opens for itself once started: the pidfile, the listening
  /// socket, epoll, the signalfd and the spare kept to refuse connections with.
  static let ownDescriptors = 5
  /// The least room beyond those for clients to be served: a few connections, the default
  /// template's control socket pair, and the stdio a spawn passes.
  static let minimumClientDescriptors = 11

  /// Why the descriptor limit leaves too little room to serve anybody, or nil. Below it the
  /// daemon would say ready and then neither accept nor refuse a connection (issue 11,
  /// item 7), so it refuses to start instead.
  static func descriptorRoomProblem() -> String? {
    // Far above what is needed, nothing to count (and a poll of that many would be slow).
    guard let limit = Sys.descriptorLimit(), limit < 1 << 16 else { return nil }
    let open = limit > 0 ? Sys.openDescriptors(upTo: Int32(limit - 1)).filter { $0 }.count : 0
    let needed = ownDescriptors + minimumClientDescriptors
    guard limit - open < needed else { return nil }
    return "its descriptor limit (RLIMIT_NOFILE) of \(limit) leaves room for \(max(0, limit - open)) more besides "
      + "the \(open) open at start, and a daemon needs \(needed) (\(ownDescriptors) of its own and "
      + "\(minimumClientDescriptors) to serve a client); raise it (ulimit -n) or close descriptors it inherits"
  }

  private static func runThrowing(_ config: DaemonConfiguration, _ logger: DaemonLog) throws(DaemonStartError) {
    let path = config.socketPath
    // Before anything is created: a daemon that could serve nobody must not take the path.
    if let problem = descriptorRoomProblem() {
      throw DaemonStartError(message: "not enough descriptors: \(problem)", alreadyRunning: false)
    }
    // Before anything is created too: a daemon whose templates cannot start serves nobody.
    let image = try TemplateImage.current()
    do {
      // Made (0700) if missing, checked, and never changed here: the pidfile's lock in it
      // must say first whether another daemon runs there (issue 11, item 14).
      try Sys.makePrivateDirectory(config.directory)
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
    if config.admitsOthers {
      do {
        // Ours now: admitted others must reach the socket by its name, so the directory is
        // opened to 0711.
        try Sys.makePrivateDirectory(config.directory, searchableByOthers: true)
      } catch {
        pidfile.remove()
        throw DaemonStartError(message: error.description, alreadyRunning: false)
      }
    }
    let listener: FileDescriptor
    do {
      if let activated = config.activated { listener = activated.fd } else { listener = try listen(config) }
    } catch {
      pidfile.remove()
      throw error
    }
    do {
      try pidfile.write()
    } catch {
      listener.closeQuietly()
      if config.activated == nil { try? Sys.removeFile(path) }
      pidfile.remove()
      throw DaemonStartError(message: "cannot listen on \(path): \(Sys.describe(error))", alreadyRunning: false)
    }
    let result = Result { () throws(Errno) in try serve(config, logger, listener: listener, templateImage: image) }
    // Best effort on the way out: a path already gone is fine. A passed socket's file is the
    // service manager's, which listens on it again for the next start.
    if config.activated == nil { try? Sys.removeFile(path) }
    pidfile.remove()
    switch result {
    case .success(let loop):
      // Only now: a caller that runs `forkctl shutdown && forkctl list` must find the path
      // and the pid file free, or its next command would start a daemon that cannot take
      // them.
      loop.answerStopRequests()
    case .failure(let error):
      throw DaemonStartError(message: "event loop failed: \(Sys.describe(error))", alreadyRunning: false)
    }
  }

  /// We hold the lock, so any socket file is a leftover of a daemon that was killed. Binds
  /// under a temporary name and renames it into place: the path either answers or does not
  /// exist, and a client never connects to a half-set-up socket.
  private static func listen(_ config: DaemonConfiguration) throws(DaemonStartError) -> FileDescriptor {
    let path = config.socketPath
    let temporary = "\(path).\(Sys.processID).new"
    do {
      try Sys.removeFile(temporary)
      let listener = try UnixSocket.listen(at: temporary)
      // connect(2) needs write permission on the socket: the owner's alone, or everybody's
      // when others are admitted (SO_PEERCRED decides for each connection).
      try Sys.setMode(temporary, config.admitsOthers ? 0o666 : 0o600)
      try Sys.rename(temporary, path)
      try listener.setNonblocking(true)
      return listener
    } catch {
      try? Sys.removeFile(temporary)
      throw DaemonStartError(message: "cannot listen on \(path): \(Sys.describe(error))", alreadyRunning: false)
    }
  }

  /// Serves until the loop stops; returns the loop, which still holds the connections of
  /// the shutdown requests.
  private static func serve(
    _ config: DaemonConfiguration, _ logger: DaemonLog, listener: FileDescriptor, templateImage: TemplateImage
  ) throws(Errno) -> EventLoop {
    Sys.ignoreBrokenPipe()
    // Do not pin the directory the daemon happened to be started from; workers get their
    // client's directory with each run.
    try Sys.changeDirectory("/")
    try Sys.becomeChildSubreaper()
    let loop = try EventLoop(config: config, logger: logger, listener: listener, templateImage: templateImage)
    Sys.setProcessTitle("forkctl: daemon \(config.socketPath)")
    // Before the ready line: whoever waits for it finds the start in the log.
    loop.logStart()
    if let r = config.readyFD {
      // Best effort: whoever started us may have gone; the socket answers either way.
      try? r.writeFully(Readiness.ready.encode())
      r.closeQuietly()
    }
    // MAINPID: after --background this process is not the one the manager started.
    config.notifier?.send(["READY=1", "STATUS=listening on \(config.socketPath)", "MAINPID=\(Sys.processID)"])
    try loop.run()
    return loop
  }
}
