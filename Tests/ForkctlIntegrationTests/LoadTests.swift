// Load (issue 5): 32 clients at once, 24 threads sharing one ForkctlClient and 8 threads
// each running forkctl processes one after another, perform 5,040 operations, spawns and
// new/run/wait cycles mixed. Each worker ends with a status derived from its operation's
// index (an exit code, or a signal); every status must come back exactly once and right.
// Afterwards no zombie is left, and the daemon's descriptors and memory are back to their
// baseline. A watchdog ends the test (it kills the daemon, so every call fails) if the
// operations have not finished after `deadlineSeconds`. A second test runs a smaller load
// while a chaos actor (Chaos.swift) kills and stops templates and process objects.
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

// MARK: Load under chaos

/// What the clients of the chaos load test saw, by token.
final class ChaosLedger: Sendable {
  struct Started {
    var pid: Int32?
    var what: String
  }

  private struct State {
    var started: [Int: Started] = [:]
    var refused: [Int: String] = [:]
    var statuses: [Int: [WorkerStatus]] = [:]
    var failures: [String] = []
  }

  private let state = Mutex(State())

  func started(_ token: Int, pid: Int32? = nil, _ what: String) {
    state.withLock { $0.started[token] = Started(pid: pid, what: what) }
  }

  func refused(_ token: Int, _ what: String) { state.withLock { $0.refused[token] = what } }
  func status(_ token: Int, _ s: WorkerStatus) { state.withLock { $0.statuses[token, default: []].append(s) } }
  func fail(_ s: String) { state.withLock { $0.failures.append(s) } }

  var failures: [String] { state.withLock { $0.failures } }
  var startedCount: Int { state.withLock { $0.started.count } }
  var refusedCount: Int { state.withLock { $0.refused.count } }

  /// Every started program has one status, its own or SIGKILL, and ran as the pid reported;
  /// no refused program ran.
  func wrong(ran: [Int: Int32]) -> [String] {
    state.withLock { s in
      var out: [String] = []
      for (token, r) in s.started.sorted(by: { $0.key < $1.key }) {
        let got = s.statuses[token] ?? []
        guard got.count == 1 else {
          out.append("\(r.what): \(got.count) statuses \(got)")
          continue
        }
        if let pid = r.pid, let p = ran[token], p != pid { out.append("\(r.what): process \(pid), yet it ran as \(p)") }
        switch got[0] {
        case .exited(ChaosProgram.code(token)) where ran[token] != nil: break
        case .signaled(SIGKILL, _): break
        default: out.append("\(r.what): status \(got[0]), its program \(ran[token] == nil ? "never ran" : "ran")")
        }
      }
      for (token, pid) in ran where s.started[token] == nil {
        out.append("\(s.refused[token] ?? "token \(token)") was refused, yet its program ran as \(pid)")
      }
      return out
    }
  }
}

extension LoadTests {
  static let chaosLibraryThreads = 6
  static let chaosCLIClients = 2
  static let chaosOperations = 150
  /// The daemon's --template-timeout, the client's FORKCTL_TIMEOUT, and the slack over the
  /// template timeout that one request may take on a loaded machine.
  static let chaosTemplateTimeoutMilliseconds: Int64 = 1000
  static let chaosClientTimeoutSeconds = 5
  static let chaosSlackMilliseconds: Int64 = 3000

  /// Operation `token` through the library: a spawn, new + run + wait, new + fork + run
  /// --wait, or new + run --wait; each call timed against `bound`.
  static func chaosLibraryOperation(
    _ token: Int, _ client: ForkctlClient, _ program: ChaosProgram, _ ledger: ChaosLedger, bound: Int64
  ) {
    var step = "new"
    func timed<T>(_ what: String, _ call: () throws(ForkctlError) -> T) throws(ForkctlError) -> T {
      step = what
      let started = Sys.monotonicMilliseconds()
      defer {
        let took = Sys.monotonicMilliseconds() - started
        if took > bound { ledger.fail("token \(token): \(what) took \(took) ms, bound \(bound) ms") }
      }
      return try call()
    }
    let arguments = program.arguments(token).map { Array($0.utf8) }
    let path = [Array("PATH=/bin:/usr/bin".utf8)]
    var started = false
    do throws(ForkctlError) {
      switch token % 4 {
      case 0:
        let p = try timed("spawn") { () throws(ForkctlError) in
          try client.spawn(program: Array("/bin/sh".utf8), arguments: arguments, fds: [], environment: path)
        }
        ledger.started(token, pid: p.pid, "spawn \(p.id), token \(token)")
        started = true
        ledger.status(token, try timed("wait for spawn \(p.id)") { () throws(ForkctlError) in try p.wait() })
        p.pidfd?.closeQuietly()
      case 1:
        let n = try timed("new") { () throws(ForkctlError) in try client.new() }
        _ = try timed("run \(n.id)") { () throws(ForkctlError) in try client.run(String(n.id), program.spec(token)) }
        ledger.started(token, pid: n.pid, "run \(n.id), token \(token)")
        started = true
        let s = try timed("wait \(n.id)") { () throws(ForkctlError) in try client.wait([String(n.id)]) }
        if s.count != 1 || s[0].id != n.id { ledger.fail("token \(token): wait \(n.id) answered \(s)") }
        for e in s { ledger.status(token, e.status) }
      default:
        var n = try timed("new") { () throws(ForkctlError) in try client.new() }
        if token % 4 == 2 {
          let parent = n.id
          n = try timed("fork \(parent)") { () throws(ForkctlError) in try client.fork(String(parent)) }
        }
        let s = try timed("run --wait \(n.id)") { () throws(ForkctlError) in
          try client.run(String(n.id), program.spec(token, wait: true))
        }
        ledger.started(token, pid: n.pid, "run --wait \(n.id), token \(token)")
        started = true
        if let s { ledger.status(token, s) } else { ledger.fail("token \(token): run --wait \(n.id) gave no status") }
      }
    } catch {
      // Refused before its program started: fine, if the program never runs. A started
      // program whose status cannot be had is a failure.
      if started {
        ledger.fail("token \(token): \(step): \(error)")
      } else {
        ledger.refused(token, "\(step): \(error)")
      }
    }
  }

  /// Operation `token` through `forkctl spawn`: its program's code, 137 when the chaos killed
  /// it, or 125 when it did not start.
  static func chaosCLIOperation(
    _ token: Int, environment: [String], log: FileDescriptor, _ program: ChaosProgram, _ ledger: ChaosLedger,
    bound: Int64
  ) {
    let started = Sys.monotonicMilliseconds()
    let what = "forkctl spawn, token \(token)"
    guard
      let pid = try? Sys.posixSpawn(
        path: forkctlBinary, arguments: ["forkctl", "spawn", "--", "/bin/sh"] + program.arguments(token),
        environment: environment, fds: [nil, nil, log]),
      let status = try? Sys.waitChild(pid)
    else { return ledger.fail("\(what): cannot run forkctl") }
    let took = Sys.monotonicMilliseconds() - started
    if took > bound { ledger.fail("\(what) took \(took) ms, bound \(bound) ms") }
    if status.exitCode == 125 { return ledger.refused(token, what) }
    ledger.started(token, what)
    ledger.status(token, status.exitStatus)
  }

  @Test(
    """
    load under chaos: 8 clients spawn, new, fork, run and wait while templates and objects are killed and stopped; \
    every program's own status once, bounded waits, no zombie, fds back
    """
  )
  func loadUnderChaos() throws {
    let seed = fuzzSeed
    let tag = "FORKCTL_FUZZ_SEED=\(seed)"
    let w = World()
    w.extraEnvironment = ["FORKCTL_TIMEOUT=\(Self.chaosClientTimeoutSeconds)"]
    w.startDaemon(["--template-timeout", String(Double(Self.chaosTemplateTimeoutMilliseconds) / 1000)])
    w.ok(["spawn", "true"])
    let daemon = w.daemonPID
    try #require(daemon > 0)
    #expect(eventually("warm-up connections closed") { clientConnections(of: daemon).isEmpty })
    let baselineFDs = openDescriptors(daemon)
    let program = ChaosProgram(log: w.dir + "/ran")
    let ledger = ChaosLedger()
    let chaos = ChaosActor(daemon: daemon)
    let bound = Self.chaosTemplateTimeoutMilliseconds + Self.chaosSlackMilliseconds
    let environment = w.environment
    let dir = w.dir
    let socket = w.socket

    // The default template is only forked: it may be left stopped, for its forks to fail
    // within --template-timeout.
    let templates = w.entries().map(\.pid)
    for pid in templates { chaos.add(pid, forkOnly: true) }
    let actor = chaos.begin(seed: seed)
    // A watcher adds the daemon's children as they come, so that the actor also hits
    // templates and objects in the middle of their forks; it ends with the last client.
    let clients = Self.chaosLibraryThreads + Self.chaosCLIClients
    let running = Mutex(clients)
    let started = Sys.monotonicMilliseconds()
    onThreads(clients + 1) { t in
      if t == clients {
        // A template (the default one started again after a kill) may be left stopped: the
        // listing says which processes are templates, a fresh fork still bears its
        // template's title.
        let client = ForkctlClient(socketPath: socket, autoStart: false)
        var seen = Set(templates)
        var seenTemplates = Set(templates)
        var round = 0
        while running.withLock({ $0 }) > 0 {
          round += 1
          if round % 10 == 0, let listed = try? client.list() {
            for e in listed where e.role != .forked && e.state == .ready && !seenTemplates.contains(e.pid) {
              seenTemplates.insert(e.pid)
              chaos.add(e.pid, forkOnly: true)
            }
          }
          for pid in childProcesses(of: daemon).subtracting(seen) {
            seen.insert(pid)
            chaos.add(pid, forkOnly: false)
          }
          usleep(2_000)
        }
        return
      }
      defer { running.withLock { $0 -= 1 } }
      if t < Self.chaosLibraryThreads {
        let client = ForkctlClient(socketPath: socket, autoStart: false)
        for k in 0..<Self.chaosOperations {
          Self.chaosLibraryOperation(t * Self.chaosOperations + k, client, program, ledger, bound: bound)
        }
        return
      }
      guard let log = try? Sys.open("\(dir)/cli\(t).err", .writeOnly, options: [.create, .append]) else {
        return ledger.fail("cannot open the log of CLI client \(t)")
      }
      defer { log.closeQuietly() }
      for k in 0..<Self.chaosOperations {
        Self.chaosCLIOperation(
          t * Self.chaosOperations + k, environment: environment, log: log, program, ledger, bound: bound)
      }
    }
    chaos.end(actor)
    let elapsed = Sys.monotonicMilliseconds() - started

    let failures = ledger.failures
    #expect(failures.isEmpty, "\(tag): \(failures.count) failures, e.g. \(failures.prefix(8))")
    let wrong = ledger.wrong(ran: program.ran())
    #expect(wrong.isEmpty, "\(tag): \(wrong.count) wrong statuses, e.g.:\n\(wrong.prefix(8).joined(separator: "\n"))")
    #expect(w.daemonPID == daemon && isAlive(daemon), "\(tag): the daemon died; log:\n\(daemonLogTail(w))")
    // Nothing left behind: no zombie, every child of the daemon a template or an unrun
    // process object (ready), nothing starting or running, and the descriptors as before
    // but for the sockets of templates that replaced killed ones.
    #expect(eventually("no zombie") { zombieChildren(of: daemon).isEmpty }, "\(tag)")
    let entries = w.entries()
    let busy = entries.filter { $0.state != "exited" && $0.state != "ready" }
    #expect(busy.isEmpty, "\(tag): process objects not settled: \(busy.prefix(5))")
    let ready = Set(entries.filter { $0.state == "ready" }.map(\.pid))
    #expect(
      eventually("only templates and unrun objects are left") { childProcesses(of: daemon).isSubset(of: ready) },
      "\(tag): children of the daemon: \(childProcesses(of: daemon).map { "\($0) \(commandLine($0))" })")
    // The unrun objects and templates killed, the next spawn starts a default template
    // again: the descriptors are then those of the baseline.
    for e in entries where e.state == "ready" { kill(e.pid, SIGKILL) }
    #expect(eventually("everything reaped") { childProcesses(of: daemon).isEmpty }, "\(tag)")
    w.ok(["spawn", "true"])
    func shape(_ fds: [Int32: String]) -> [Int32: String] {
      fds.mapValues { $0.hasPrefix("socket:") ? "socket" : $0 }
    }
    let fdsBack = eventually("daemon fds back to baseline") {
      clientConnections(of: daemon).isEmpty && shape(openDescriptors(daemon)) == shape(baselineFDs)
    }
    #expect(
      fdsBack,
      """
      \(tag): daemon descriptors \(baselineFDs.count) before, \(openDescriptors(daemon).count) after: \
      \(descriptorDifference(shape(baselineFDs), shape(openDescriptors(daemon))))
      """
    )
    print(
      """
      \(tag): load under chaos in \(elapsed) ms: chaos \(chaos.actions); \(ledger.startedCount) programs started, \
      \(ledger.refusedCount) refused
      """
    )
  }
}
