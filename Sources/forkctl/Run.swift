import ForkctlClient
import ForkctlSys
import ForkctlWire

struct RunCommand: Subcommand {
  static let name = "run"
  static let optionTable = OptionTable(
    joining: [.socket, OptionSpec("--wait"), OptionSpec("--detach"), OptionSpec("--quick-exit", hidden: true)],
    ProgramOptions.table)
  static let summary = "Make a process object execute PROGRAM."
  static let usage = "forkctl run [OPTION...] ID [OPTION...] [--] PROGRAM [ARG...]"
  static let help = """
    Make a process object execute PROGRAM.

    argv is PROGRAM, then the strings sent with send-arg, then ARGs. PROGRAM is
    looked up in the PATH of the environment it gets, which is the caller's unless
    --clear-env; the working directory, umask, resource limits, nice value,
    ignored signals and signal mask are the caller's. Returns once PROGRAM has
    started, or with --wait once it has ended, with its status. Options may stand
    before and after ID; they end at PROGRAM or at --, and the words after PROGRAM
    are its own.

    Arguments:
      ID                    The id or name of the process object.
      PROGRAM [ARG...]      PROGRAM and its arguments, byte for byte.

    Options:
    \(ClientOptions.help)
      --wait                Exit with PROGRAM's status once it ends; a death by
                            signal is re-raised; 124 when the daemon shuts down
                            first (PROGRAM runs on).
      --detach              Nobody will wait: the daemon forgets the process
                            object once PROGRAM has ended (not with --wait).
    \(ProgramOptions.help)
      -h, --help            Show this help.

    """

  /// With --wait the status is PROGRAM's, so a usage error is 125 like every failure of
  /// forkctl's own. --wait counts among the words before the first `--`, wherever it is.
  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Exit {
    let options = words.prefix { $0 != Arguments.separator }
    return options.contains(Array("--wait".utf8)) ? .forkctlFailed : .usage
  }

  let options: RunOptions
  let id: String
  /// PROGRAM and its ARGs (or SYMBOL and its ARGs), as the caller passed them.
  let command: [[UInt8]]
  /// Exec PROGRAM, or call SYMBOL (the call subcommand).
  let entry: RunEntry

  struct RunOptions: OptionGroup {
    var client = ClientOptions()
    var wait = false
    var detach = false
    var quickExit = false
    var program = ProgramOptions()

    mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
      switch option {
      case "--wait": wait = true
      case "--detach": detach = true
      case "--quick-exit": quickExit = true
      default:
        if try program.parse(option, &arguments) { return true }
        return try client.parse(option, &arguments)
      }
      return true
    }
  }

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    try self.init(parsing: &arguments, calling: false)
  }

  /// `run`, or with `calling` the `call` subcommand, whose PROGRAM is a function's SYMBOL.
  init(parsing arguments: inout Arguments, calling: Bool) throws(ArgumentError) {
    let (verb, operand) = calling ? ("call", "SYMBOL") : ("run", "PROGRAM")
    // Options before ID, then (`run ID --wait PROGRAM`) between ID and PROGRAM or `--`.
    var options = RunOptions()
    try arguments.parseOptions(into: &options)
    id = try arguments.operand(or: "\(verb) needs an ID")
    try arguments.parseOptions(into: &options)
    self.options = options
    command = Array(try arguments.remaining())
    if command.isEmpty { throw .usage("\(verb) needs a \(operand)") }
    if options.wait && options.detach {
      throw .usage("\(verb) --detach cannot --wait: nobody waits for its \(calling ? "function" : "program")")
    }
    if options.quickExit && !calling { throw .usage("run has no --quick-exit: it is call's") }
    entry = calling ? .call(quickExit: options.quickExit) : .exec
  }

  func run() throws(Exit) {
    var spec = options.program.spec(command)
    spec.waitForExit = options.wait
    spec.entry = entry
    // Before SignalForwarding blocks signals of its own: the mask is the caller's.
    let attributes = Inherited.attributes()
    let forwarding = options.wait ? try reporting { () throws(ForkctlError) in try SignalForwarding() } : nil
    let cwd = try reporting(Inherited.workingDirectory)
    var c = try options.client.connect()
    let status = try reporting { () throws(ForkctlError) in
      try c.run(
        id, spec, workingDirectory: cwd, forwarding: forwarding, attributes: attributes, detach: options.detach)
    }
    if let status { exitLike(status, program: command[0]) }
  }
}

/// Ends forkctl the way the program ended: its exit code, or its signal re-raised on
/// ourselves (so the caller's shell sees 128+N), with 128+N as fallback. forkctl never dumps
/// core itself: the program's core, written under the caller's RLIMIT_CORE, is the one the
/// caller wants, and a second one from forkctl would overwrite it (core(5): "core" in the
/// same directory). So the shell never sees the core flag, and forkctl says on stderr when
/// `program` dumped core; `list --json` and the library's ExitStatus carry the flag too.
func exitLike(_ status: ExitStatus, program: [UInt8]) -> Never {
  switch status {
  case .exited(let code): Sys.exitProcess(code)
  case .signaled(let sig, let core):
    if core {
      Sys.printError("forkctl: \(String(decoding: program, as: UTF8.self)): \(Signal(rawValue: sig)) (core dumped)")
    }
    Sys.disableCoreDumps()
    Sys.reraise(Signal(rawValue: sig))
    Sys.exitProcess(128 + sig)
  }
}
