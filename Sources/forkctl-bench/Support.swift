// What every measurement shares: the clock, the options, and the ways of starting
// /bin/true that the groups compare.
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

func progress(_ text: String) { Sys.printError("forkctl-bench: \(text)") }

func fail(_ text: String) -> Never {
  Sys.printError("forkctl-bench: \(text)")
  Sys.exitProcess(1)
}

/// The text of the file at `path`; failing to read it fails the run.
func readFile(_ path: String) -> String {
  do {
    let fd = try Sys.open(path, .readOnly)
    defer { fd.closeQuietly() }
    return String(decoding: try fd.readAll(), as: UTF8.self)
  } catch {
    fail("cannot read \(path): \(Sys.describe(error))")
  }
}

/// This executable's path, for running it in another role.
func thisExecutable() -> String {
  do { return try Sys.executablePath() } catch { fail("cannot read /proc/self/exe: \(Sys.describe(error))") }
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

  /// posix_spawn with this process's stdio (Sys.posixSpawn); waitpid.
  func posixSpawn() {
    let pid: Int32
    do {
      pid = try Sys.posixSpawn(
        path: path, arguments: arguments, environment: environment,
        fds: [FileDescriptor.standardInput, FileDescriptor.standardOutput, FileDescriptor.standardError])
    } catch {
      fail("posix_spawn \(path): \(Sys.describe(error))")
    }
    check("posix_spawn", pid)
  }
}

extension ForkctlClient {
  /// `spawn` (this process's stdio, environment and directory, or `fds`), then `wait()`;
  /// the program must exit 0.
  func spawnAndWait(
    _ program: String, _ arguments: [String] = [], fds: [(fd: FileDescriptor, target: Int32)]? = nil
  ) {
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
