import ForkctlClient
import ForkctlSys
import ForkctlWire

struct Run: Subcommand {
  static let name = "run"
  static let summary = "Make a process object execute PROGRAM."
  static let usage = "forkctl run [OPTION...] ID [[OPTION...] --] PROGRAM [ARG...]"
  static let help = """
    Make a process object execute PROGRAM.

    argv is PROGRAM, then the strings sent with send-arg, then ARGs. PROGRAM is
    looked up in the PATH of the environment it gets, which is the caller's unless
    --clear-env; the working directory is the caller's. Returns once PROGRAM has
    started, or with --wait once it has ended, with its status. The options but
    --socket may also stand between ID and a -- before PROGRAM.

    Arguments:
      ID                    The id or name of the process object.
      PROGRAM [ARG...]      PROGRAM and its arguments, byte for byte.

    Options:
      --socket PATH         The daemon's socket.
      --wait                Exit with PROGRAM's status once it ends; a death by
                            signal is re-raised.
      --keep-control        Keep the control socket open in PROGRAM, on the
                            descriptor named in FORKCTL_CONTROL_FD, so that later
                            send-fd and send-arg reach it.
      --env NAME=VALUE      Set NAME to VALUE in PROGRAM's environment (repeatable).
      --clear-env           Start PROGRAM with an empty environment (then --env adds
                            to it).
      -h, --help            Show this help.

    """

  /// With --wait the status is PROGRAM's, so a usage error is 125 like every failure of
  /// forkctl's own. --wait counts among the words before the first `--`, wherever it is.
  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Int32 {
    let options = words.prefix { $0 != Arguments.separator }
    return options.contains(Array("--wait".utf8)) ? ExitStatusCode.forkctlFailed : ExitStatusCode.usage
  }

  var client = ClientOptions()
  var program = ProgramOptions()
  var wait = false
  let id: String
  /// PROGRAM and its ARGs, as the caller passed them.
  let command: [[UInt8]]

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption() {
      if option == "--socket" {
        client.socket = try arguments.value()
      } else {
        guard try Self.parse(option, &arguments, &program, &wait) else { throw arguments.unknown(option) }
      }
    }
    id = try arguments.operand(or: "run needs an ID")
    // Options may also stand between ID and `--` (`run ID --wait -- PROGRAM`); without `--`,
    // everything after ID is PROGRAM and its arguments.
    var rest = try arguments.remaining()
    if rest.first == Arguments.separator {
      rest.removeFirst()
    } else if rest.first?.first == UInt8(ascii: "-"), let dashes = rest.firstIndex(of: Arguments.separator) {
      var options = Arguments(rest[..<dashes])
      while let option = try options.nextOption() {
        guard try Self.parse(option, &options, &program, &wait) else { throw options.unknown(option) }
      }
      try options.requireEnd()
      rest = rest[(dashes + 1)...]
    }
    if rest.isEmpty { throw .usage("run needs a PROGRAM") }
    command = Array(rest)
  }

  /// Takes `option` if it is one of the options that may also follow ID; false if not.
  private static func parse(
    _ option: String, _ arguments: inout Arguments, _ program: inout ProgramOptions, _ wait: inout Bool
  ) throws(ArgumentError) -> Bool {
    if option == "--wait" {
      wait = true
      return true
    }
    return try program.parse(option, &arguments)
  }

  func run() throws(Exit) {
    var spec = program.spec(command)
    spec.waitForExit = wait
    let forwarding = wait ? try reporting { () throws(ForkctlError) in try SignalForwarding() } : nil
    let cwd = try program.workingDirectory()
    var c = try client.connect()
    let status = try reporting { () throws(ForkctlError) in
      try c.run(id, spec, workingDirectory: cwd, forwarding: forwarding)
    }
    if let status { exitLike(status) }
  }
}

/// How PROGRAM is started: options shared by run and spawn.
struct ProgramOptions {
  /// --keep-control
  var keepControl = false
  /// Each --env NAME=VALUE, as the caller passed it.
  var env: [[UInt8]] = []
  /// --clear-env
  var clearEnv = false

  /// Takes `option` and its value if it is one of these; false if it is not.
  mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
    switch option {
    case "--keep-control": keepControl = true
    case "--clear-env": clearEnv = true
    case "--env":
      let e = try arguments.rawValue()
      guard let equals = e.firstIndex(of: UInt8(ascii: "=")), equals > 0 else {
        throw .usage("--env '\(String(decoding: e, as: UTF8.self))' is not NAME=VALUE")
      }
      env.append(e)
    default: return false
    }
    return true
  }

  /// The RunSpec for `command` (PROGRAM then its ARGs, raw bytes, at least PROGRAM).
  func spec(_ command: [[UInt8]]) -> RunSpec {
    var environment = clearEnv ? [] : Sys.environment()
    for e in env {
      let name = e.prefix { $0 != UInt8(ascii: "=") } + [UInt8(ascii: "=")]
      environment.removeAll { $0.starts(with: name) }
      environment.append(e)
    }
    return RunSpec(
      program: command[0], arguments: Array(command.dropFirst()), environment: environment,
      keepControl: keepControl)
  }

  func workingDirectory() throws(Exit) -> FileDescriptor {
    do {
      return try Sys.openCurrentDirectory()
    } catch {
      throw fail(ForkctlError(.badDescriptor, "cannot open the current directory: \(Sys.describe(error))", underlying: error))
    }
  }
}

/// Ends forkctl the way the program ended: its exit code, or its signal re-raised on
/// ourselves (so the caller's shell sees 128+N and any core flag), with 128+N as fallback.
func exitLike(_ status: ExitStatus) -> Never {
  switch status {
  case .exited(let code): Sys.exitProcess(code)
  case .signaled(let sig, _):
    Sys.reraise(Signal(rawValue: sig))
    Sys.exitProcess(128 + sig)
  }
}
