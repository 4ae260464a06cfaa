import ForkctlClient
import ForkctlDaemon
import ForkctlSys
import ForkctlWire

struct DaemonCommand: Subcommand {
  static let name = "daemon"
  static let optionTable = OptionTable([
    .socket, OptionSpec("--allow-uid", .user, repeatable: true), OptionSpec("--allow-gid", .group, repeatable: true),
    OptionSpec("--max-processes", .number), OptionSpec("--max-processes-per-user", .number),
    OptionSpec("--max-connections", .number), OptionSpec("--kill-grace", .seconds),
    OptionSpec("--template-timeout", .seconds), OptionSpec("--background"), OptionSpec("--log-file", .path),
    OptionSpec("--log-level", .choice(["error", "warning", "notice", "info", "debug"])),
    OptionSpec("--log-max-bytes", .number),
    OptionSpec("--ready-fd", .descriptor),
  ])
  static let summary = "Run the daemon in the foreground."
  static let usage = "forkctl daemon [OPTION...]"
  static let help = """
    Run the daemon in the foreground (clients start one by themselves when none
    runs). The default template runs this executable; templates made by exec run
    $FORKCTL_TEMPLATE_IMAGE, else forkctl-template beside it or in
    ../libexec/forkctl, else this executable too.

    Under a service manager: a listening socket passed by socket activation
    (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES: the one named forkctl, or the only
    one) is served instead of binding one, and is left in place at exit; with
    NOTIFY_SOCKET the daemon sends READY=1 once it serves and STOPPING=1 when it
    stops (systemd Type=notify). See SERVICE MANAGERS in forkctl(1).

    Options:
      --socket PATH         The socket to listen on.
      --allow-uid USER      Also admit this user, by name or uid (repeatable). An
                            admitted user can run programs as the daemon's user.
      --allow-gid GROUP     Also admit members of this group, by name or gid, by
                            their primary gid (repeatable).
      --max-processes N     Most process objects kept at once (default \(DaemonDefaults.maxProcesses)).
      --max-processes-per-user N
                            Most process objects kept at once for one user
                            (default \(DaemonDefaults.maxProcessesPerUser)).
      --max-connections N   Most client connections at once (default \(DaemonDefaults.maxConnections)).
      --kill-grace SECONDS  Seconds a spawned program whose client died has between
                            SIGTERM and SIGKILL (default \(Self.seconds(defaultGrace))).
      --template-timeout SECONDS
                            Seconds a template asked to fork has to answer; one
                            that does not (stopped, wedged) is killed and the
                            requests queued on it fail (default \(Self.seconds(defaultTemplateTimeout))).
                            A language host has as long to start serving.
      --log-file PATH       Write the log to PATH (appended, made 0600), and
                            standard error with it; when it would pass
                            --log-max-bytes it is renamed to PATH.1 (replacing
                            the older one) and a new one begun. Without it the
                            log goes to standard error.
      --log-level LEVEL     Log lines at LEVEL and above: error, warning,
                            notice, info or debug (default \(LogLevel.defaultLevel.name)).
      --log-max-bytes N     The size that --log-file rotates at (default \(DaemonDefaults.logMaxBytes)).
      --background          Fork into the background and start a new session.
      --ready-fd N          Write a line to descriptor N and close it: "ready"
                            once it serves, "error ..." when it cannot start
                            (s6's notification-fd).
      -h, --help            Show this help.

    """

  /// `--socket`: here the socket to listen on.
  var listen = ClientOptions()
  var allowUIDs: [UInt32] = []
  var allowGIDs: [UInt32] = []
  var maxProcesses = DaemonDefaults.maxProcesses
  var maxProcessesPerUser = DaemonDefaults.maxProcessesPerUser
  var maxConnections = DaemonDefaults.maxConnections
  var killGraceMilliseconds = DaemonDefaults.killGraceMilliseconds
  var templateTimeoutMilliseconds = DaemonDefaults.templateTimeoutMilliseconds
  var log = LogConfiguration()
  var background = false
  /// Where the auto-starting client (or s6-supervise, as notification-fd) waits for the
  /// daemon to be ready.
  var readyFD: Int32?

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &listen) {
      switch option {
      case "--allow-uid":
        allowUIDs.append(try Self.id(try arguments.value(), of: "user", for: option, Sys.userID(named:)))
      case "--allow-gid":
        allowGIDs.append(try Self.id(try arguments.value(), of: "group", for: option, Sys.groupID(named:)))
      case "--max-processes": maxProcesses = try arguments.integer(Int.self, "a number")
      case "--max-processes-per-user": maxProcessesPerUser = try arguments.integer(Int.self, "a number")
      case "--max-connections": maxConnections = try arguments.integer(Int.self, "a number")
      case "--kill-grace": killGraceMilliseconds = try arguments.seconds(option, from: 0)
      case "--template-timeout": templateTimeoutMilliseconds = try arguments.seconds(option, from: 0.001)
      case "--log-file": log.path = try arguments.value()
      case "--log-level":
        let name = try arguments.value()
        guard let level = LogLevel(name: name) else {
          throw .usage("--log-level '\(name)' is none of error, warning, notice, info, debug")
        }
        log.level = level
      case "--log-max-bytes": log.maxBytes = try arguments.integer(Int64.self, "a number")
      case "--background": background = true
      case "--ready-fd": readyFD = try arguments.integer(Int32.self, "a descriptor number")
      default: throw arguments.unknown(option)
      }
    }
    try arguments.requireEnd()
    if maxProcesses < 1 { throw .usage("--max-processes must be at least 1") }
    if maxProcessesPerUser < 1 { throw .usage("--max-processes-per-user must be at least 1") }
    if maxConnections < 1 { throw .usage("--max-connections must be at least 1") }
    if log.maxBytes < 1 { throw .usage("--log-max-bytes must be at least 1") }
    if log.path?.isEmpty == true { throw .usage("--log-file must name a file") }
  }

  func run() throws(Exit) {
    // Before --background forks: LISTEN_PID names this process (sd_listen_fds(3)), and the
    // environment is cleared of them and NOTIFY_SOCKET before any template is started.
    let activated: ActivatedSocket?
    do {
      activated = try ActivatedSocket.take()
    } catch {
      Sys.printError("forkctl: cannot start daemon: \(error.message)")
      throw Exit(1)
    }
    let notifyAddress = ServiceManager.takeNotifyAddress()
    if let activated, listen.socket != nil, listen.socketPath != activated.path {
      Sys.printError(
        "forkctl: cannot start daemon: --socket \(listen.socketPath) is not the socket passed by socket activation, "
          + "which is bound to \(activated.path)")
      throw Exit(1)
    }
    // Before the directory and the pidfile are made: bind(2) would fail only after them.
    if activated == nil, let problem = UnixSocket.listeningPathProblem(listen.socketPath) {
      Sys.printError("forkctl: cannot start daemon: \(problem)")
      throw Exit(1)
    }
    var ready = readyFD.map { FileDescriptor(rawValue: $0) }
    if background { ready = try Self.goIntoBackground(reportingTo: ready, logsToFile: log.path != nil) }
    Sys.initializeProcessTitle()
    var config = DaemonConfiguration(socketPath: listen.socketPath, activated: activated)
    config.notifyAddress = notifyAddress
    config.allowedUIDs = allowUIDs
    config.allowedGIDs = allowGIDs
    config.limits.maxProcesses = maxProcesses
    config.limits.maxProcessesPerUser = maxProcessesPerUser
    config.maxConnections = maxConnections
    config.limits.killGraceMilliseconds = killGraceMilliseconds
    config.limits.templateTimeoutMilliseconds = templateTimeoutMilliseconds
    config.readyFD = ready
    config.log = log
    if let path = log.path, !path.hasPrefix("/") {
      // The daemon works from / and reopens the file by its path when it rotates it.
      guard let here = try? Sys.currentDirectoryPath() else {
        Sys.printError("forkctl: cannot start daemon: --log-file \(path) is relative and the directory is unknown")
        throw Exit(1)
      }
      config.log.path = here + "/" + path
    }
    config.version = Forkctl.version
    throw Exit(Daemon.run(config))
  }

  /// --background: the daemon goes on in a forked child, and the command returns once it
  /// knows how the start went, with the daemon's own exit status (0 ready, 3 another daemon
  /// runs, 1 it failed: the reason is on the shared standard error), passing the ready line
  /// on to `readyFD`. The child's ready descriptor is the pipe to this parent.
  /// With `logsToFile` the daemon says why it failed in its log file, not on the standard
  /// error it shares with this parent, so the parent says it too, unless a ready descriptor
  /// takes the message to whoever started it.
  static func goIntoBackground(reportingTo readyFD: FileDescriptor?, logsToFile: Bool) throws(Exit) -> FileDescriptor {
    let pipe: (read: FileDescriptor, write: FileDescriptor)
    let pid: Int32
    do {
      pipe = try Sys.pipe()
      pid = try Sys.forkIntoBackground()
    } catch {
      Sys.printError("forkctl: cannot fork into the background: \(Sys.describe(error))")
      throw Exit(1)
    }
    if pid == 0 {
      pipe.read.closeQuietly()
      readyFD?.closeQuietly()
      return pipe.write
    }
    pipe.write.closeQuietly()
    let line = (try? pipe.read.readAll(limit: 4096)) ?? []
    if let readyFD { try? readyFD.writeFully(line) }
    let decoded = try? Readiness.decode(line)
    if logsToFile && readyFD == nil {
      switch decoded {
      case .alreadyRunning(let m)?, .failed(let m)?:
        Sys.printError("forkctl daemon: \(String(decoding: m, as: UTF8.self))")
      case .ready?, nil: break
      }
    }
    switch decoded {
    case .ready?: throw Exit(0)
    case .alreadyRunning?: throw Exit(3)
    case .failed?, nil: throw Exit(1)
    }
  }

  /// The user or group id `text` names, by number or by name (found with `lookUp`).
  static func id(
    _ text: String, of what: String, for option: String, _ lookUp: (String) throws(Errno) -> UInt32?
  ) throws(ArgumentError) -> UInt32 {
    if let n = UInt32(text) { return n }
    let found: UInt32?
    do {
      found = text.isEmpty ? nil : try lookUp(text)
    } catch {
      throw .usage("\(option) '\(text)': cannot look up the \(what): \(Sys.describe(error))")
    }
    guard let found else { throw .usage("\(option) '\(text)' is neither a \(what) id nor a \(what) name") }
    return found
  }

  private static let defaultGrace = DaemonDefaults.killGraceMilliseconds
  private static let defaultTemplateTimeout = DaemonDefaults.templateTimeoutMilliseconds

  /// `ms` as the seconds --kill-grace takes: `3` for 3000, `2.5` for 2500.
  static func seconds(_ ms: Int64) -> String {
    ms % 1000 == 0 ? String(ms / 1000) : String(Double(ms) / 1000)
  }
}

extension Arguments {
  /// The value of `option`, seconds from `least` to 86400 (a day), in ms.
  mutating func seconds(_ option: String, from least: Double) throws(ArgumentError) -> Int64 {
    guard let seconds = Double(try value()), seconds >= least, seconds <= 86400 else {
      throw .usage("\(option) must be from \(least == 0 ? "0" : String(least)) to 86400 seconds")
    }
    return Int64(seconds * 1000)
  }
}
