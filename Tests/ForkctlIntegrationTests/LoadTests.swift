// Load (issue 5): 32 clients at once, 24 threads sharing one ForkctlClient and 8 threads
// each running forkctl processes one after another, perform 5,040 operations, spawns and
// new/run/wait cycles mixed. Each worker ends with a status derived from its operation's
// index (an exit code, or a signal); every status must come back exactly once and right.
// Afterwards no zombie is left, and the daemon's descriptors and memory are back to their
// baseline. A watchdog ends the test (it kills the daemon, so every call fails) if the
// operations have not finished after `deadlineSeconds`.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Synchronization
import Testing

/// What each operation saw, indexed by operation.
/// A worker's status (Testing has an ExitStatus of its own).
typealias WorkerStatus = ForkctlWire.ExitStatus

final class LoadLedger: Sendable {
  enum Seen: Equatable {
    /// The exact status, as the library or `forkctl spawn` (exit code or re-raised signal)
    /// reports it.
    case status(WorkerStatus)
    /// The shell status `forkctl wait` exits with: the code, or 128 + the signal.
    case shellStatus(Int32)
  }

  private struct State {
    var seen: [[Seen]]
    /// Process object ids the library and `forkctl new` reported, with their operation.
    var ids: [UInt64: Int] = [:]
    var duplicateIDs: [String] = []
  }

  private let state: Mutex<State>

  init(count: Int) { state = Mutex(State(seen: Array(repeating: [], count: count))) }

  func record(_ index: Int, _ seen: Seen, id: UInt64? = nil) {
    state.withLock { s in
      s.seen[index].append(seen)
      if let id {
        if let other = s.ids[id] { s.duplicateIDs.append("id \(id) for operations \(other) and \(index)") }
        s.ids[id] = index
      }
    }
  }

  /// Operations whose status did not come exactly once, or was wrong.
  func wrong(expected: (Int) -> WorkerStatus) -> [String] {
    state.withLock { s in
      s.seen.indices.compactMap { i -> String? in
        let e = expected(i)
        let seen = s.seen[i]
        if seen.count != 1 { return "operation \(i): \(seen.count) statuses \(seen), wanted one: \(e)" }
        switch seen[0] {
        case .status(let got) where got == e: return nil
        case .shellStatus(let got) where got == e.shellStatus: return nil
        default: return "operation \(i): \(seen[0]), wanted \(e)"
        }
      }
    }
  }

  var duplicateIDs: [String] { state.withLock { $0.duplicateIDs } }
  var idCount: Int { state.withLock { $0.ids.count } }
}

extension ExitStatusValue {
  var exitStatus: WorkerStatus {
    if let code = exitCode { return .exited(code) }
    return .signaled(signal ?? 0, coreDumped: coreDumped)
  }
}

@Suite struct LoadTests {
  static let libraryThreads = 24
  static let libraryOperations = 190
  static let cliClients = 8
  static let cliOperations = 60
  static var total: Int { libraryThreads * libraryOperations + cliClients * cliOperations }
  /// The daemon's VmRSS may end this much above its baseline: up to 1,024 exited process
  /// objects stay listed after their wait (forkctl(1), LIMITS), a few hundred bytes each,
  /// and malloc keeps some freed memory. A leak of 1 KiB per operation would exceed it.
  static let rssMarginKiB = 3072
  /// The watchdog's limit; the test takes about 15 s on 2 shared cores with the debug build.
  static let deadlineSeconds: Int32 = 150

  static let signals: [Int32] = [SIGHUP, SIGINT, SIGKILL, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM]

  /// How operation `i`'s worker ends: one in 7 by a signal, the others with i % 251.
  static func expected(_ i: Int) -> WorkerStatus {
    i % 7 == 3 ? .signaled(signals[(i / 7) % signals.count], coreDumped: false) : .exited(Int32(i % 251))
  }

  static func script(_ i: Int) -> String {
    switch expected(i) {
    case .exited(let code): return "exit \(code)"
    case .signaled(let sig, _): return "kill -\(sig) $$"
    }
  }

  static let path = [Array("PATH=/bin:/usr/bin".utf8)]

  static func spec(_ i: Int, wait: Bool) -> RunSpec {
    RunSpec(
      program: Array("/bin/sh".utf8), arguments: ["-c", script(i)].map { Array($0.utf8) }, environment: path,
      waitForExit: wait)
  }

  /// Operation `i` through the library: a spawn (i % 4 = 0 or 2), new + run + wait
  /// (i % 4 = 1), or new + run with wait (i % 4 = 3).
  static func libraryOperation(_ i: Int, _ client: ForkctlClient, _ ledger: LoadLedger) throws(ForkctlError) {
    switch i % 4 {
    case 1:
      let n = try client.new()
      if let early = try client.run(String(n.id), spec(i, wait: false)) {
        throw ForkctlError(.connectionLost, "run without wait of \(n.id) returned a status, \(early)")
      }
      let statuses = try client.wait([String(n.id)])
      guard statuses.count == 1, statuses[0].id == n.id else {
        throw ForkctlError(.connectionLost, "wait for \(n.id) answered \(statuses)")
      }
      ledger.record(i, .status(statuses[0].status), id: n.id)
    case 3:
      let n = try client.new()
      guard let status = try client.run(String(n.id), spec(i, wait: true)) else {
        throw ForkctlError(.connectionLost, "run with wait of \(n.id) returned no status")
      }
      ledger.record(i, .status(status), id: n.id)
    default:
      let p = try client.spawn(
        program: Array("/bin/sh".utf8), arguments: ["-c", script(i)].map { Array($0.utf8) }, fds: [], environment: path)
      let status = try p.wait()
      p.pidfd?.closeQuietly()
      ledger.record(i, .status(status), id: p.id)
    }
  }

  /// Operation `i` through forkctl processes: `forkctl spawn` (even i), or `forkctl new`,
  /// `forkctl run`, `forkctl wait` (odd i). Their stderr goes to `log`, stdout to `out`.
  static func cliOperation(_ i: Int, environment: [String], out: String, log: FileDescriptor, _ ledger: LoadLedger)
    throws
  {
    func forkctl(_ args: [String], stdout: FileDescriptor? = nil) throws -> ExitStatusValue {
      let pid = try Sys.posixSpawn(
        path: forkctlBinary, arguments: ["forkctl"] + args, environment: environment, fds: [nil, stdout, log])
      return try Sys.waitChild(pid)
    }
    if i % 2 == 0 {
      ledger.record(i, .status(try forkctl(["spawn", "--", "/bin/sh", "-c", script(i)]).exitStatus))
      return
    }
    let o = try Sys.open(out, .writeOnly, options: [.create, .truncate])
    let made = try forkctl(["new"], stdout: o)
    o.closeQuietly()
    let printed = readFile(out).split(separator: "\n").first.map(String.init) ?? ""
    guard made.exitCode == 0, let id = UInt64(printed) else {
      try log.writeFully(Array("operation \(i): forkctl new \(made), printed \(printed)\n".utf8))
      return
    }
    let ran = try forkctl(["run", String(id), "--", "/bin/sh", "-c", script(i)])
    guard ran.exitCode == 0 else {
      try log.writeFully(Array("operation \(i): forkctl run \(id) \(ran)\n".utf8))
      return
    }
    let waited = try forkctl(["wait", String(id)])
    guard let code = waited.exitCode else {
      try log.writeFully(Array("operation \(i): forkctl wait \(id) \(waited)\n".utf8))
      return
    }
    ledger.record(i, .shellStatus(code), id: id)
  }

  @Test(
    """
    32 clients (24 threads on one ForkctlClient, 8 running the forkctl binary): 5,040 spawns and new/run/wait cycles, \
    every status exactly once and right; no zombie, fds and RSS back
    """
  )
  func thirtyTwoClients() throws {
    let w = World()
    w.ok(["spawn", "true"])
    let daemon = w.daemonPID
    try #require(daemon > 0)
    let environment = w.environment
    let dir = w.dir
    // Warm-up: every kind of operation a few times, from as many threads, so that the
    // daemon's tables and malloc arenas have grown once before the baseline.
    do {
      let client = ForkctlClient(socketPath: w.socket, autoStart: false)
      let warm = LoadLedger(count: 128)
      let failures = Failures()
      onThreads(32) { t in
        for k in 0..<4 {
          do { try Self.libraryOperation(t * 4 + k, client, warm) } catch { failures.add("warm-up: \(error)") }
        }
      }
      #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
      #expect(warm.wrong(expected: Self.expected).isEmpty)
    }
    let template = try #require(w.entries().first?.pid)
    // The baseline once the daemon has closed every connection, `list`'s too.
    #expect(eventually("warm-up connections closed") { clientConnections(of: daemon).isEmpty })
    let baselineFDs = openDescriptors(daemon)
    let baselineRSS = residentKiB(daemon)

    let ledger = LoadLedger(count: Self.total)
    let failures = Failures()
    let watchdog = try Sys.pipe()
    let running = Mutex(Self.libraryThreads + Self.cliClients)
    let started = Sys.monotonicMilliseconds()
    do {
      let client = ForkctlClient(socketPath: w.socket, autoStart: false)
      onThreads(Self.libraryThreads + Self.cliClients + 1) { t in
        if t == Self.libraryThreads + Self.cliClients {
          // The watchdog: the write end closes when the last client thread is done.
          var p = pollfd(fd: watchdog.read.rawValue, events: Int16(POLLIN), revents: 0)
          if poll(&p, 1, Self.deadlineSeconds * 1000) == 0 {
            failures.add("the operations did not finish within \(Self.deadlineSeconds) s; the daemon was killed")
            kill(daemon, SIGKILL)
          }
          return
        }
        defer {
          if running.withLock({ n -> Int in
            n -= 1
            return n
          }) == 0 {
            watchdog.write.closeQuietly()
          }
        }
        if t < Self.libraryThreads {
          for k in 0..<Self.libraryOperations {
            let i = t * Self.libraryOperations + k
            do { try Self.libraryOperation(i, client, ledger) } catch { failures.add("operation \(i): \(error)") }
          }
          return
        }
        let c = t - Self.libraryThreads
        guard let log = try? Sys.open("\(dir)/cli\(c).err", .writeOnly, options: [.create, .append]) else {
          return failures.add("cannot open the log of CLI client \(c)")
        }
        defer { log.closeQuietly() }
        for k in 0..<Self.cliOperations {
          let i = Self.libraryThreads * Self.libraryOperations + c * Self.cliOperations + k
          do {
            try Self.cliOperation(i, environment: environment, out: "\(dir)/cli\(c).out", log: log, ledger)
          } catch {
            failures.add("operation \(i): \(error)")
          }
        }
      }
    }
    watchdog.read.closeQuietly()
    let elapsed = Sys.monotonicMilliseconds() - started

    #expect(
      failures.all.isEmpty,
      "\(failures.all.count) operations failed, e.g. \(failures.all.prefix(5))\ndaemon log:\n\(daemonLogTail(w))")
    let wrong = ledger.wrong(expected: Self.expected)
    #expect(
      wrong.isEmpty,
      """
      \(wrong.count) of \(Self.total) operations did not get their status exactly once, e.g.:\n\
      \(wrong.prefix(8).joined(separator: "\n"))
      """
    )
    #expect(ledger.duplicateIDs.isEmpty, "\(ledger.duplicateIDs.prefix(5))")
    for c in 0..<Self.cliClients {
      let log = readFile("\(dir)/cli\(c).err")
      #expect(log.isEmpty, "CLI client \(c) wrote to stderr: \(log.prefix(2000))")
    }
    #expect(w.daemonPID == daemon && isAlive(daemon), "the daemon was replaced or died; log:\n\(daemonLogTail(w))")

    // Nothing left behind: every worker reaped (no zombie, no child but the default
    // template), nothing listed but the template and exited process objects that a wait
    // reported (kept, at most 1,024), the descriptors exactly as before, memory within the
    // margin.
    #expect(
      eventually("only the default template is left") { childProcesses(of: daemon) == [template] },
      "children of the daemon: \(childProcesses(of: daemon).map { "\($0) \(commandLine($0))" })")
    #expect(zombieChildren(of: daemon).isEmpty)
    let entries = w.entries()
    #expect(entries.first?.pid == template)
    let live = entries.dropFirst().filter { $0.state != "exited" }
    #expect(live.isEmpty, "process objects not ended: \(live.prefix(5))")
    #expect(entries.count <= 1 + 1024, "\(entries.count) process objects listed")
    let fdsBack = eventually("daemon fds back to baseline") { openDescriptors(daemon) == baselineFDs }
    #expect(
      fdsBack,
      """
      daemon descriptors \(baselineFDs.count) before, \(openDescriptors(daemon).count) after: \
      \(descriptorDifference(baselineFDs, openDescriptors(daemon)))
      """
    )
    let rss = residentKiB(daemon)
    #expect(
      rss <= baselineRSS + Self.rssMarginKiB,
      "daemon VmRSS \(baselineRSS) KiB at the baseline, \(rss) KiB after (margin \(Self.rssMarginKiB) KiB)")
    print(
      """
      load: \(Self.total) operations (\(Self.libraryThreads * Self.libraryOperations) by \(Self.libraryThreads) \
      library threads, \(Self.cliClients * Self.cliOperations) by \(Self.cliClients) CLI clients) in \(elapsed) ms, \
      \(Self.total * 1000 / max(1, Int(elapsed))) per s; \(ledger.idCount) ids; daemon fds \(baselineFDs.count), \
      VmRSS \(baselineRSS) -> \(rss) KiB; \(entries.count) listed
      """
    )
  }
}
