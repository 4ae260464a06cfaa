// How `forkctl-bench table` runs what it measures: commands that time their own loops and
// print the microseconds, checks of an exit status, and the measuring forkctl-bench
// processes (big, concurrency, footprint), whose result lines it reads.
import ForkctlSys
import Glibc

/// A row's command, timed in loops of N calls. Each argument "{N}" becomes the count; it
/// prints how many microseconds the N calls took (after an untimed one of its own).
struct Contender {
  let label: String
  let command: [String]
}

struct Runner {
  /// Where the commands' output goes.
  let directory: String
  /// This process's environment, which every command gets (FORKCTL_SOCKET, PATH).
  let environment = Sys.environment().map { String(decoding: $0, as: UTF8.self) }

  /// The path of the executable `name` in PATH, as the shell would find it.
  func lookUp(_ name: String) -> String {
    let path = Sys.environmentValue("PATH") ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") where Sys.isExecutable("\(dir)/\(name)") { return "\(dir)/\(name)" }
    fail("\(name) is not in PATH (\(path))")
  }

  /// Runs `command` with stdin and, unless `keepOutput`, stdout on /dev/null, stderr ours;
  /// returns how it ended and what it printed. The output goes to a file rather than a
  /// pipe: a process that a command leaves behind for a moment (AnyEvent::Fork's
  /// template) holds the file, not us.
  func run(_ command: [String], keepOutput: Bool = true) -> (ExitStatusValue, String) {
    let outPath = directory + "/command.out"
    let described = command.joined(separator: " ")
    do {
      let out = keepOutput ? try Sys.open(outPath, .writeOnly, options: [.create, .truncate]) : nil
      let pid: Int32
      do {
        defer { out?.closeQuietly() }
        pid = try Sys.posixSpawn(
          path: command[0], arguments: command, environment: environment,
          fds: [nil, out, FileDescriptor.standardError])
      }
      let status = try Sys.waitChild(pid)
      return (status, keepOutput ? readFile(outPath) : "")
    } catch {
      fail("cannot run '\(described)': \(Sys.describe(error))")
    }
  }

  /// An untimed check that `command` exits with `status`.
  func expectStatus(_ label: String, _ status: Int32, _ command: [String]) {
    let (ended, _) = run(command, keepOutput: false)
    if ended.exitCode != status {
      let described = command.joined(separator: " ")
      fail("check for '\(label)' failed: '\(described)' ended with \(ended), expected exit \(status)")
    }
  }

  /// How many microseconds `contender` took for `count` calls, by its own account.
  func timeSelf(_ contender: Contender, count: Int) -> UInt64 {
    let command = contender.command.map { $0 == "{N}" ? "\(count)" : $0 }
    let (status, text) = run(command)
    let described = command.joined(separator: " ")
    guard status.exitCode == 0 else { fail("'\(described)' ended with \(status)") }
    guard let us = UInt64(text.split(separator: "\n").first ?? "") else {
      fail("'\(described)' printed '\(text)', not a number of microseconds")
    }
    return us
  }

  /// Times every contender in `rounds` loops of `count` calls, round-robin (the first one
  /// rotates each round) so that they share the machine's noise, after one untimed call of
  /// each (the warm-up; the first forkctl call starts the daemon). A row per contender.
  func timeRoundRobin(_ title: String, _ contenders: [Contender], count: Int, rounds: Int) -> [Row] {
    for c in contenders { _ = timeSelf(c, count: 1) }
    var samples = [[UInt64]](repeating: [], count: contenders.count)
    for round in 0..<rounds {
      progress("\(title): round \(round + 1)/\(rounds) (N=\(count))")
      for j in contenders.indices {
        let i = (round + j) % contenders.count
        samples[i].append(timeSelf(contenders[i], count: count))
      }
    }
    return contenders.indices.map {
      .measured(contenders[$0].label, LoopSummary(count: count, microseconds: samples[$0]))
    }
  }

  /// Runs `command`, a measuring script that prints `value` lines, and reads them.
  func measureCommand(_ command: [String]) -> Results {
    let (status, text) = run(command)
    let described = command.joined(separator: " ")
    if status.exitCode != 0 { fail("'\(described)' ended with \(status)") }
    return Results(text, from: described)
  }

  /// Runs this executable with `arguments` (a measuring command) and reads its results.
  func measure(_ arguments: [String]) -> Results {
    let (status, text) = run([thisExecutable()] + arguments)
    if status.exitCode != 0 { fail("forkctl-bench \(arguments[0]) ended with \(status)") }
    return Results(text, from: "forkctl-bench \(arguments[0])")
  }
}
