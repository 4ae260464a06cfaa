// Issue 11, items 3 and 4: what a client is told about its program's start is the truth.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: a program's start as it happened")
struct ExecOutcomeTests {
  @Test("run fails when its process object is killed before the program starts, and wait gives the signal")
  func runOfKilledObjectFails() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.run(ref: ref(w), spec: RunSpec(program: b("prog")), attributes: nil), client: 2) == [])
    // Killed while the run was queued: its control socket closes as it dies, not by exec.
    s.effects.endedBeforeExec = [2001]
    s.childExited(pid: 2001, status: .signaled(9, coreDumped: false))
    s.controlClosed(w)
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(2).first?.failureMessage?.contains("it ended before running it") == true)
    #expect(
      s.request(.wait(refs: [ref(w)]), client: 3) == [.statuses([(id: w, status: .signaled(9, coreDumped: false))])])
  }

  @Test("run fails when its control socket closes as its process dies, before the daemon reaps it")
  func runEndOfFileBeforeReapingFails() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("prog"), waitForExit: true), attributes: nil), client: 2)
    s.effects.endedBeforeExec = [2001]
    s.controlClosed(w)
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
    #expect(s.effects.attachments[2] == nil)
  }

  @Test("a program that exits before its end of file is read is started, then reported")
  func programReapedBeforeEndOfFile() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("prog"), waitForExit: true), attributes: nil), client: 2)
    s.childExited(pid: 2001, status: .exited(4))
    s.controlClosed(w)
    #expect(s.replies(2) == [.statuses([(id: w, status: .exited(4))])])
  }

  @Test("a spawn whose template dies once its process announced itself reports the program's real status")
  func spawnAnnouncedThenTemplateDied() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn(client: 2)
    let template = s.defaultTemplate!
    s.handle(.spawning(pid: 700), from: template)
    #expect(s.info(id)?.pid == 700)
    // The template dies before its spawned report; the program exec'd.
    s.controlClosed(template)
    #expect(s.effects.attachments[2] == [.created(id: id, pid: 700)])
    #expect(s.replies(2).isEmpty)
    s.childExited(pid: 700, status: .exited(7))
    #expect(s.replies(2) == [.statuses([(id: id, status: .exited(7))])])
    #expect(s.registry.starting == 0)
  }

  @Test("a spawn whose template dies before its process exec'd fails, and its status goes to nobody")
  func spawnAnnouncedThenTemplateDiedBeforeExec() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn(client: 2)
    let template = s.defaultTemplate!
    s.handle(.spawning(pid: 700), from: template)
    s.effects.endedBeforeExec = [700]
    s.childExited(pid: 700, status: .exited(127))
    s.controlClosed(template)
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
    #expect(s.effects.attachments[2] == nil)
    #expect(s.info(id) == nil)
  }

  @Test("a spawn whose failed exec is reaped before its announcement is read fails with the exec's reason")
  func failedExecReapedBeforeAnnouncement() throws {
    var s = makeSupervisor()
    let (id, template) = try s.unexecutedSpawnReapedBeforeAnnouncement()
    #expect(s.effects.attachments[2] == nil)
    s.handle(.spawned(pid: 700, errno: 2), from: template)
    #expect(s.replies(2).map(\.failureCode) == [.programNotFound])
    #expect(s.replies(2).first?.failureMessage?.hasPrefix("missing: ") == true)
    #expect(s.effects.attachments[2] == nil)
    #expect(s.info(id) == nil)
  }

  @Test("a spawn reaped before its announcement, whose template then dies, fails when it had not exec'd")
  func unexecutedSpawnReapedThenTemplateDied() throws {
    var s = makeSupervisor()
    let (id, template) = try s.unexecutedSpawnReapedBeforeAnnouncement()
    s.controlClosed(template)
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
    #expect(s.effects.attachments[2] == nil)
    #expect(s.info(id) == nil)
    #expect(s.registry.starting == 0)
  }

  @Test("a spawn reaped before its announcement, whose template then dies, reports the status when it had exec'd")
  func programReapedBeforeAnnouncementThenTemplateDied() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn(client: 2)
    let template = s.defaultTemplate!
    s.childExited(pid: 700, status: .exited(7))
    s.handle(.spawning(pid: 700), from: template)
    s.controlClosed(template)
    #expect(s.effects.attachments[2] == [.created(id: id, pid: 700)])
    #expect(s.replies(2) == [.statuses([(id: id, status: .exited(7))])])
    #expect(s.registry.starting == 0)
  }

  @Test("the spawned report after the announcement answers the spawn once")
  func spawnAnnouncedThenReported() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn(client: 2)
    let template = s.defaultTemplate!
    s.handle(.spawning(pid: 700), from: template)
    s.handle(.spawned(pid: 700, errno: 0), from: template)
    #expect(s.effects.attachments[2] == [.created(id: id, pid: 700)])
    #expect(s.registry[template]?.forks.isEmpty == true)
    s.childExited(pid: 700, status: .exited(0))
    #expect(s.replies(2) == [.statuses([(id: id, status: .exited(0))])])
  }

  @Test("a forked child born before its dying parent reported it is created when it announces itself")
  func orphanedChildAnnounces() throws {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 5)
    s.effects.heldControls = [2]
    s.controlClosed(1)
    #expect(s.replies(5).isEmpty)
    s.handle(.spawning(pid: 2001), from: 2)
    #expect(s.replies(5) == [.created(id: 2, pid: 2001)])
    #expect(s.info(2)?.state == .ready)
    #expect(s.registry.starting == 0)
  }

  @Test("a forked child whose parent died is failed by its control socket's end of file when it was never born")
  func orphanedChildNeverBorn() throws {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 5)
    s.effects.heldControls = [2]
    s.controlClosed(1)
    s.controlClosed(2)
    #expect(s.replies(5).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(5).first?.failureMessage == "process 1 died while forking")
    #expect(s.info(2) == nil)
    #expect(s.registry.starting == 0)
  }

  @Test("a forked child's announcement and its parent's fork report create it once")
  func announcementThenForkReport() throws {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 5)
    s.handle(.spawning(pid: 2001), from: 2)
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.replies(5) == [.created(id: 2, pid: 2001)])
    #expect(s.registry[1]?.forks.isEmpty == true)
  }

  @Test("a keep-control spawn whose template died after forking it reports its program's status")
  func keepControlSpawnOfDeadTemplate() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn(keepControl: true, client: 2)
    s.effects.heldControls = [id]
    s.controlClosed(s.defaultTemplate!)
    #expect(s.replies(2).isEmpty)
    s.handle(.spawning(pid: 900), from: id)
    s.statusPipeResult(id, failure: nil)
    #expect(s.effects.attachments[2] == [.created(id: id, pid: 900)])
    s.childExited(pid: 900, status: .exited(5))
    #expect(s.replies(2) == [.statuses([(id: id, status: .exited(5))])])
  }

  @Test("a forked child's own announcement read after its parent's report is not taken for its queued spawn's")
  func lateAnnouncementWithQueuedSpawn() throws {
    var s = makeSupervisor()
    s.request(.new(name: b("w")), client: 5)
    s.handle(.forked(pid: 2001), from: 1)
    let (spawned, _) = try s.startSpawn(from: "w", client: 6)
    s.handle(.spawning(pid: 2001), from: 2)
    #expect(s.info(spawned)?.pid == 0)
    s.handle(.spawning(pid: 2002), from: 2)
    #expect(s.info(spawned)?.pid == 2002)
  }
}

extension Supervisor<RecordingEffects> {
  /// A spawn of "missing" for client 2 whose process (pid 700) failed its exec and was reaped
  /// before its announcement was read. The zombie had not exec'd; once reaped, /proc can no
  /// longer tell, and LoopEffects then answers that it ran.
  fileprivate mutating func unexecutedSpawnReapedBeforeAnnouncement() throws -> (id: UInt64, template: UInt64) {
    let (id, _) = try startSpawn("missing", client: 2)
    let template = defaultTemplate!
    effects.endedBeforeExec = [700]
    childExited(pid: 700, status: .exited(127))
    effects.endedBeforeExec = []
    handle(.spawning(pid: 700), from: template)
    return (id, template)
  }
}
