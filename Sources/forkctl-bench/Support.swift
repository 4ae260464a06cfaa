// What every measurement shares: the clock, the result lines Scripts/bench reads, the
// options, the ways of starting /bin/true that the groups compare, and RSS from /proc.
import CForkctlBench
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc

/// CLOCK_MONOTONIC in nanoseconds.
func nanoseconds() -> UInt64 {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// Runs `body` and returns how long it took, in nanoseconds.
func timed(_ body: () -> Void) -> UInt64 {
  let t0 = nanoseconds()
  body()
  return nanoseconds() - t0
}

/// Result lines on stdout, one per measurement, for Scripts/bench to parse:
///
///     sample KEY COUNT MICROSECONDS   one timed loop of COUNT launches (one per round)
///     stat KEY NAME VALUE             another number of the same round (p50_us, p99_us)
///     value KEY VALUE                 a number measured once (rss_kb, ...)
enum Report {
  static func line(_ text: String) {
    do {
      try FileDescriptor(rawValue: 1).writeAll(Array((text + "\n").utf8))
    } catch {
      fail("cannot write results to stdout: \(Sys.describe(error))")
    }
  }

  static func sample(_ key: String, count: Int, nanoseconds ns: UInt64) {
    line("sample \(key) \(count) \(ns / 1000)")
  }

  static func stat(_ key: String, _ name: String, _ value: UInt64) { line("stat \(key) \(name) \(value)") }

  static func value(_ key: String, _ value: Int) { line("value \(key) \(value)") }
}

func progress(_ text: String) { Sys.printError("forkctl-bench: \(text)") }

func fail(_ text: String) -> Never {
  Sys.printError("forkctl-bench: \(text)")
  Sys.exitProcess(1)
}

/// The command line: `forkctl-bench COMMAND [KIND] [OPTION VALUE]...`.
struct Options {
  var command = ""
  var kind = ""
  /// Launches per timed loop (per configuration and round for `concurrency`).
  var count = 100
  var rounds = 3
  var memoryMB = 2048
  var callers = [1, 8, 32]
  var workers = 1000
  var socket = ""
  var forkctl = ""
  /// Where `floor` writes its result (the `big` process reads it from a pipe).
  var resultFD: Int32 = 1

  init(_ arguments: [String]) {
    var rest = arguments.dropFirst()
    guard let command = rest.popFirst() else { fail(Self.usage) }
    self.command = command
    if command == "loop" {
      guard let kind = rest.popFirst() else { fail(Self.usage) }
      self.kind = kind
    }
    while let option = rest.popFirst() {
      guard let value = rest.popFirst() else { fail("\(option) wants a value\n\(Self.usage)") }
      func number(_ min: Int = 1) -> Int {
        guard let n = Int(value), n >= min else { fail("\(option) wants an integer >= \(min), not '\(value)'") }
        return n
      }
      switch option {
      case "-n": count = number()
      case "-r": rounds = number()
      case "--memory-mb": memoryMB = number(0)
      case "--workers": workers = number()
      case "--result-fd": resultFD = Int32(number(0))
      case "--socket": socket = value
      case "--forkctl": forkctl = value
      case "--callers":
        callers = value.split(separator: ",").map { Int($0) ?? 0 }
        if callers.isEmpty || callers.contains(where: { $0 < 1 }) { fail("--callers wants a list like 1,8,32") }
      default: fail("unknown option \(option)\n\(Self.usage)")
      }
    }
  }

  /// A client of the private daemon that Scripts/bench names.
  func client() -> ForkctlClient {
    if socket.isEmpty || forkctl.isEmpty { fail("\(command) needs --socket PATH and --forkctl PATH") }
    return ForkctlClient(socketPath: socket, daemonExecutable: forkctl)
  }

  static let usage = """
    usage: forkctl-bench big [--memory-mb M] [-n N] [-r R] --socket S --forkctl F
           forkctl-bench floor [-n N] [--result-fd FD]
           forkctl-bench loop spawn|new-run|new-kill [-n N] --socket S --forkctl F
           forkctl-bench concurrency [--callers 1,8,32] [-n N] [-r R] --socket S --forkctl F
           forkctl-bench footprint [--workers W] --socket S --forkctl F
    Run by Scripts/bench, which reads the result lines it prints on stdout.
    """
}

/// The ways of launching a program that the groups compare, each waiting for its end and
/// checking that it exited 0.
struct Launcher {
  let path: String
  let arguments: [String]
  /// This process's environment, read once.
  let environment: [String]

  init(_ path: String, _ arguments: [String] = []) {
    self.path = path
    self.arguments = [path] + arguments
    environment = Sys.environment().map { String(decoding: $0, as: UTF8.self) }
  }

  private func check(_ what: String, _ pid: Int32) {
    let status: ExitStatusValue
    do {
      status = try Sys.waitChild(pid)
    } catch {
      fail("\(what) \(path): cannot wait for pid \(pid): \(Sys.describe(error))")
    }
    if status.exitCode != 0 { fail("\(what) \(path): pid \(pid) ended with \(status)") }
  }

  /// fork, and execve in the child (C, async-signal-safe); waitpid.
  func forkExec() {
    let pid = withCStrings(arguments) { argv in
      withCStrings(environment) { envp in forkctl_fork_exec(path, argv, envp) }
    }
    if pid < 0 { fail("fork for \(path): \(Sys.describe(Errno(rawValue: errno)))") }
    check("fork+exec", pid)
  }

  /// posix_spawn with this process's stdio (Sys.spawn); waitpid.
  func posixSpawn() {
    let pid: Int32
    do {
      pid = try Sys.spawn(
        path: path, arguments: arguments, environment: environment,
        fds: [FileDescriptor(rawValue: 0), FileDescriptor(rawValue: 1), FileDescriptor(rawValue: 2)])
    } catch {
      fail("posix_spawn \(path): \(Sys.describe(error))")
    }
    check("posix_spawn", pid)
  }
}

extension ForkctlClient {
  /// `spawn` (this process's stdio, environment and directory, or `fds`), then `wait()`;
  /// the program must exit 0.
  func spawnAndWait(_ program: String, _ arguments: [String] = [], fds: [(fd: FileDescriptor, target: Int32)]? = nil) {
    do {
      let p = try spawn(
        program: Array(program.utf8), arguments: arguments.map { Array($0.utf8) }, fds: fds)
      let status = try p.wait()
      p.pidfd?.closeQuietly()
      if status != .exited(0) { fail("ForkctlClient spawn \(program): ended with \(status)") }
    } catch {
      fail("ForkctlClient spawn \(program): \(error)")
    }
  }
}
