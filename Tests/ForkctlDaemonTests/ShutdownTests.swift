import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: shutdown, shutdown --wait and what is in flight")
struct ShutdownTests {
  @Test("a stopping daemon tells an attached spawn's client that its program keeps running, with its pid")
  func attachedClientToldProgramKeepsRunning() throws {
    var s = makeSupervisor()
    _ = try s.runningSpawn("sleep", pid: 500, client: 3)
    s.request(.shutdown, client: 2)
    s.handle(.stopping)
    let r = s.replies(3).last
    #expect(r?.failureCode == .stillRunning)
    #expect(r?.failureMessage == "the daemon is shutting down; sleep (pid 500) keeps running, and its status is lost")
    #expect(s.effects.signals.isEmpty && s.effects.groupSignals.isEmpty, "the program is left alone")
  }

  @Test("a stopping daemon tells a pending wait which of its processes keep running")
  func pendingWaitToldProcessesKeepRunning() throws {
    var s = makeSupervisor()
    let a = try s.newWorker("a", pid: 2001)
    let c = try s.newWorker(pid: 2002)
    s.childExited(pid: 2002, status: .exited(0))
    #expect(s.request(.wait(refs: [ref(a), ref(c)]), client: 4) == [])
    s.handle(.stopRequested)
    s.handle(.stopping)
    #expect(s.replies(4).last?.failureCode == .stillRunning)
    #expect(s.replies(4).last?.failureMessage?.contains("process \(a) (a) (pid 2001) keeps running") == true)
  }

  @Test("a spawn queued on the template is in flight until its report, which still reaches its client")
  func queuedSpawnIsInFlightUntilReported() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn("prog", client: 3)
    s.handle(.stopRequested)
    #expect(s.inFlight == 1)
    s.handle(.spawned(pid: 600, errno: 0), from: s.defaultTemplate!)
    #expect(s.inFlight == 0)
    #expect(s.effects.attachments[3]?.last == .some(.created(id: id, pid: 600)))
    // Requests are refused meanwhile: nothing new starts.
    #expect(s.request(.new(name: []), client: 5).first?.failureCode == .shuttingDown)
  }

  @Test("a template that never reports what was queued on it is killed at the stop, and its client told it failed")
  func stuckTemplateKilledAndClientTold() throws {
    var s = makeSupervisor()
    _ = try s.startSpawn("prog", client: 3)
    let template = s.defaultTemplate!
    let pid = try #require(s.info(template)?.pid)
    s.handle(.stopRequested)
    s.handle(.stopping)
    #expect(s.effects.signals.map { [$0.pid, $0.signal] } == [[pid, 9]])
    #expect(s.replies(3).last?.failureCode == .templateFailed)
    #expect(s.inFlight == 0)
  }

  @Test("shutdown --wait refuses new work, serves the rest, and stops once the attached program has ended")
  func drainStopsWhenAttachedProgramsEnd() throws {
    var s = makeSupervisor()
    let id = try s.runningSpawn("sleep", pid: 500, client: 3)
    #expect(s.request(.drain, client: 2) == [])
    #expect(s.effects.shutdowns == 0)
    let refused = s.request(.spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("x")))), client: 4)
    #expect(refused.first?.failureCode == .shuttingDown)
    #expect(refused.first?.failureMessage?.contains("shutdown --wait") == true)
    #expect(s.request(.list, client: 4).count == 1)
    s.childExited(pid: 500, status: .exited(0))
    #expect(s.replies(3).last == .statuses([(id: id, status: .exited(0))]))
    #expect(s.effects.shutdowns == 1)
    #expect(s.stopRequesters == [2])
  }

  @Test("a plain shutdown during shutdown --wait stops at once; both are answered at the stop")
  func shutdownDuringDrainStopsAtOnce() throws {
    var s = makeSupervisor()
    _ = try s.runningSpawn("sleep", pid: 500, client: 3)
    s.request(.drain, client: 2)
    #expect(s.request(.shutdown, client: 4) == [])
    #expect(s.effects.shutdowns == 1)
    #expect(s.stopRequesters == [2, 4])
  }

  @Test("shutdown --wait with nothing attached stops at once")
  func drainWithNothingAttached() {
    var s = makeSupervisor()
    s.request(.drain, client: 2)
    #expect(s.effects.shutdowns == 1)
  }
}
