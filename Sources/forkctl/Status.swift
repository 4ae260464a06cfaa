import ForkctlClient
import ForkctlSys
import ForkctlWire

struct StatusCommand: Subcommand {
  static let name = "status"
  static let optionTable = OptionTable([.socket, .json])
  static let optionsAnywhere = true
  static let summary = "Say whether a daemon runs, and what it holds; never start one."
  static let usage = "forkctl status [--socket PATH] [--json]"
  static let help = """
    Say whether a daemon runs at the socket path and, if one does, its pid,
    version, protocol version, start time and uptime, its log (a file, or
    stderr), and its process objects by state, templates, pools and client
    connections. Never starts a daemon. Exits 0 when one runs, 3 when none
    answers (as systemctl status does), 125 when the socket cannot be used
    (another user's, or not answering).

    Options:
    \(ClientOptions.help)
      --json                Print a JSON object instead: {"running":false,
                            "socket":PATH} when none runs.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var json = false

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--json": json = true
      default: throw arguments.unknown(option)
      }
    }
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    let path = client.socketPath
    let status: DaemonStatus
    do {
      var c = try ForkctlConnection(socketPath: path, autoStart: false)
      status = try c.status()
    } catch  where error.underlying == .noSuchFileOrDirectory || error.underlying == .connectionRefused {
      // No socket, or one that a daemon left behind when it ended: nothing runs there.
      print(
        json
          ? "{\"running\":false,\"socket\":\(JSONText.quote(Array(path.utf8)))}"
          : "forkctl daemon at \(path): not running")
      throw Exit.notRunning
    } catch {
      throw fail(Self.explained(error, path))
    }
    print(json ? Self.json(status, socket: path) : Self.text(status, socket: path), terminator: "")
  }

  /// `error` with who owns the socket when the connection was not allowed.
  static func explained(_ error: ForkctlError, _ path: String) -> ForkctlError {
    guard error.underlying == .permissionDenied, let owner = try? Sys.linkStatus(path).owner, owner != Sys.userID
    else { return error }
    var e = error
    e.message += " (the socket belongs to uid \(owner), whose daemon does not admit this user)"
    return e
  }

  static func text(_ s: DaemonStatus, socket: String) -> String {
    let total = s.starting + s.ready + s.running + s.exited
    return """
      forkctl daemon at \(socket): running
        pid:        \(s.pid)
        version:    \(String(decoding: s.version, as: UTF8.self)) (protocol \(s.protocolVersion))
        started:    \(Sys.utcTime(milliseconds: Int64(clamping: s.startedAt)).iso8601) (up \(duration(s.uptime)))
        log:        \(String(decoding: s.log, as: UTF8.self))
        processes:  \(total) (\(s.starting) starting, \(s.ready) ready, \(s.running) running, \(s.exited) exited)
        templates:  \(s.templates)
        pools:      \(s.pools)
        clients:    \(s.connections)

      """
  }

  static func json(_ s: DaemonStatus, socket: String) -> String {
    let fields = [
      "\"running\":true", "\"socket\":\(JSONText.quote(Array(socket.utf8)))", "\"pid\":\(s.pid)",
      "\"version\":\(JSONText.quote(s.version))", "\"protocol\":\(s.protocolVersion)",
      "\"started\":\"\(Sys.utcTime(milliseconds: Int64(clamping: s.startedAt)).iso8601)\"",
      "\"uptime_ms\":\(s.uptime)", "\"log\":\(JSONText.quote(s.log))",
      "\"processes\":{\"starting\":\(s.starting),\"ready\":\(s.ready),\"running\":\(s.running),"
        + "\"exited\":\(s.exited)}",
      "\"templates\":\(s.templates)", "\"pools\":\(s.pools)", "\"connections\":\(s.connections)",
    ]
    return "{" + fields.joined(separator: ",") + "}\n"
  }

  /// `ms` as "2d 3h 4m 5s", its leading zero parts left out ("4m 5s", "0s").
  static func duration(_ ms: UInt64) -> String {
    let seconds = ms / 1000
    let parts: [(UInt64, String)] = [
      (seconds / 86400, "d"), (seconds / 3600 % 24, "h"), (seconds / 60 % 60, "m"), (seconds % 60, "s"),
    ]
    let shown = parts.drop { $0.0 == 0 && $0.1 != "s" }
    return shown.map { "\($0.0)\($0.1)" }.joined(separator: " ")
  }
}

extension Exit {
  /// status: no daemon answers at the socket path (systemctl status's 3).
  static let notRunning = Exit(3)
}
