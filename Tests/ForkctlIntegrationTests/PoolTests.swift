// Worker pools (issue 13) against the built binary and a private daemon: the notify
// descriptor and NOTIFY_SOCKET, the regulation (the ramp, the shrink, max-requests, the
// timeout, a dead worker replaced), reload and stop losing nothing, and the refusals. Each
// test is bounded in time: it waits on what `pool status --json`, `pool events` and the
// fixtures' log say, with a deadline. The workers are Tests/Fixtures/pool (PoolHarness.swift).
import ForkctlSys
import Glibc
import Testing

/// Sizes that keep a pool at `n` workers whatever they report: no ramp, no shrink.
extension PoolLab {
  /// `pool events NAME`, once it follows: a resize to the pool's own --max is an event that
  /// changes nothing, asked until the follower prints it. Under load a follower started just
  /// before an action connected after it, and missed its event (seen).
  func follow(_ name: String, max: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> BackgroundProcess {
    let events = BackgroundProcess(world, forkctl: ["pool", "events", name], tag: "events")
    try #require(
      eventually("pool events follows") {
        world.ok(["pool", "resize", name, "--max", "\(max)"], sourceLocation: sourceLocation)
        return events.stdout.contains("\"event\":\"size\"")
      }, sourceLocation: sourceLocation)
    return events
  }
}

private func fixed(_ n: Int) -> [String] {
  ["--start", "\(n)", "--min-idle", "0", "--max-idle", "\(n)", "--max", "\(n)"]
}

/// Times grouped into bursts: a gap longer than `gap` seconds starts a new one.
private func bursts(_ times: [Double], gap: Double = 0.35) -> [[Double]] {
  var out: [[Double]] = []
  for t in times.sorted() {
    if let last = out.last?.last, t - last < gap { out[out.count - 1].append(t) } else { out.append([t]) }
  }
  return out
}

/// An event of `pool events` with these fields (numbers compared as integers).
private func hasEvent(_ lines: [JSON], _ fields: [String: JSON]) -> Bool {
  lines.contains { line in fields.allSatisfy { line[$0.key] == $0.value } }
}

/// load.py's summary line: "requests=N ok=N bad=N refused=N pids=A,B".
private struct LoadSummary {
  var counts: [String: Int] = [:]
  var pids: [Int32] = []

  init(_ line: String) {
    for field in line.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
      let kv = field.split(separator: "=", maxSplits: 1)
      guard kv.count == 2 else { continue }
      if kv[0] == "pids" {
        pids = kv[1].split(separator: ",").compactMap { Int32($0) }
      } else {
        counts[String(kv[0])] = Int(kv[1])
      }
    }
  }
}

@Suite("Pools: worker pools regulated by what their workers report", .serialized)
struct PoolTests {
  // MARK: reporting

  @Test(
    """
    a shell worker's READY=1, BUSY=1, IDLE=1 and STATUS= on its notify descriptor change what \
    pool status shows; other lines go to pool events
    """
  )
  func shellNotifyDescriptor() throws {
    let lab = PoolLab()
    let made = lab.create("sh", fixed(1), lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let events = try lab.follow("sh", max: 1)
    let ready = try #require(
      lab.waitFor("sh", "the worker reports READY=1") { $0.workers.count == 1 && $0.workers[0].state == "idle" })
    let worker = ready.workers[0]
    #expect(worker.pid > 0 && worker.generation == 1 && worker.requests == 0 && ready.requests == 0)
    // FORKCTL_POOL and FORKCTL_NOTIFY_FD=9, a socket at 9.
    #expect(readFile(lab.dir + "/log").contains("env \(worker.pid) sh 9\n"))
    #expect(openDescriptors(worker.pid)[9]?.hasPrefix("socket:[") == true, "\(openDescriptors(worker.pid))")

    lab.setMode("busy")
    let busy = lab.waitFor("sh", "BUSY=1 shows the worker busy") { $0.workers.first?.state == "busy" }
    #expect(busy?.count("busy") == 1 && busy?.count("idle") == 0)
    #expect(busy?.requests == 1 && busy?.workers.first?.requests == 1)
    lab.setMode("idle")
    let idle = lab.waitFor("sh", "IDLE=1 shows it idle") { $0.workers.first?.state == "idle" }
    #expect(idle?.count("idle") == 1 && idle?.count("busy") == 0 && idle?.requests == 1)
    lab.setMode("busy")
    lab.waitFor("sh", "each BUSY=1 counts one request") { $0.requests == 2 && $0.workers.first?.requests == 2 }
    lab.setMode("idle")

    // Two lines in one datagram: a STATUS= and a line that is not a message of the protocol.
    lab.say("STATUS=serving \(worker.pid)\nX_FIXTURE=hello \(worker.pid)\n", pid: worker.pid)
    lab.waitFor("sh", "STATUS= shows in the worker's status") { $0.workers.first?.status == "serving \(worker.pid)" }
    let data: [String: JSON] = [
      "event": .string("data"), "pool": .string("sh"), "id": .number(Double(worker.id)),
      "line": .string("X_FIXTURE=hello \(worker.pid)"),
    ]
    #expect(
      eventually("the data line reaches pool events") { hasEvent(events.jsonLines, data) },
      "pool events printed: \(events.stdout)")
    #expect(events.isRunning, "pool events ended early: \(events.stderr)")
    lab.world.ok(["pool", "stop", "sh"])
    #expect(events.finish(timeout: 10) == 0, "pool events did not end with its pool: \(events.stderr)")
    #expect(!events.jsonLines.contains(.null), "a line of pool events is not JSON: \(events.stdout)")
  }

  @Test("--notify-fd puts the notify descriptor at N, named in FORKCTL_NOTIFY_FD, and nothing at 9")
  func notifyDescriptorElsewhere() throws {
    let lab = PoolLab()
    let made = lab.create("nf", fixed(1) + ["--notify-fd", "7"], lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let ready = try #require(lab.waitFor("nf", "READY=1 on descriptor 7") { $0.workers.first?.state == "idle" })
    let pid = ready.workers[0].pid
    #expect(readFile(lab.dir + "/log").contains("env \(pid) nf 7\n"), "log: \(lab.log)")
    let fds = openDescriptors(pid)
    #expect(fds[7]?.hasPrefix("socket:[") == true && fds[9] == nil, "\(fds)")
    lab.setMode("busy")
    lab.waitFor("nf", "BUSY=1 on descriptor 7") { $0.workers.first?.state == "busy" && $0.requests == 1 }
  }

  @Test(
    """
    --notify-socket: a program written for sd_notify(3) reports through NOTIFY_SOCKET, an \
    abstract address; --notify-fd puts the descriptor elsewhere
    """
  )
  func notifySocket() throws {
    try requireProgram(python3Binary, package: "python3")
    let lab = PoolLab()
    let made = lab.create(
      "sd", fixed(1) + ["--notify-socket", "--notify-fd", "7"],
      [python3Binary, poolFixtures + "/notify-socket-worker.py", lab.dir])
    try #require(made.code == 0, "pool create: \(made.stderr)")
    // READY=1 and STATUS= came in one datagram to NOTIFY_SOCKET.
    let ready = try #require(
      lab.waitFor("sd", "READY=1 by NOTIFY_SOCKET") {
        $0.workers.first?.state == "idle" && $0.workers.first?.status.hasPrefix("sd_notify ") == true
      })
    let pid = ready.workers[0].pid
    let started = readFile(lab.dir + "/log").split(separator: "\n").first { $0.hasPrefix("notify-socket \(pid) ") }
    let fields = started?.split(separator: " ") ?? []
    #expect(fields.count == 4, "the worker's log: \(readFile(lab.dir + "/log"))")
    if fields.count == 4 {
      #expect(fields[2].hasPrefix("@") && fields[2].count > 1, "NOTIFY_SOCKET=\(fields[2])")
      #expect(fields[3] == "7")
    }
    #expect(openDescriptors(pid)[7]?.hasPrefix("socket:[") == true, "\(openDescriptors(pid))")
    lab.setMode("busy")
    lab.waitFor("sd", "BUSY=1 by NOTIFY_SOCKET") { $0.workers.first?.state == "busy" && $0.requests == 1 }
    lab.setMode("idle")
    lab.waitFor("sd", "IDLE=1 by NOTIFY_SOCKET") { $0.workers.first?.state == "idle" }
  }

  // MARK: regulation

  @Test(
    """
    the ramp: all busy below --min-idle, the pool grows by 1, 2, 4 a second, never past --max; \
    all idle, it shrinks by one a second down to --max-idle
    """
  )
  func rampAndShrink() throws {
    let lab = PoolLab()
    let made = lab.create(
      "ramp", ["--start", "2", "--min-idle", "2", "--max-idle", "4", "--max", "12"], lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let first = try #require(lab.waitFor("ramp", "two workers ready") { $0.workers(in: "idle").count == 2 })
    let initial = Set(first.workers.map(\.id))

    lab.setMode("busy")
    var firstSeen: [Int: Double] = [:]
    var most = 0
    var last = lab.watch("ramp", seconds: 25) { s, t in
      for w in s.workers where firstSeen[w.id] == nil { firstSeen[w.id] = t }
      most = max(most, s.workers.count)
      return s.workers(in: "busy").count == 12
    }
    #expect(most <= 12, "\(most) workers at once, above --max 12")
    try #require(
      last?.workers(in: "busy").count == 12,
      "the pool did not grow to 12 busy workers: \(String(describing: last?.json))")
    let added = bursts(firstSeen.filter { !initial.contains($0.key) }.map(\.value))
    // Apache's ramp: 1, then 2, then 4 (8 would pass --max: 3).
    #expect(added.map(\.count) == [1, 2, 4, 3], "workers started per burst: \(added)")
    for (a, b) in zip(added, added.dropFirst()) {
      #expect(b[0] - a[0] >= 0.6, "two bursts \(b[0] - a[0]) s apart, less than a second: \(added)")
    }

    lab.setMode("idle")
    var leftAt: [Int: Double] = [:]
    var fewest = 12
    var settled: Double?
    last = lab.watch("ramp", seconds: 30) { s, t in
      // A worker leaves when it is asked to stop (or when it is gone, if that was missed).
      let live = Set(s.live.map(\.id))
      for id in firstSeen.keys where !live.contains(id) && leftAt[id] == nil { leftAt[id] = t }
      fewest = min(fewest, s.live.count)
      // Settled at 4 idle: watched 2.5 s more, so that one more stop would be seen.
      guard s.workers.count == 4 && s.workers(in: "idle").count == 4 else {
        settled = nil
        return false
      }
      if settled == nil { settled = t }
      return t - settled! >= 2.5
    }
    #expect(settled != nil, "the pool did not shrink to 4 idle workers: \(String(describing: last?.json))")
    #expect(fewest == 4, "the pool went down to \(fewest) workers, below --max-idle 4")
    let stops = bursts(Array(leftAt.values), gap: 0.5)
    #expect(leftAt.count == 8 && stops.allSatisfy { $0.count == 1 }, "workers stopped, by burst: \(stops)")
    #expect(last?.departures("shrunk").count == 8, "history: \(String(describing: last?.history))")
  }

  @Test("--max-requests with --jitter retires workers one at a time, never two at once, and replaces each")
  func maxRequestsRetiresOneAtATime() throws {
    let lab = PoolLab()
    let made = lab.create("mr", fixed(3) + ["--max-requests", "3", "--jitter", "2"], lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    // A retiring worker takes 0.3 s over SIGTERM: two retired at once would overlap.
    writeFile(lab.dir + "/term-delay", "0.3\n")
    try #require(lab.waitFor("mr", "three workers ready") { $0.workers(in: "idle").count == 3 } != nil)
    lab.setMode("cycle")
    let retired = lab.waitFor("mr", "six retirements", timeout: 45) { $0.departures("retired").count >= 6 }
    lab.setMode("idle")
    let settled = try #require(
      lab.waitFor("mr", "three workers again, every retired one replaced") {
        $0.live.count == 3 && $0.workers(in: "idle").count == 3 && $0.restarts >= $0.departures("retired").count
      })
    #expect(retired != nil)
    #expect(settled.history.allSatisfy { $0.reason == "retired" }, "history: \(settled.history)")
    // Never two at once: from a worker's SIGTERM to its exit, no other worker gets one.
    var retiring: Int32?
    var overlaps: [String] = []
    for (word, pid) in lab.log {
      if word == "term" {
        if let other = retiring { overlaps.append("\(pid) got SIGTERM while \(other) was retiring") }
        retiring = pid
      } else if word == "exit" && pid == retiring {
        retiring = nil
      }
    }
    #expect(overlaps.isEmpty, "\(overlaps)")
    for d in settled.departures("retired") {
      let served = lab.log.filter { $0.word == "busy" && $0.pid == d.pid }.count
      #expect(served >= 3, "worker \(d.pid) retired after \(served) requests, fewer than --max-requests 3")
    }
  }

  @Test(
    """
    --timeout: a worker busy past it without WATCHDOG=1 gets SIGQUIT, SIGKILL after the grace, \
    and is replaced; its departure says timed out; one that sends WATCHDOG=1 is kept
    """
  )
  func timeoutKillsAHungWorker() throws {
    let lab = PoolLab()
    let made = lab.create("to", fixed(2) + ["--timeout", "1"], lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let ready = try #require(lab.waitFor("to", "two workers ready") { $0.workers(in: "idle").count == 2 })
    let hung = ready.workers[0].pid
    let watched = ready.workers[1].pid
    lab.setMode("watchdog", pid: watched)
    lab.setMode("busy", pid: hung)
    try #require(eventually("SIGQUIT", timeout: 15) { lab.logged("quit", hung) }, "log: \(lab.log)")
    let quitAt = monotonicSeconds()
    // SIGQUIT so that it can say where it hangs; it lives on until the grace ends.
    #expect(isAlive(hung))
    let after = try #require(
      lab.waitFor("to", "the hung worker killed and replaced", timeout: 20) { s in
        s.history.contains { $0.pid == hung } && s.live.count == 2 && !s.workers.contains { $0.pid == hung }
      })
    // The grace (forkctl(1): 3 s), less the time this test took to see the SIGQUIT.
    #expect(monotonicSeconds() - quitAt >= 2, "SIGKILL came \(monotonicSeconds() - quitAt) s after SIGQUIT")
    let departure = after.history.first { $0.pid == hung }
    #expect(departure?.reason == "timed out" && departure?.status == "signal 9", "history: \(after.history)")
    #expect(!lab.logged("term", hung))
    #expect(after.restarts >= 1)
    #expect(!lab.logged("quit", watched) && isAlive(watched), "the worker that sent WATCHDOG=1 was not kept")
  }

  @Test("a worker killed from outside, or ending by itself, is replaced and its status kept in the history")
  func deadWorkerReplaced() throws {
    let lab = PoolLab()
    let made = lab.create("die", fixed(2), lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let events = try lab.follow("die", max: 2)
    let ready = try #require(lab.waitFor("die", "two workers ready") { $0.workers(in: "idle").count == 2 })
    let killed = ready.workers[0].pid
    let quitter = ready.workers[1].pid
    try Sys.kill(killed, .kill)
    lab.setMode("exit", pid: quitter)
    let after = try #require(
      lab.waitFor("die", "both replaced") { s in
        let gone = s.history.map(\.pid)
        return gone.contains(killed) && gone.contains(quitter) && s.workers(in: "idle").count == 2
      })
    let k = after.history.first { $0.pid == killed }
    let q = after.history.first { $0.pid == quitter }
    #expect(k?.status == "signal 9" && k?.reason == "died", "history: \(after.history)")
    #expect(q?.status == "exited 3" && q?.reason == "died", "history: \(after.history)")
    #expect(after.restarts == 2)
    #expect(!after.workers.contains { $0.pid == killed || $0.pid == quitter })
    #expect(eventually("no zombie") { zombieChildren(of: lab.world.daemonPID).isEmpty })
    let exited: [String: JSON] = [
      "event": .string("exited"), "pool": .string("die"), "pid": .number(Double(killed)), "reason": .string("died"),
    ]
    #expect(
      eventually("pool events shows the death") {
        events.jsonLines.contains { line in
          exited.allSatisfy { line[$0.key] == $0.value } && statusWords(line) == "signal 9"
        }
      }, "\(events.stdout)")
    for w in after.workers {
      let started: [String: JSON] = [
        "event": .string("started"), "pool": .string("die"), "id": .number(Double(w.id)), "pid": .number(Double(w.pid)),
      ]
      #expect(
        eventually("pool events shows the replacement") { hasEvent(events.jsonLines, started) }, "\(events.stdout)")
    }
  }

  @Test("a program that cannot be executed: every departure says failed to start (exit 127), and restarts back off")
  func programThatCannotStart() throws {
    let lab = PoolLab()
    let made = lab.create("nx", fixed(6), [lab.dir + "/no-such-program"])
    try #require(made.code == 0, "pool create: \(made.stderr)")
    // Six at once; the first two deaths are replaced at once, the next ones delay the next
    // start 1 s, 2 s ... 30 s (forkctl(1)): eight departures, then nothing for a while.
    let failed = try #require(lab.waitFor("nx", "eight failed starts") { $0.history.count >= 8 })
    let later = lab.watch("nx", seconds: 2) { s, _ in s.history.count > 8 }
    #expect(later?.history.count == 8, "restarted without backing off: \(later?.history.count ?? -1) departures")
    #expect(
      failed.history.allSatisfy { $0.reason == "failed to start" && $0.status == "exited 127" },
      "history: \(failed.history.map { "\($0.pid) \($0.status) \($0.reason)" })")
  }

  // MARK: nothing lost

  /// A pool "web" of three http-worker.py, holding each connection `hold` seconds, on a
  /// listener sent to the template at 3; the pool's status and the port.
  private func webPool(_ lab: PoolLab, hold: String) throws -> (PoolInfo, UInt16) {
    try requireProgram(python3Binary, package: "python3")
    let (listener, port) = loopbackListener()
    lab.world.ok(["send-fd", "tpl", "3=3"], fds: [3: listener])
    // The template and its workers are the only holders: none left, and connections are refused.
    listener.closeQuietly()
    let made = lab.create("web", fixed(3), [python3Binary, poolFixtures + "/http-worker.py", lab.dir, hold])
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let ready = try #require(lab.waitFor("web", "three HTTP workers ready") { $0.workers(in: "idle").count == 3 })
    return (ready, port)
  }

  /// Whether web's three workers are all of `generation` and running: idle or busy, so that
  /// their pids are known. One still starting is listed with pid 0 until its fork is reported,
  /// which takes a remade template's start-up (an exec) under load: a status read then named
  /// none of the workers that went on to answer (seen).
  private func inPlace(_ s: PoolInfo, generation: Int) -> Bool {
    s.generation == generation && s.workers.count == 3
      && s.workers.allSatisfy { $0.generation == generation && ["idle", "busy"].contains($0.state) && $0.pid != 0 }
  }

  /// load.py against the port for `seconds` with `clients` clients.
  private func load(_ lab: PoolLab, _ port: UInt16, seconds: Int, clients: Int, tag: String) -> BackgroundProcess {
    BackgroundProcess(
      lab.world, path: python3Binary,
      ["python3", poolFixtures + "/load.py", String(port), String(seconds), String(clients)], tag: tag)
  }

  /// Waits for load.py and reads its summary; records its failures.
  private func summary(of load: BackgroundProcess, sourceLocation: SourceLocation = #_sourceLocation) -> LoadSummary {
    let code = load.finish(timeout: 60)
    #expect(code == 0, "load.py: \(load.stdout) \(load.stderr)", sourceLocation: sourceLocation)
    return LoadSummary(load.stdout)
  }

  @Test("reload under load: every request answered, the old generation gone afterwards")
  func reloadUnderLoad() throws {
    let lab = PoolLab()
    let (before, port) = try webPool(lab, hold: "0.05")
    let old = Set(before.workers.map(\.pid))
    let traffic = load(lab, port, seconds: 6, clients: 4, tag: "load")
    try #require(lab.waitFor("web", "the load under way") { $0.requests >= 20 } != nil)
    lab.world.ok(["pool", "reload", "web"])
    let after = lab.waitFor("web", "every worker of generation 2", timeout: 20) { inPlace($0, generation: 2) }
    let result = summary(of: traffic)
    #expect(result.counts["bad"] == 0 && result.counts["refused"] == 0 && (result.counts["requests"] ?? 0) >= 40)
    #expect(eventually("the old generation gone") { old.allSatisfy { statFields($0) == nil } })
    #expect(after?.departures("reloaded").count == 3, "history: \(String(describing: after?.history))")
    // The load spanned the reload: both generations answered.
    let new = Set(after?.workers.map(\.pid) ?? [])
    #expect(
      result.pids.contains { old.contains($0) } && result.pids.contains { new.contains($0) },
      "\(result.pids); after: \(String(describing: after?.json)); now: \(String(describing: lab.status("web")?.json))")
  }

  @Test("a listener sent to the template is shared by every worker, and no connection is refused during a reload")
  func sharedListener() throws {
    let lab = PoolLab()
    let (first, port) = try webPool(lab, hold: "0.05")
    // Six clients on three workers that hold each connection: every worker takes its share.
    let warm = summary(of: load(lab, port, seconds: 2, clients: 6, tag: "warm"))
    #expect(warm.counts["bad"] == 0)
    #expect(Set(first.workers.map(\.pid)).isSubset(of: Set(warm.pids)), "answered by \(warm.pids)")
    #expect(Set(warm.pids).isSubset(of: Set(first.workers.map(\.pid))), "answered by \(warm.pids)")

    // Short connections, as fast as they go, through two reloads in a row.
    let traffic = load(lab, port, seconds: 6, clients: 6, tag: "load")
    for generation in [2, 3] {
      let served = lab.status("web")?.requests ?? 0
      try #require(lab.waitFor("web", "the load under way") { $0.requests >= served + 10 } != nil)
      lab.world.ok(["pool", "reload", "web"])
      lab.waitFor("web", "generation \(generation) in place", timeout: 20) { inPlace($0, generation: generation) }
    }
    let result = summary(of: traffic)
    #expect(result.counts["refused"] == 0 && result.counts["bad"] == 0, "\(traffic.stdout) \(traffic.stderr)")
  }

  @Test(
    """
    pool stop --graceful: a busy worker finishes (its IDLE=1 comes) before it is stopped; stop \
    returns once every worker has exited; no zombie, no descriptor left in the daemon
    """
  )
  func gracefulStop() throws {
    let lab = PoolLab()
    lab.world.ok(["list"])
    // The daemon may not have closed list's connection yet (under load, seen): what it holds
    // at the end must be among what it held here, each number naming the same file.
    let baseline = openDescriptors(lab.world.daemonPID)
    let made = lab.create("g", fixed(2), lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let ready = try #require(lab.waitFor("g", "two workers ready") { $0.workers(in: "idle").count == 2 })
    let busy = ready.workers[0].pid
    let idle = ready.workers[1].pid
    lab.setMode("busy", pid: busy)
    try #require(lab.waitFor("g", "one worker busy") { $0.workers.first { $0.pid == busy }?.state == "busy" } != nil)

    let stop = BackgroundProcess(lab.world, forkctl: ["pool", "stop", "g", "--graceful"], tag: "stop")
    #expect(eventually("the idle worker stopped at once") { lab.logged("exit", idle) }, "log: \(lab.log)")
    // A second's watch: the busy worker is left alone, and stop waits for it.
    _ = eventually("the busy worker stopped early (it must not be)", timeout: 1) { lab.logged("term", busy) }
    #expect(!lab.logged("term", busy) && isAlive(busy) && stop.isRunning, "log: \(lab.log)")
    lab.setMode("idle", pid: busy)
    #expect(stop.finish(timeout: 15) == 0, "pool stop --graceful: \(stop.stderr)")
    #expect(Array(lab.log.filter { $0.pid == busy }.map(\.word).suffix(3)) == ["idle", "term", "exit"])
    #expect(!isAlive(busy) && !isAlive(idle), "pool stop returned before its workers exited")
    #expect(eventually("no zombie") { zombieChildren(of: lab.world.daemonPID).isEmpty })
    #expect(
      eventually("the daemon's descriptors back to those it held before the pool") {
        openDescriptors(lab.world.daemonPID).allSatisfy { baseline[$0.key] == $0.value }
      }, "\(openDescriptors(lab.world.daemonPID)), before the pool \(baseline)")
    #expect(lab.world.run(["pool", "status", "g"]).code == 125, "the pool outlived its stop")
  }

  @Test("pool stop without --graceful stops a busy worker at once")
  func immediateStop() throws {
    let lab = PoolLab()
    let made = lab.create("now", fixed(1), lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    try #require(lab.waitFor("now", "the worker ready") { $0.workers.first?.state == "idle" } != nil)
    lab.setMode("busy")
    let busy = try #require(lab.waitFor("now", "the worker busy") { $0.workers.first?.state == "busy" })
    let pid = busy.workers[0].pid
    let stop = BackgroundProcess(lab.world, forkctl: ["pool", "stop", "now"], tag: "stop")
    #expect(stop.finish(timeout: 15) == 0, "pool stop: \(stop.stderr)")
    #expect(Array(lab.log.filter { $0.pid == pid }.map(\.word).suffix(3)) == ["busy", "term", "exit"])
    #expect(!isAlive(pid))
  }

  @Test("a pool events follower that stops reading does not make the daemon's memory grow without bound")
  func stalledFollower() throws {
    let lab = PoolLab()
    // Two workers that send 4 kB data lines as fast as they can: each one an event to follow.
    let chatter = #"echo READY=1 >&9; line=$(printf "%04000d" 0); while :; do printf "X=%s\n" "$line" >&9; done"#
    let made = lab.create("chatty", fixed(2), ["/bin/sh", "-c", chatter])
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let events = BackgroundProcess(lab.world, forkctl: ["pool", "events", "chatty"], tag: "events")
    try #require(eventually("pool events follows") { events.stdout.contains("\"event\":\"data\"") })
    try Sys.kill(events.pid, .stop)
    defer { try? Sys.kill(events.pid, .continue) }
    let daemon = lab.world.daemonPID
    /// VmRSS in KiB (proc(5)).
    func resident() -> Int {
      let line = readFile("/proc/\(daemon)/status").split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
      return Int(line?.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    let before = resident()
    var most = before
    // Six seconds of chatter to a follower that reads nothing: what the daemon keeps for it
    // must be bounded (by dropping events or the follower), not the whole stream.
    _ = eventually("the daemon grows past 16 MiB", timeout: 6) {
      most = max(most, resident())
      return most - before > 16 * 1024
    }
    #expect(most - before <= 16 * 1024, "the daemon grew from \(before) KiB to \(most) KiB")
  }

  // MARK: refusals

  @Test("refused: an unknown pool, a pool from a running object, a duplicate name, a resize above --max")
  func refusals() throws {
    let lab = PoolLab()
    for args in [
      ["status", "nosuch"], ["resize", "nosuch", "+1"], ["reload", "nosuch"], ["stop", "nosuch"],
      ["events", "nosuch"],
    ] {
      let r = lab.world.run(["pool"] + args)
      #expect(r.code == 125 && r.stderr.contains("no pool nosuch"), "pool \(args): \(r.code) \(r.stderr)")
    }
    let none = lab.world.run(["pool", "status", "--json"])
    #expect(none.code == 0 && JSON.values(none.stdout).map { $0.flatMap { $0.array ?? [$0] }.isEmpty } == true)

    let unknown = lab.world.run(["pool", "create", "u", "--from", "nosuch"] + fixed(1) + ["--"] + lab.shellWorker)
    #expect(unknown.code == 125 && unknown.stderr.contains("nosuch"), "\(unknown.stderr)")
    let id = lab.world.ok(["new"])
    lab.world.ok(["run", id, "--", "sleep", "30"])
    let running = lab.world.run(["pool", "create", "r", "--from", id] + fixed(1) + ["--"] + lab.shellWorker)
    #expect(running.code == 125 && !running.stderr.isEmpty, "a pool from a running object: \(running.code)")
    #expect(lab.status("r") == nil)
    lab.world.run(["kill", "-s", "KILL", id])

    let sizes = ["--start", "1", "--min-idle", "0", "--max-idle", "2", "--max", "2"]
    let made = lab.create("dup", sizes, lab.shellWorker)
    try #require(made.code == 0, "pool create: \(made.stderr)")
    let again = lab.create("dup", sizes, lab.shellWorker)
    #expect(again.code == 125 && again.stderr.contains("dup"), "a duplicate name: \(again.code) \(again.stderr)")
    let first = try #require(lab.waitFor("dup", "the first pool's worker ready") { $0.workers(in: "idle").count == 1 })
    let over = lab.world.run(["pool", "resize", "dup", "+5"])
    #expect(over.code == 125 && !over.stderr.isEmpty, "resize past --max: \(over.code) \(over.stderr)")
    #expect(lab.status("dup")?.target == first.target && lab.status("dup")?.count("max") == 2)
    for args in [
      ["--start", "3", "--max", "2", "--", "/bin/true"], ["--min-idle", "2", "--max-idle", "1", "--", "/bin/true"], [],
    ] {
      let usage = lab.world.run(["pool", "create", "x", "--from", "tpl"] + args)
      #expect(usage.code == 64, "pool create \(args): \(usage.code) \(usage.stderr)")
    }
    #expect(lab.status("x") == nil)
  }
}
