import ForkctlClient
import ForkctlSys
import ForkctlWire

struct SpawnCommand: Subcommand {
  static let name = "spawn"
  static let optionTable = OptionTable(
    joining: [
      .socket, OptionSpec("--from", .template), OptionSpec("--call", .symbol), OptionSpec("--quick-exit"), .name,
      OptionSpec("--fd", .descriptor, repeatable: true), OptionSpec("--inherit-fds"), OptionSpec("--detach"),
      OptionSpec("--tty", .choice(["auto", "always", "never"])),
    ], ProgramOptions.table)
  static let summary = "Run PROGRAM as if directly, forked by the daemon's template."
  static let usage = """
    forkctl spawn [OPTION...] [--] PROGRAM [ARG...]
           forkctl spawn [OPTION...] --from ID --call SYMBOL [--] [ARG...]
    """
  static let help = """
    Run PROGRAM as if directly, forked by the daemon's template: one request.

    The worker gets this process's descriptors 0, 1 and 2 (and each --fd N, at N),
    its environment, its working directory (the directory itself, so a renamed or
    deleted one works), argv byte for byte, and its umask, resource limits, nice
    value, ignored signals and signal mask; PROGRAM is found in the caller's PATH.
    forkctl exits with PROGRAM's status, or re-raises the signal that killed it
    (without a core of its own; it says when PROGRAM dumped core). SIGINT,
    SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT and SIGTSTP sent
    to forkctl go to PROGRAM, unless ignored; SIGINT, SIGTERM and SIGHUP that come
    before PROGRAM runs end forkctl and its request. If forkctl itself dies first,
    PROGRAM gets SIGTERM, then SIGKILL after a grace period, unless --detach. Exit
    codes of forkctl's own: 124 the daemon shut down while PROGRAM ran (it runs on),
    125 forkctl failed, 126 PROGRAM not executable, 127 PROGRAM not found.
    FORKCTL_TIMEOUT bounds each wait for the daemon (not for PROGRAM).

    Descriptors: 0, 1 and 2 (one the caller has closed is /dev/null in PROGRAM),
    each --fd N, and with --inherit-fds every one the caller has open, each at its
    number; no other, and never one of forkctl's own.

    With --call, the worker calls int SYMBOL(int argc, char **argv), a function of
    a library loaded into the --from process object (forkctl load), instead of
    executing a program, prepared the same way; its return value is the status.

    Arguments:
      PROGRAM [ARG...]      PROGRAM and its arguments, byte for byte.

    Options:
    \(ClientOptions.help)
      --from ID             Fork from this process object instead of the default
                            template.
      --call SYMBOL         Call SYMBOL in the worker instead of running PROGRAM;
                            the words after the options are its ARGs.
      --quick-exit          With --call: end the worker with _exit(2), so no
                            atexit handler, destructor or stdio flush runs.
      --name NAME           Name the new process object.
      --fd N                Also pass descriptor N, at N (repeatable). One that is
                            not open is an error.
      --inherit-fds         Pass every descriptor the caller has open (0 to 1023,
                            at most 63), each at its number: a make jobserver's,
                            a script's exec 3>log.
      --detach              Print the id and return once PROGRAM runs; it runs on
                            and its status is kept for wait ID.
      --tty WHEN            Give PROGRAM a terminal of its own, a pseudo-terminal
                            relayed to this one: auto (the default) when standard
                            input is forkctl's controlling terminal and not with
                            --detach or --call, always, or never.
    \(ProgramOptions.help)
      -h, --help            Show this help.

    """

  /// The status is PROGRAM's, so a usage error is 125 like every failure of forkctl's own.
  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Exit { .forkctlFailed }

  var client = ClientOptions()
  var from: String?
  var name: String?
  var fds: [Int32] = []
  var inheritFDs = false
  var detach = false
  var tty = TerminalMode.auto
  var program = ProgramOptions()
  /// --call SYMBOL
  var call: [UInt8]?
  var quickExit = false
  /// PROGRAM and its ARGs (with --call, SYMBOL and its ARGs), as the caller passed them.
  let command: [[UInt8]]

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--from": from = try arguments.value()
      case "--name": name = try arguments.name()
      case "--fd":
        let n = try arguments.value()
        guard let fd = Int32(n), fd >= 0, fd <= WireLimits.maxTargetFD else {
          throw .usage("--fd \(n) is not a descriptor number from 0 to \(WireLimits.maxTargetFD)")
        }
        fds.append(fd)
      case "--inherit-fds": inheritFDs = true
      case "--call":
        let symbol = try arguments.rawValue()
        if symbol.isEmpty { throw .usage("--call needs a SYMBOL") }
        call = symbol
      case "--quick-exit": quickExit = true
      case "--detach": detach = true
      case "--tty":
        let when = try arguments.value()
        guard let mode = TerminalMode(rawValue: when) else {
          throw .usage("--tty \(when) is not auto, always or never")
        }
        tty = mode
      default:
        guard try program.parse(option, &arguments) else { throw arguments.unknown(option) }
      }
    }
    if let call {
      arguments.skipSeparator()
      command = [call] + Array(try arguments.remaining())
      if from == nil { throw .usage("spawn --call needs --from: the default template loads no library") }
      // A function runs in the worker itself: no monitor to relay a terminal's job control.
      if tty == .auto { tty = .never }
    } else {
      command = Array(try arguments.remaining())
      if command.isEmpty { throw .usage("spawn needs a PROGRAM") }
      if quickExit { throw .usage("spawn --quick-exit needs --call") }
    }
  }

  func run() throws(Exit) {
    var spec = program.spec(command)
    if call != nil { spec.entry = .call(quickExit: quickExit) }
    let inherited = try reporting { () throws(ForkctlError) in
      try Inherited.descriptors(adding: fds, openAtStart: Caller.descriptors, all: inheritFDs)
    }
    // Before SignalForwarding blocks signals of its own: the mask is the caller's.
    var attributes = Inherited.attributes()
    let terminal = try reporting { () throws(ForkctlError) in try TerminalRelay(mode: tty, detach: detach) }
    // The pseudo-terminal is the program's controlling terminal, in a session of its own.
    if terminal != nil { attributes.flags.insert(.newSessionWithControllingTerminal) }
    let passed = terminal?.descriptors(inherited) ?? inherited
    // Caught from here on: a signal that comes before PROGRAM runs reaches it once it does,
    // except SIGINT, SIGTERM and SIGHUP, which end forkctl and its request.
    let forwarding = try reporting { () throws(ForkctlError) in try SignalForwarding() }
    let cwd = try reporting(Inherited.workingDirectory)
    var c = try client.connect()
    let started = try reporting(interruptedBy: forwarding) { () throws(ForkctlError) in
      try c.spawn(
        spec, fds: passed, workingDirectory: cwd, from: from, name: name ?? "", detach: detach,
        wantsPIDFD: terminal != nil, attributes: attributes, forwarding: forwarding)
    }
    cwd.closeQuietly()
    if detach {
      // Its status is kept for `wait ID`; the program runs on whatever becomes of us.
      started.pidfd?.closeQuietly()
      print(started.id)
      throw Exit(0)
    }
    if spec.keepControl {
      // The id is how send-fd and send-arg reach it; stdout is the program's.
      Sys.printError("forkctl: \(displayed(command[0])) is process \(started.id); it keeps its control socket")
    }
    if let terminal {
      try reporting { () throws(ForkctlError) in
        try terminal.relay(connection: c.descriptor, program: started.pid, pidfd: started.pidfd, forwarding: forwarding)
      }
    }
    started.pidfd?.closeQuietly()
    let status = try reporting { () throws(ForkctlError) in try c.awaitStatus(forwarding: forwarding) }
    exitLike(status, program: command[0])
  }
}

/// `reporting(body)`, except that a signal that interrupted it before PROGRAM ran ends
/// forkctl by that signal, as it would have ended a shell's child (`timeout` then says 124).
/// The connection closes with it: the daemon ends the program if it starts after all.
private func reporting<T>(
  interruptedBy forwarding: SignalForwarding, _ body: () throws(ForkctlError) -> T
) throws(Exit) -> T {
  do {
    return try body()
  } catch {
    if let signal = forwarding.interruption {
      Sys.reraise(signal)
    }
    throw fail(error)
  }
}
