// Issue 13: worker pools as a state machine, driven by a fake clock, fake fork reports and
// fake notify messages: each regulation rule of PoolRegulation.swift, one test each.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

/// A supervisor with template "web" (uid 1000's) and a pool "p" made from it, every fork
/// it asked for answered.
struct PoolFixture {
  var s = makeSupervisor()
  let template: UInt64
  var nextPID: Int32 = 5000

  init(
    start: UInt32 = 2, minIdle: UInt32 = 0, maxIdle: UInt32 = .max, max: UInt32 = 8, maxRequests: UInt32 = 0,
    timeoutMilliseconds: UInt32 = 0, born: Bool = true
  ) throws {
    s.clientConnected(1, uid: 1000)
    template = try s.execTemplate("web").id
    let workers = PoolWorkers(
      spec: RunSpec(program: b("./handler"), environment: [b("PATH=/bin"), b("FORKCTL_POOL=stale")]),
      maxRequests: maxRequests, timeoutMilliseconds: timeoutMilliseconds)
    let sizes = PoolSizes(start: start, minIdle: minIdle, maxIdle: maxIdle, max: max)
    let r = s.request(.pool(.create(PoolSpec(name: b("p"), from: b("web"), kind: .workers(workers), sizes: sizes))))
    guard r == [.ok] else { throw HarnessError("pool create replied \(r)") }
    if born { bornAll() }
  }

  /// Answers every fork queued on the template (the template's reports), and says each
  /// worker exec'd (its control socket's end of file); returns how many were born.
  @discardableResult
  mutating func bornAll(exec: Bool = true) -> Int {
    var n = 0
    for t in templates {
      while let fork = s.registry[t]?.forks.first {
        nextPID += 1
        s.handle(.forked(pid: nextPID), from: t)
        if exec { s.controlClosed(fork.child) }
        n += 1
      }
    }
    return n
  }

  var pool: Pool { s.pools[b("p")]! }
  func ids(_ state: (PoolMemberState) -> Bool) -> [UInt64] {
    pool.members.filter { state($0.value.state) }.map(\.key).sorted()
  }
  var all: [UInt64] { pool.members.keys.sorted() }
  func pid(_ id: UInt64) -> Int32 { s.registry[id]!.phase.pid! }

  mutating func say(_ id: UInt64, _ text: String, sender: UInt32? = nil) {
    s.handle(.notified(id, b(text)[...], sender: sender))
  }

  /// The fake clock moves on by `ms` and the loop ticks.
  mutating func advance(_ ms: Int64 = 1000) {
    s.effects.clock += ms
    s.deadlinesPassed(now: s.effects.clock)
  }

  /// "web", then the templates the pool made for itself (a reload remakes it), by id.
  var templates: [UInt64] { [template] + (s.pools[b("p")]?.madeTemplates.sorted() ?? []) }

  /// Forks asked of the pool's templates so far.
  var forksAsked: Int {
    templates.map { t in s.effects.commands(to: t).filter { if case .fork = $0 { true } else { false } }.count }
      .reduce(0, +)
  }

  /// Signals sent to `id`'s pid, to it alone or to its group.
  func signals(_ id: UInt64) -> [Int32] {
    let pid = s.registry[id]?.phase.pid ?? 0
    return s.effects.events.compactMap {
      switch $0 {
      case .signal(pid, let sig), .signalGroup(pid, let sig): sig
      default: nil
      }
    }
  }

  mutating func exit(_ id: UInt64, _ status: ForkctlWire.ExitStatus) { s.childExited(pid: pid(id), status: status) }
}

@Suite("Supervisor: worker pools")
struct PoolRegulationTests {
  @Test("a worker is forked from the template with its run and its notify descriptor queued, and the pool's variables")
  func workerMade() throws {
    let f = try PoolFixture(start: 1)
    let id = try #require(f.all.first)
    let commands = f.s.effects.commands(to: id)
    #expect(commands.count == 2)
    #expect(commands.first == .fds(targets: [9]))
    guard case .run(let spec, _, _)? = commands.last else { throw HarnessError("no run: \(commands)") }
    #expect(spec.program == b("./handler"))
    #expect(
      spec.environment == [b("PATH=/bin"), b("FORKCTL_NOTIFY_FD=9"), b("FORKCTL_POOL=p"), b("FORKCTL_WORKER=\(id)")])
    #expect(f.s.effects.watchedNotify[id] != nil)
    #expect(f.s.registry[id]?.owner == 1000)
    #expect(f.pool.members[id]?.state == .starting)
  }

  @Test("fewer idle than min-idle: 1, then 2, 4, 8, 16 more a second, never past max")
  func ramp() throws {
    var f = try PoolFixture(start: 2, minIdle: 2, max: 40)
    var started: [Int] = []
    for _ in 0..<6 {
      for id in f.all { f.say(id, "BUSY=1") }
      let before = f.forksAsked
      f.advance()
      started.append(f.forksAsked - before)
      f.bornAll()
    }
    #expect(started == [1, 2, 4, 8, 16, 7])
    #expect(f.all.count == 40)
    // Satisfied: the ramp starts again from 1.
    for id in f.all.prefix(3) { f.say(id, "IDLE=1") }
    f.advance()
    #expect(f.pool.ramp == 1)
  }

  @Test("more idle than max-idle: one worker stopped a second, the newest idle first")
  func shrink() throws {
    var f = try PoolFixture(start: 5, maxIdle: 2)
    for id in f.all { f.say(id, "READY=1") }
    let newest = try #require(f.all.last)
    f.advance()
    #expect(f.signals(newest) == [Signal.terminate.rawValue])
    #expect(f.ids { $0 == .stopping(because: .shrunk) } == [newest])
    f.exit(newest, .signaled(15, coreDumped: false))
    f.advance()
    f.advance()
    #expect(f.pool.target == 2)
    #expect(f.ids { $0.isLeaving }.count == 2)
    #expect(f.pool.history.map(\.reason) == [.shrunk])
    #expect(f.forksAsked == 5)
  }

  @Test("a worker that dies is replaced, its status kept in the history")
  func deathReplaced() throws {
    var f = try PoolFixture(start: 2)
    let victim = try #require(f.all.first)
    let pid = f.pid(victim)
    f.exit(victim, .exited(3))
    #expect(f.forksAsked == 3)
    #expect(f.pool.history == [PoolDeparture(id: victim, pid: pid, status: .exited(3), reason: .died)])
    #expect(f.pool.restarts == 1)
    #expect(f.s.effects.watchedNotify[victim] == nil)
    #expect(f.s.registry[victim] == nil)
  }

  @Test(
    """
    a worker whose template ended before reporting its fork, reaped before it announced itself, leaves the pool \
    when it does, even after another such worker announced itself first
    """
  )
  func orphanReapedBeforeItsAnnouncement() throws {
    var f = try PoolFixture(start: 2, born: false)
    let (first, second) = (f.all[0], f.all[1])
    // Both were forked and hold their control sockets; the template's reports went with it
    // (it died, or the daemon ended it, with forks queued).
    f.s.effects.heldControls = [first, second]
    f.s.controlClosed(f.template, because: "it was ended")
    // The first ran, failed and was reaped before its announcement was read (the loop
    // takes SIGCHLD and the socket in either order).
    f.s.childExited(pid: 7001, status: .exited(127))
    f.s.handle(.spawning(pid: 7002), from: second)
    f.s.handle(.spawning(pid: 7001), from: first)
    #expect(f.pool.members[first] == nil, "still listed: \(String(describing: f.pool.members[first]))")
    #expect(f.pool.history.map(\.pid) == [7001], "\(f.pool.history)")
    #expect(f.pool.history.first?.status == .exited(127))
    #expect(f.s.registry.hasEarlyExit(pid: 7001) == false)
  }

  @Test("a worker reaped before the end of file that tells its exec outcome keeps its pid in the history")
  func reapedBeforeItsExecOutcome() throws {
    var f = try PoolFixture(start: 1, born: false)
    f.bornAll(exec: false)
    let id = try #require(f.all.first)
    let pid = f.pid(id)
    f.exit(id, .exited(3))
    #expect(f.pool.history == [PoolDeparture(id: id, pid: pid, status: .exited(3), reason: .died)])
  }

  @Test("workers over max-requests retire at their IDLE=1, never two at once, each replaced")
  func retirement() throws {
    var f = try PoolFixture(start: 3, maxRequests: 2)
    let workers = f.all
    for id in workers {
      for _ in 0..<2 {
        f.say(id, "BUSY=1")
        f.say(id, "IDLE=1")
      }
    }
    #expect(f.ids { $0 == .stopping(because: .retired) }.count == 1)
    var retired: [UInt64] = []
    while let leaving = f.ids({ $0 == .stopping(because: .retired) }).first {
      #expect(f.ids { $0 == .stopping(because: .retired) }.count == 1)
      retired.append(leaving)
      f.exit(leaving, .signaled(15, coreDumped: false))
      f.bornAll()
    }
    #expect(retired.sorted() == workers)
    #expect(f.pool.history.map(\.reason) == [.retired, .retired, .retired])
    #expect(f.ids { !$0.isLeaving }.count == 3)
    #expect(f.pool.requests == 6)
  }

  @Test("busy past the timeout without WATCHDOG=1: SIGQUIT, SIGKILL after the grace, replaced")
  func timeout() throws {
    var f = try PoolFixture(start: 1, timeoutMilliseconds: 2000)
    let id = try #require(f.all.first)
    f.say(id, "BUSY=1")
    f.advance(1500)
    f.say(id, "WATCHDOG=1")
    f.advance(1500)
    #expect(f.signals(id).isEmpty)
    f.advance(600)
    #expect(f.signals(id) == [Signal.quit.rawValue])
    f.advance(f.s.limits.killGraceMilliseconds)
    #expect(f.signals(id) == [Signal.quit.rawValue, Signal.kill.rawValue])
    f.exit(id, .signaled(9, coreDumped: false))
    #expect(f.pool.history.last?.reason == .timedOut)
    #expect(f.forksAsked == 2)
  }

  @Test("stop --graceful waits for a busy worker's IDLE=1, then answers with the last summary")
  func gracefulStop() throws {
    var f = try PoolFixture(start: 2)
    let (busy, idle) = (f.all[0], f.all[1])
    f.say(busy, "BUSY=1")
    f.say(idle, "IDLE=1")
    #expect(f.s.request(.pool(.stop(name: b("p"), graceful: true)), client: 2) == [])
    #expect(f.signals(idle) == [Signal.terminate.rawValue])
    #expect(f.signals(busy).isEmpty)
    f.exit(idle, .signaled(15, coreDumped: false))
    f.say(busy, "IDLE=1")
    #expect(f.signals(busy) == [Signal.terminate.rawValue])
    #expect(f.s.replies(2).isEmpty)
    f.exit(busy, .exited(0))
    guard case .pools(let last)? = f.s.replies(2).last else { throw HarnessError("\(f.s.replies(2))") }
    #expect(last.first?.history.map(\.reason) == [.stopped, .stopped])
    #expect(f.s.pools.isEmpty)
    #expect(f.forksAsked == 2)
  }

  @Test("reload: idle workers of the old generation go now, busy ones at IDLE=1; the new one is forked")
  func reload() throws {
    var f = try PoolFixture(start: 2)
    let (busy, idle) = (f.all[0], f.all[1])
    f.say(busy, "BUSY=1")
    #expect(f.s.request(.pool(.reload(name: b("p"), from: []))) == [.ok])
    #expect(f.signals(idle) == [Signal.terminate.rawValue])
    #expect(f.signals(busy).isEmpty)
    #expect(f.forksAsked == 4)
    f.bornAll()
    #expect(f.ids { !$0.isLeaving }.allSatisfy { f.pool.members[$0]?.generation == 2 })
    f.say(busy, "IDLE=1")
    #expect(f.signals(busy) == [Signal.terminate.rawValue])
  }

  @Test("a worker that ends at once, three times running, delays the next start by a second")
  func quickDeaths() throws {
    var f = try PoolFixture(start: 1)
    for _ in 0..<3 {
      let id = try #require(f.ids { !$0.isLeaving }.first)
      f.exit(id, .exited(127))
      f.bornAll()
    }
    #expect(f.forksAsked == 3)
    #expect(f.pool.startsAfter == f.s.effects.clock + 1000)
    f.advance()
    #expect(f.forksAsked == 4)
  }

  @Test("a worker reaped before its exec failure is read departs as failed to start, not died")
  func reapedBeforeExecFailure() throws {
    var f = try PoolFixture(start: 0)
    #expect(f.s.request(.pool(.resize(name: b("p"), PoolResize(delta: 1)))) == [.ok])
    f.bornAll(exec: false)
    let id = try #require(f.all.first)
    f.s.effects.endedBeforeExec.insert(f.pid(id))
    f.exit(id, .exited(127))
    #expect(f.pool.history.map(\.reason) == [.failedToStart])
    // Its report, read after: nothing changes.
    f.s.handle(.execFailed(errno: Errno.noSuchFileOrDirectory.rawValue), from: id)
    #expect(f.pool.history.map(\.reason) == [.failedToStart])
  }

  @Test("NOTIFY_SOCKET messages from another user are ignored; the owner's and root's count")
  func foreignSender() throws {
    var f = try PoolFixture(start: 1)
    let id = try #require(f.all.first)
    f.say(id, "BUSY=1", sender: 1001)
    #expect(f.pool.members[id]?.state == .starting)
    f.say(id, "BUSY=1", sender: 1000)
    #expect(f.pool.requests == 1)
    f.say(id, "IDLE=1\nSTATUS=ok", sender: 0)
    #expect(f.pool.members[id]?.state == .idle)
    #expect(f.pool.members[id]?.status == b("ok"))
  }

  @Test("resize: +N and -N move the target within max; an unknown pool is unknownPool")
  func resize() throws {
    var f = try PoolFixture(start: 2, max: 4)
    #expect(f.s.request(.pool(.resize(name: b("p"), PoolResize(delta: 2)))) == [.ok])
    #expect(f.forksAsked == 4)
    #expect(f.s.request(.pool(.resize(name: b("p"), PoolResize(delta: 1)))).map(\.failureCode) == [.limitReached])
    f.bornAll()
    #expect(f.s.request(.pool(.resize(name: b("p"), PoolResize(max: 3, delta: -1)))) == [.ok])
    #expect(f.ids { $0.isLeaving }.count == 1)
    #expect(f.s.request(.pool(.status(name: b("nope")))).map(\.failureCode) == [.unknownPool])
  }

  @Test("events go to followers as JSON lines; one that does not read misses them, and is told how many")
  func events() throws {
    var f = try PoolFixture(start: 1)
    #expect(f.s.request(.pool(.events(name: b("p"))), client: 3) == [])
    let id = try #require(f.all.first)
    f.say(id, "hello there")
    f.s.effects.backlogs[3] = Pool.eventBacklog + 1
    f.say(id, "STATUS=lost 1")
    f.say(id, "STATUS=lost 2")
    f.s.effects.backlogs[3] = 0
    f.exit(id, .exited(0))
    f.bornAll()
    let lines = (f.s.effects.attachments[3] ?? []).compactMap { r -> String? in
      guard case .poolEvent(let line)? = r else { return nil }
      return String(decoding: line, as: UTF8.self)
    }
    #expect(
      lines.prefix(3) == [
        "{\"event\":\"data\",\"pool\":\"p\",\"id\":\(id),\"line\":\"hello there\"}",
        "{\"event\":\"missed\",\"pool\":\"p\",\"count\":2}",
        "{\"event\":\"exited\",\"pool\":\"p\",\"id\":\(id),\"pid\":\(5001),\"status\":0,\"exit_code\":0,"
          + "\"signal\":null,\"reason\":\"died\"}",
      ])
    #expect(lines.dropFirst(3).first?.hasPrefix("{\"event\":\"started\"") == true)
    #expect(f.s.request(.pool(.stop(name: b("p"), graceful: false)), client: 2) == [])
    f.exit(try #require(f.ids { _ in true }.first), .exited(0))
    #expect(f.s.replies(3).last == .ok)
  }

  @Test("a template that cannot fork is reported once to followers, not at every second")
  func templateGoneReportedOnce() throws {
    var f = try PoolFixture(start: 1)
    #expect(f.s.request(.pool(.events(name: b("p"))), client: 3) == [])
    f.s.controlClosed(f.template)
    f.exit(try #require(f.all.first), .exited(1))
    for _ in 0..<3 { f.advance() }
    let errors = (f.s.effects.attachments[3] ?? []).filter {
      guard case .poolEvent(let line)? = $0 else { return false }
      return String(decoding: line, as: UTF8.self).hasPrefix("{\"event\":\"error\"")
    }
    #expect(errors.count == 1)
  }

  @Test("reload and retirement never run more than --max processes: new workers start as old ones exit")
  func neverPastMax() throws {
    var f = try PoolFixture(start: 3, max: 3, maxRequests: 1)
    let old = f.all
    for id in old { f.say(id, "BUSY=1") }
    #expect(f.s.request(.pool(.reload(name: b("p"), from: []))) == [.ok])
    #expect(f.forksAsked == 3)
    f.say(old[0], "IDLE=1")
    #expect(f.forksAsked == 3)
    f.exit(old[0], .signaled(15, coreDumped: false))
    #expect(f.forksAsked == 4)
    #expect(f.all.count == 3)
    f.bornAll()
    // A retirement (each new worker's limit is 1 request): its replacement waits for its exit.
    let new = try #require(f.ids { !$0.isLeaving }.first)
    f.say(new, "BUSY=1")
    f.say(new, "IDLE=1")
    #expect(f.pool.members[new]?.state == .stopping(because: .retired))
    #expect(f.all.count == 3)
    #expect(f.forksAsked == 4)
    f.exit(new, .signaled(15, coreDumped: false))
    #expect(f.forksAsked == 5)
  }

  @Test("a request limit near UInt32.max plus its jitter saturates instead of trapping the daemon")
  func requestLimitSaturates() throws {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    _ = try s.execTemplate("web")
    let workers = PoolWorkers(
      spec: RunSpec(program: b("w"), environment: []), maxRequests: .max, jitter: .max)
    let spec = PoolSpec(name: b("p"), from: b("web"), kind: .workers(workers), sizes: PoolSizes(start: 1, max: 1))
    #expect(s.request(.pool(.create(spec))) == [.ok])
    #expect(s.pools[b("p")]?.members.values.first?.requestLimit == .max)
  }

  @Test("a worker never born departs with no status, not a made-up one")
  func neverBornHasNoStatus() throws {
    var f = try PoolFixture(start: 0)
    #expect(f.s.request(.pool(.resize(name: b("p"), PoolResize(delta: 1)))) == [.ok])
    f.s.handle(.refused(.templateFailed, message: b("no")), from: f.template)
    #expect(f.pool.history.map(\.status) == [nil])
    #expect(f.pool.history.map(\.reason) == [.failedToStart])
  }

  @Test("NOTIFY_SOCKET replaces the caller's, beside the pool's own variables")
  func notifySocketEnvironment() {
    let env = TestSupervisor.workerEnvironment(
      [b("NOTIFY_SOCKET=/run/old"), b("HOME=/h")], 9, b("p"), 7, notifySocket: b("@forkctl/1/worker/7"))
    #expect(
      env == [
        b("HOME=/h"), b("FORKCTL_NOTIFY_FD=9"), b("FORKCTL_POOL=p"), b("FORKCTL_WORKER=7"),
        b("NOTIFY_SOCKET=@forkctl/1/worker/7"),
      ])
  }
}
