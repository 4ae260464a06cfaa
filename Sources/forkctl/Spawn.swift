import ArgumentParser
import ForkctlClient
import ForkctlSys
import ForkctlWire

struct Spawn: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run PROGRAM as if directly, forked by the daemon's template: one request.",
    discussion: """
      The worker gets this process's descriptors 0, 1 and 2 (and each --fd N, at N), its \
      environment, its working directory (the directory itself, so a renamed or deleted one \
      works), and argv byte for byte; PROGRAM is found in the caller's PATH. forkctl exits \
      with PROGRAM's status, or re-raises the signal that killed it. SIGINT, SIGTERM, \
      SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT and SIGTSTP sent to forkctl go \
      to PROGRAM. If forkctl itself dies first, PROGRAM gets SIGTERM, then SIGKILL after a \
      grace period, unless --detach. Exit codes of forkctl's own: 125 forkctl failed, 126 \
      PROGRAM not executable, 127 PROGRAM not found.
      """)

  @OptionGroup var client: ClientOptions
  @Option(help: ArgumentHelp("Fork from this process object instead of the default template.", valueName: "id"))
  var from: String?
  @Option(help: ArgumentHelp("Name the new process object.", valueName: "name")) var name: String?
  @Option(name: .customLong("fd"), help: ArgumentHelp("Also pass descriptor N, at N (repeatable).", valueName: "n"))
  var fds: [Int32] = []
  @Flag(help: "Let PROGRAM run on if forkctl dies (it stays a process object, for wait).")
  var detach = false
  @OptionGroup var program: ProgramOptions
  @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("PROGRAM and its arguments.", valueName: "program"))
  var command: [String] = []

  func validate() throws {
    if command.isEmpty || command == ["--"] { throw ValidationError("spawn needs a PROGRAM") }
    for n in fds where n < 0 || n > maxTargetFD {
      throw ValidationError("--fd \(n) is not a descriptor number from 0 to \(maxTargetFD)")
    }
  }

  func run() throws {
    var raw = Sys.rawArguments(last: command.count)
    if command.first == "--" { raw.removeFirst() }
    if raw.isEmpty { throw ValidationError("spawn needs a PROGRAM") }
    let spec = try program.spec(raw)
    // Closed stdio is not passed: the worker gets /dev/null there instead.
    var passed: [(fd: FileDescriptor, target: FDTarget)] = []
    for n: Int32 in [0, 1, 2] where FileDescriptor(rawValue: n).isOpen {
      passed.append((FileDescriptor(rawValue: n), n))
    }
    for n in fds where !passed.contains(where: { $0.target == n }) {
      passed.append((FileDescriptor(rawValue: n), n))
    }
    // Caught from here on: a signal that comes before PROGRAM runs reaches it once it does.
    let forwarding = try reporting { () throws(ForkctlError) in try SignalForwarding() }
    let cwd = try program.workingDirectory()
    var c = try client.connect()
    _ = try reporting { () throws(ForkctlError) in
      try c.spawn(spec, fds: passed, workingDirectory: cwd, from: from, name: name ?? "", detach: detach)
    }
    cwd.closeQuietly()
    let status = try reporting { () throws(ForkctlError) in try c.awaitStatus(forwarding: forwarding) }
    exitLike(status)
  }
}
