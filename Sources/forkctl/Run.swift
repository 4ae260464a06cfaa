import ArgumentParser
import ForkctlClient
import ForkctlSys
import ForkctlWire

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Make a process object execute PROGRAM.",
    discussion: """
      argv is PROGRAM, then the strings sent with send-arg, then ARGs. PROGRAM is looked up \
      in the PATH of the environment it gets, which is the caller's unless --clear-env; the \
      working directory is the caller's. Returns once PROGRAM has started, or with --wait \
      once it has ended, with its status.
      """)

  @OptionGroup var client: ClientOptions
  @OptionGroup var program: ProgramOptions
  @Flag(help: "Exit with PROGRAM's status once it ends; a death by signal is re-raised.")
  var wait = false
  @Argument(help: "The id or name of the process object.") var id: String
  @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("PROGRAM and its arguments.", valueName: "program"))
  var command: [String] = []

  func validate() throws {
    if command.isEmpty || command == ["--"] { throw ValidationError("run needs a PROGRAM") }
  }

  func run() throws {
    // Options may also stand between ID and `--` (`run ID --wait -- PROGRAM`); without `--`,
    // everything after ID is PROGRAM and its arguments.
    var raw = Sys.rawArguments(last: command.count)
    var options = program
    var waitForExit = wait
    if command.first == "--" {
      raw.removeFirst()
    } else if command.first?.hasPrefix("-") == true, let dashes = command.firstIndex(of: "--") {
      let extra = try RunExtraOptions.parse(Array(command[..<dashes]))
      options.merge(extra.program)
      waitForExit = waitForExit || extra.wait
      raw.removeFirst(dashes + 1)
    }
    if raw.isEmpty { throw ValidationError("run needs a PROGRAM") }
    var spec = try options.spec(raw)
    spec.waitForExit = waitForExit
    let forwarding = waitForExit ? try reporting { () throws(ForkctlError) in try SignalForwarding() } : nil
    let cwd = try options.workingDirectory()
    var c = try client.connect()
    let status = try reporting { () throws(ForkctlError) in
      try c.run(id, spec, workingDirectory: cwd, forwarding: forwarding)
    }
    if let status { exitLike(status) }
  }
}

/// The options of run that may follow ID.
struct RunExtraOptions: ParsableArguments {
  @OptionGroup var program: ProgramOptions
  @Flag var wait = false
}

/// How PROGRAM is started: options shared by run and spawn.
struct ProgramOptions: ParsableArguments {
  @Flag(help: "Keep the control socket open in PROGRAM, on the descriptor named in FORKCTL_CONTROL_FD, so that later send-fd and send-arg reach it.")
  var keepControl = false
  @Option(name: .customLong("env"), help: ArgumentHelp("Set NAME to VALUE in PROGRAM's environment (repeatable).", valueName: "name=value"))
  var env: [String] = []
  @Flag(help: "Start PROGRAM with an empty environment (then --env adds to it).")
  var clearEnv = false

  mutating func merge(_ other: ProgramOptions) {
    keepControl = keepControl || other.keepControl
    clearEnv = clearEnv || other.clearEnv
    env += other.env
  }

  func validate() throws {
    for e in env where !e.contains("=") || e.hasPrefix("=") {
      throw ValidationError("--env '\(e)' is not NAME=VALUE")
    }
  }

  /// The RunSpec for `command` (PROGRAM then its ARGs, raw bytes).
  func spec(_ command: [[UInt8]]) throws -> RunSpec {
    var environment = clearEnv ? [] : Sys.environment()
    for e in env {
      let bytes = Array(e.utf8)
      let name = bytes.prefix { $0 != UInt8(ascii: "=") }
      environment.removeAll { $0.starts(with: name + [UInt8(ascii: "=")]) }
      environment.append(bytes)
    }
    return RunSpec(
      program: command[0], arguments: Array(command.dropFirst()), environment: environment,
      keepControl: keepControl)
  }

  func workingDirectory() throws -> FileDescriptor {
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
    Sys.reraise(sig)
    Sys.exitProcess(128 + sig)
  }
}
