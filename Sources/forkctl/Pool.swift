import ForkctlClient
import ForkctlSys
import ForkctlWire

struct PoolCommand: Subcommand {
  static let name = "pool"
  /// Before the operation; each operation's table then replaces it.
  static let optionTable = OptionTable([.socket])
  static let operations = [
    Operation(
      name: "create",
      optionTable: OptionTable(
        [
          .socket, OptionSpec("--from", .template), OptionSpec("--start", .number), OptionSpec("--min-idle", .number),
          OptionSpec("--max-idle", .number), OptionSpec("--max", .number), OptionSpec("--ready"),
          OptionSpec("--min", .number), OptionSpec("--max-requests", .number), OptionSpec("--jitter", .number),
          OptionSpec("--timeout", .seconds), OptionSpec("--notify-fd", .descriptor), OptionSpec("--notify-socket"),
          OptionSpec("--call", .symbol), OptionSpec("--quick-exit"),
          OptionSpec("--env", .environment, repeatable: true), OptionSpec("--clear-env"),
          // Refused by name: "pool workers cannot --keep-control".
          OptionSpec("--keep-control", hidden: true),
        ])),
    Operation(name: "status", optionTable: OptionTable([.socket, .json])),
    Operation(
      name: "resize",
      optionTable: OptionTable(
        [.socket, OptionSpec("--max", .number), OptionSpec("--min-idle", .number), OptionSpec("--max-idle", .number)],
        dashWord: .number)),
    Operation(name: "reload", optionTable: OptionTable([.socket, OptionSpec("--from", .template)])),
    Operation(name: "stop", optionTable: OptionTable([.socket, OptionSpec("--graceful")])),
    Operation(name: "events", optionTable: OptionTable([.socket])),
  ]
  static let summary = "Keep a pool of workers that the daemon starts, regulates and replaces."
  static let usage = "forkctl pool create|status|resize|reload|stop|events [OPTION...] NAME ..."
  static let help = """
    Keep a pool of long-running workers forked from template T, each running
    PROGRAM (or calling SYMBOL of a library loaded into T), which the daemon
    regulates by what they report and replaces when they end.

      forkctl pool create NAME --from T [OPTION...] [--] PROGRAM [ARG...]
      forkctl pool create NAME --from T [OPTION...] --call SYMBOL [--] [ARG...]
      forkctl pool create --ready NAME [--from T] [--min N] [--max M]
      forkctl pool status [--json] [NAME]
      forkctl pool resize NAME [--max N] [--min-idle N] [--max-idle N] [+N | -N]
      forkctl pool reload NAME [--from T]
      forkctl pool stop NAME [--graceful]
      forkctl pool events NAME

    Each worker inherits what was sent to T (a listening socket sent with
    forkctl send-fd T 3=3 is shared by all), and gets a notify socket on
    descriptor 9 (--notify-fd), named in FORKCTL_NOTIFY_FD, with FORKCTL_POOL and
    FORKCTL_WORKER. It says how it is doing in sd_notify(3)'s words, one datagram
    each: READY=1, BUSY=1 (a request begins; each counts one), IDLE=1, WATCHDOG=1,
    STATUS=TEXT, STOPPING=1; from a shell, echo BUSY=1 >&$FORKCTL_NOTIFY_FD. Any
    other line goes to pool events as data. A worker that never reports stays
    counted idle once started.

    The rules, applied each second: fewer idle workers than --min-idle (a
    starting one counts idle) start 1, then 2, 4 ... up to 32 more a second, never
    more than --max in all; more idle than --max-idle stop one a second. A worker
    retires after --max-requests requests (plus its own random 0 to --jitter), at
    its next IDLE=1, one at a time. A worker busy for --timeout seconds without
    WATCHDOG=1 gets SIGQUIT, then SIGKILL after the kill grace (daemon
    --kill-grace, 3 s by default). A worker that ends is replaced and its status
    kept in the history; one that ends within a second without a word, three
    times running, delays the next start (1 s, doubling up to 30 s). The pool
    stops a worker with SIGTERM, and SIGKILL after the kill grace: an idle one at
    once, a busy one (for a reload, a shrink, a retirement or a --graceful stop)
    at its next IDLE=1: handle SIGTERM by finishing the request you hold.

    A ready pool (--ready) keeps M process objects forked from T (the default
    template if no --from) that have not run, so that new (from the default
    template), fork T and spawn --call or --keep-control from T take one instead
    of waiting for a fork (a spawn of a program keeps T's vfork path, which is
    cheaper); when fewer than N are left, it forks until it holds M again. Only
    clients of the pool owner's uid take them. A load into T ends them and
    refills once it is answered; a send-fd or send-arg to T makes them stale: the
    next request forks instead, and they are replaced. If T exits or execs, they
    end and the pool stops refilling (a pool of the default template moves to the
    next one at the next new or spawn). They appear in list, unnamed, as T's
    children.

    create returns once the pool exists; its workers start in the background.
    status prints each pool and its workers (--json: one object per pool, with
    its history). resize changes the sizes, or adds (+N) or stops (-N) workers.
    reload starts a new generation (from T, or a fresh template made the way the
    pool's was by exec, else the same one) and stops the old one as its workers
    go idle. stop returns once every worker has exited,
    and prints nothing. events prints the pool's events as JSON lines until the
    pool stops: started, exited (with status and reason), size, reload,
    timeout, status, data, error, stopping, stopped.

    Options of create:
    \(ClientOptions.help)
      --from T              The template (id or name); default: the default
                            template.
      --start N             Workers started at once (default 1, or --min-idle).
      --min-idle N          Start workers while fewer are idle (default 0).
      --max-idle N          Stop workers while more are idle (default: none).
      --max N               Never more workers than N (default 32, or --start;
                            a ready pool's size, default 4).
      --ready               A ready pool: no PROGRAM; only --from, --min and
                            --max apply.
      --min N               A ready pool's refill threshold (default 1).
      --max-requests N      Retire a worker after N requests (default: never).
      --jitter N            Add 0 to N to each worker's --max-requests.
      --timeout SECONDS     A busy worker's bound without WATCHDOG=1 (default:
                            none).
      --notify-fd N         The notify socket's descriptor (default 9).
      --notify-socket       Also set NOTIFY_SOCKET (an abstract address, as
                            systemd gives), so that a program written for
                            sd_notify(3) reports unchanged; messages there from
                            another user are ignored.
      --call SYMBOL         Call SYMBOL (int SYMBOL(int, char **)) of a library
                            loaded into T instead of running PROGRAM.
      --quick-exit          With --call: end each worker with _exit(2).
      --env NAME=VALUE      Set NAME in each worker's environment (repeatable).
      --clear-env           Start from an empty environment.
      -h, --help            Show this help.

    """

  enum Action {
    case create(PoolSpec)
    case status(name: String?, json: Bool)
    case resize(name: String, PoolResize)
    case reload(name: String, from: String?)
    case stop(name: String, graceful: Bool)
    case events(name: String)
  }

  var client = ClientOptions()
  var action: Action

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    // `forkctl --socket PATH pool status` hands the global --socket over before the action.
    try arguments.parseOptions(into: &client)
    let verb = try arguments.operand(or: "pool needs an action: create, status, resize, reload, stop or events")
    if let operation = Self.operations.first(where: { $0.name == verb }) { arguments.table = operation.optionTable }
    switch verb {
    case "create":
      action = .create(try Self.parseCreate(&arguments, &client))
    case "status":
      var json = false
      var name: String?
      while true {
        while let option = try arguments.nextOption(besides: &client) {
          guard option == "--json" else { throw arguments.unknown(option) }
          json = true
        }
        guard let word = try arguments.operand() else { break }
        if name != nil { throw .usage("pool status takes one NAME") }
        name = word
      }
      action = .status(name: name, json: json)
    case "resize":
      action = try Self.parseResize(&arguments, &client)
    case "reload":
      var from: String?
      let name = try Self.named(&arguments, &client, "reload") { option, arguments throws(ArgumentError) in
        guard option == "--from" else { return false }
        from = try arguments.value()
        return true
      }
      action = .reload(name: name, from: from)
    case "stop":
      var graceful = false
      let name = try Self.named(&arguments, &client, "stop") { option, _ throws(ArgumentError) in
        guard option == "--graceful" else { return false }
        graceful = true
        return true
      }
      action = .stop(name: name, graceful: graceful)
    case "events":
      action = .events(name: try Self.named(&arguments, &client, "events") { _, _ throws(ArgumentError) in false })
    default:
      throw .usage("unknown pool action '\(verb)': create, status, resize, reload, stop or events")
    }
  }

  /// NAME with options before or after it, each offered to `option` first; nothing else.
  private static func named(
    _ arguments: inout Arguments, _ client: inout ClientOptions, _ verb: String,
    _ option: (String, inout Arguments) throws(ArgumentError) -> Bool
  ) throws(ArgumentError) -> String {
    var name: String?
    while true {
      while let o = try arguments.nextOption(besides: &client) {
        guard try option(o, &arguments) else { throw arguments.unknown(o) }
      }
      guard let word = try arguments.operand() else { break }
      if name != nil { throw .usage("unexpected argument '\(word)'") }
      name = word
    }
    guard let name else { throw .usage("pool \(verb) needs a NAME") }
    return name
  }

  private static func parseCreate(
    _ arguments: inout Arguments, _ client: inout ClientOptions
  ) throws(ArgumentError) -> PoolSpec {
    var program = ProgramOptions()
    var from = ""
    var start: UInt32?
    var minIdle: UInt32 = 0
    var maxIdle = UInt32.max
    var max: UInt32?
    var workers = PoolWorkers(spec: RunSpec(program: [0x2d]))
    var call: [UInt8]?
    var quickExit = false
    var name: String?
    var ready = false
    var readyMin: UInt32?
    /// The last option given that only a worker pool takes.
    var workerOption: String?
    func workerPoolOption(_ o: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
      switch o {
      case "--start": start = try arguments.integer(UInt32.self, "a number of workers")
      case "--min-idle": minIdle = try arguments.integer(UInt32.self, "a number of workers")
      case "--max-idle": maxIdle = try arguments.integer(UInt32.self, "a number of workers")
      case "--max-requests": workers.maxRequests = try arguments.integer(UInt32.self, "a number of requests")
      case "--jitter": workers.jitter = try arguments.integer(UInt32.self, "a number of requests")
      case "--timeout":
        let seconds = try arguments.integer(UInt32.self, "a number of seconds")
        if seconds == 0 || seconds > 86_400 { throw .usage("--timeout must be 1 to 86400 seconds") }
        workers.timeoutMilliseconds = seconds * 1000
      case "--notify-fd":
        workers.notifyFD = try arguments.integer(Int32.self, "a descriptor number")
        if workers.notifyFD < 3 || workers.notifyFD > WireLimits.maxTargetFD {
          throw .usage("--notify-fd must be 3 to \(WireLimits.maxTargetFD)")
        }
      case "--notify-socket": workers.notifySocket = true
      case "--call": call = try arguments.rawValue()
      case "--quick-exit": quickExit = true
      default:
        if try program.parse(o, &arguments) {
          if program.keepControl { throw .usage("pool workers cannot --keep-control") }
          return true
        }
        return false
      }
      return true
    }
    func option(_ o: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
      switch o {
      case "--from": from = try arguments.value()
      case "--max": max = try arguments.integer(UInt32.self, "a number of workers")
      case "--ready": ready = true
      case "--min": readyMin = try arguments.integer(UInt32.self, "a number of process objects")
      default:
        workerOption = o
        return try workerPoolOption(o, &arguments)
      }
      return true
    }
    while let o = try arguments.nextOption(besides: &client) {
      guard try option(o, &arguments) else { throw arguments.unknown(o) }
    }
    name = try arguments.operand(or: "pool create needs a NAME")
    while let o = try arguments.nextOption(besides: &client) {
      guard try option(o, &arguments) else { throw arguments.unknown(o) }
    }
    var command = Array(try arguments.remaining())
    if ready {
      if let workerOption { throw .usage("pool create --ready takes no \(workerOption)") }
      if !command.isEmpty { throw .usage("pool create --ready takes no PROGRAM") }
      let most = max ?? 4
      let least = readyMin ?? 1
      if least == 0 || least > most { throw .usage("--min must be 1 to --max (\(most))") }
      return PoolSpec(
        name: Array((name ?? "").utf8), from: Array(from.utf8), kind: .ready,
        sizes: PoolSizes(start: most, minIdle: least, maxIdle: UInt32.max, max: most))
    }
    if readyMin != nil { throw .usage("--min goes with --ready (worker pools take --min-idle)") }
    if let call {
      if command.first == Array("--".utf8) { command.removeFirst() }
      command.insert(call, at: 0)
    } else if command.isEmpty {
      throw .usage("pool create needs a PROGRAM (or --call SYMBOL)")
    }
    if quickExit && call == nil { throw .usage("--quick-exit goes with --call") }
    let first = start ?? Swift.max(1, minIdle)
    let most = max ?? Swift.max(first, 32)
    if first > most { throw .usage("--start \(first) is more than --max \(most)") }
    if minIdle > maxIdle { throw .usage("--min-idle \(minIdle) is more than --max-idle \(maxIdle)") }
    if most == 0 { throw .usage("--max must be at least 1") }
    workers.spec = program.spec(command)
    workers.spec.entry = call == nil ? .exec : .call(quickExit: quickExit)
    return PoolSpec(
      name: Array((name ?? "").utf8), from: Array(from.utf8), kind: .workers(workers),
      sizes: PoolSizes(start: first, minIdle: minIdle, maxIdle: maxIdle, max: most))
  }

  private static func parseResize(
    _ arguments: inout Arguments, _ client: inout ClientOptions
  ) throws(ArgumentError) -> Action {
    var resize = PoolResize()
    var deltaGiven = false
    func delta(_ word: String) throws(ArgumentError) {
      guard let n = Int32(word.hasPrefix("+") ? String(word.dropFirst()) : word), !deltaGiven else {
        throw .usage("unexpected argument '\(word)': resize takes NAME and one +N or -N")
      }
      resize.delta = n
      deltaGiven = true
    }
    var name: String?
    while true {
      while let o = try arguments.nextOption(besides: &client) {
        switch o {
        case "--max": resize.max = try arguments.integer(UInt32.self, "a number of workers")
        case "--min-idle": resize.minIdle = try arguments.integer(UInt32.self, "a number of workers")
        case "--max-idle": resize.maxIdle = try arguments.integer(UInt32.self, "a number of workers")
        default:
          // -N: as TTOU does, N fewer workers.
          let word = "-" + arguments.optionWordAsValue()
          guard Int32(word) != nil else { throw arguments.unknown(o) }
          try delta(word)
        }
      }
      guard let word = try arguments.operand() else { break }
      if name == nil && !word.hasPrefix("+") { name = word } else { try delta(word) }
    }
    guard let name else { throw .usage("pool resize needs a NAME") }
    if resize.max == nil && resize.minIdle == nil && resize.maxIdle == nil && !deltaGiven {
      throw .usage("pool resize needs --max, --min-idle, --max-idle, +N or -N")
    }
    return .resize(name: name, resize)
  }

  func run() throws(Exit) {
    var c = try client.connect()
    switch action {
    case .create(let spec):
      try reporting { () throws(ForkctlError) in try c.createPool(spec) }
    case .status(let name, let json):
      let pools = try reporting { () throws(ForkctlError) in try c.poolStatus(name) }
      print(json ? PoolText.json(pools) : PoolText.table(pools), terminator: "")
    case .resize(let name, let resize):
      try reporting { () throws(ForkctlError) in try c.resizePool(name, resize) }
    case .reload(let name, let from):
      try reporting { () throws(ForkctlError) in try c.reloadPool(name, from: from) }
    case .stop(let name, let graceful):
      _ = try reporting { () throws(ForkctlError) in try c.stopPool(name, graceful: graceful) }
    case .events(let name):
      try reporting { () throws(ForkctlError) in
        // Written at once, not through stdio's buffer: a reader on a pipe sees each event as
        // it comes.
        try c.followPool(name) { line in _ = try? FileDescriptor.standardOutput.writeFully(line + [0x0a]) }
      }
    }
  }
}
