import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: limits and shutdown")
struct LimitsAndShutdownTests {
  @Test("with maxProcesses 3 the fourth exec fails with limitReached")
  func maxProcessesExec() throws {
    var s = makeSupervisor { $0.maxProcesses = 3 }
    for _ in 0..<3 { _ = try s.execTemplate() }
    #expect(s.request(.exec(name: [])).map(\.failureCode) == [.limitReached])
    #expect(s.effects.templates.count == 3)
    #expect(s.processCount == 3)
  }

  @Test("with maxProcesses 3 the default template and two children fill the table")
  func maxProcessesNew() throws {
    var s = makeSupervisor { $0.maxProcesses = 3 }
    _ = try s.newWorker(pid: 2001)
    _ = try s.newWorker(pid: 2002)
    #expect(s.request(.new(name: [])).map(\.failureCode) == [.limitReached])
    #expect(s.request(.fork(ref: b("2"), name: [])).map(\.failureCode) == [.limitReached])
    #expect(s.effects.commands(to: 1).count == 2)
  }

  @Test("exited records already reported by a wait make room when the table is full")
  func waitedRecordsMakeRoom() throws {
    var s = makeSupervisor { $0.maxProcesses = 3 }
    let a = try s.execTemplate()
    _ = try s.execTemplate()
    _ = try s.execTemplate()
    s.childExited(pid: a.pid, status: .exited(0))
    // Exited but not yet waited for: kept, so still full.
    #expect(s.request(.exec(name: [])).map(\.failureCode) == [.limitReached])
    s.request(.wait(refs: [ref(a.id)]), client: 2)
    _ = try s.execTemplate()
    #expect(s.info(a.id) == nil)
    #expect(s.processCount == 3)
  }

  @Test("descriptors beyond maxFDsPerProcess are refused and closed, not sent")
  func maxFDsPerProcess() throws {
    var s = makeSupervisor { $0.maxFDsPerProcess = 3 }
    let w = try s.newWorker(pid: 2001)
    let two = s.fds(2)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil, nil]), fds: two) == [.ok])
    let more = s.fds(2)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil, nil]), fds: more).map(\.failureCode) == [.limitReached])
    #expect(s.effects.closed == more)
    #expect(s.effects.sent[w]?.count == 1)
    let last = s.fds(1)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil]), fds: last) == [.ok])
    #expect(s.info(w)?.fdsSent == 3)
    #expect(s.effects.sentAndClosed.isEmpty)
  }

  @Test("the descriptor limit counts what a fork inherited from its parent")
  func maxFDsInherited() throws {
    var s = makeSupervisor { $0.maxFDsPerProcess = 2 }
    let t = try s.execTemplate("t")
    let two = s.fds(2)
    #expect(s.request(.sendFDs(ref: b("t"), targets: [nil, nil]), fds: two) == [.ok])
    let w = try s.forkWorker(from: t.id, pid: 3001)
    let one = s.fds(1)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil]), fds: one).map(\.failureCode) == [.limitReached])
    #expect(s.effects.closed == one)
  }

  @Test("strings beyond maxArgumentBytesPerProcess are refused and not sent")
  func maxArgumentBytes() throws {
    var s = makeSupervisor { $0.maxArgumentBytesPerProcess = 8 }
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [b("1234"), b("567")])) == [.ok])
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [b("89")])).map(\.failureCode) == [.limitReached])
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [b("8"), []])) == [.ok])
    #expect(s.info(w)?.argumentsSent == 4)
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [b("9")])).map(\.failureCode) == [.limitReached])
    #expect(s.effects.commands(to: w) == [.arguments([b("1234"), b("567")]), .arguments([b("8"), []])])
  }

  @Test(
    """
    shutdown stops the daemon, its ok left to the loop once the socket is free; later requests get shuttingDown \
    with their descriptors closed
    """
  )
  func shutdown() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    // The event loop answers it once the daemon has let go of its socket and pid file.
    #expect(s.request(.shutdown, client: 2) == [])
    #expect(s.stopRequesters == [2])
    #expect(s.effects.shutdowns == 1)
    #expect(s.shuttingDown)
    let fds = s.fds(2)
    #expect(
      s.request(.sendFDs(ref: ref(w), targets: [nil, nil]), fds: fds, client: 3).map(\.failureCode) == [.shuttingDown])
    #expect(s.effects.closed == fds)
    let cwd = s.fds(1)
    #expect(
      s.request(.run(ref: ref(w), spec: RunSpec(program: b("x"), hasWorkingDirectory: true)), fds: cwd, client: 3)
        .map(\.failureCode) == [.shuttingDown])
    #expect(s.effects.closed == fds + cwd)
    for r: Request in [.hello, .new(name: []), .exec(name: []), .list, .wait(refs: [ref(w)]), .shutdown] {
      #expect(s.request(r, client: 4).map(\.failureCode) == [.shuttingDown])
    }
    #expect(s.effects.templates.count == 1)
    #expect(s.effects.shutdowns == 1)
    #expect(s.effects.sent[w] == nil)
  }

  @Test("closing all controls ends unrun process objects and leaves running ones counted out")
  func closeAllControls() throws {
    var s = makeSupervisor()
    let a = try s.newWorker(pid: 2001)
    let r = try s.newWorker(pid: 2002)
    s.request(.run(ref: ref(r), spec: RunSpec(program: b("x"), keepControl: true)), client: 2)
    #expect(s.unrunProcessCount == 2)  // default template and a
    s.closeAllControls()
    #expect(Set(s.effects.closedControls) == [1, a, r])
    #expect(s.effects.openControls.isEmpty)
    s.childExited(pid: 1001, status: .exited(0))
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.unrunProcessCount == 0)
  }

  @Test("every command is sent with exactly the descriptors its frame declares, none of them also closed")
  func descriptorBookkeeping() throws {
    var s = makeSupervisor()
    let t = try s.execTemplate("t")
    let f1 = s.fds(2)
    s.request(.sendFDs(ref: b("t"), targets: [nil, 4]), fds: f1)
    s.request(.sendArgs(ref: b("t"), arguments: [b("a")]))
    let w = try s.forkWorker(from: t.id, pid: 3001)
    let cwd = s.fds(1)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("x"), keepControl: true, hasWorkingDirectory: true)), fds: cwd)
    let w2 = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w2), spec: RunSpec(program: b("y"))))
    // fds, arguments and fork to t; run to w; fork to the default template; run to w2.
    #expect(s.effects.sent.values.flatMap { $0 }.count == 6)
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
    #expect(s.effects.sentAndClosed.isEmpty)
    #expect(s.effects.closed.isEmpty)
  }
}

@Suite("Supervisor: per-user and string-count limits")
struct PerUserLimitTests {
  @Test(
    "process objects per user: the next one is limitReached for that uid only; the default template counts for nobody")
  func perUser() throws {
    var s = makeSupervisor { $0.maxProcessesPerUser = 2 }
    s.clientConnected(1, uid: 1000)
    s.clientConnected(2, uid: 1001)
    _ = try s.newWorker(pid: 100, client: 1)
    _ = try s.newWorker(pid: 101, client: 1)
    let refused = s.request(.new(name: []), client: 1)
    #expect(refused.map(\.failureCode) == [.limitReached])
    #expect(refused.first?.failureMessage?.contains("uid 1000") == true)
    // Another user is not affected.
    _ = try s.newWorker(pid: 102, client: 2)
    // Reported exited ones are forgotten to make room.
    s.childExited(pid: 100, status: .exited(0))
    _ = s.request(.wait(refs: [ref(2)]), client: 3)
    _ = try s.newWorker(pid: 103, client: 1)
  }

  @Test(
    """
    exited process objects nobody waited for block what would leave another status behind \
    (new, a detached spawn), not a spawn whose status goes to its client
    """
  )
  func unreportedExitsDoNotBlockAttachedSpawns() throws {
    var s = makeSupervisor { $0.maxProcessesPerUser = 2 }
    s.clientConnected(1, uid: 1000)
    // The README's fork loop: fork and run, never wait.
    for pid: Int32 in [100, 101] {
      let w = try s.newWorker(pid: pid, client: 1)
      s.request(.run(ref: ref(w), spec: RunSpec(program: b("job"))), client: 1)
      s.controlClosed(w)
      s.childExited(pid: pid, status: .exited(0))
    }
    let spawn = Request.spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("x"))))
    let detached = Request.spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("x")), detach: true))
    let refused = s.request(.new(name: []), client: 1)
    #expect(refused.map(\.failureCode) == [.limitReached])
    #expect(refused.first?.failureMessage?.contains("2 of them exited and were never waited for") == true)
    #expect(s.request(detached, client: 1).map(\.failureCode) == [.limitReached])
    // A plain spawn is served: its status goes to its client, not to the table.
    #expect(s.request(spawn, client: 1).isEmpty)
    s.handle(.spawned(pid: 200, errno: 0), from: s.defaultTemplate!)
    s.clientConnected(2, uid: 1000)
    #expect(s.request(spawn, client: 2).isEmpty)
    s.handle(.spawned(pid: 201, errno: 0), from: s.defaultTemplate!)
    // While they live they count: two live spawns fill the user's share.
    s.clientConnected(3, uid: 1000)
    #expect(s.request(spawn, client: 3).map(\.failureCode) == [.limitReached])
    // Waiting for the exited ones does not make room for a third live one ...
    _ = s.request(.wait(refs: [ref(2), ref(3)]), client: 4)
    #expect(s.request(spawn, client: 3).map(\.failureCode) == [.limitReached])
    // ... an exit of a live one does.
    s.childExited(pid: 200, status: .exited(0))
    #expect(s.request(spawn, client: 3).isEmpty)
  }

  @Test("strings per process object: empty strings count too")
  func stringCount() throws {
    var s = makeSupervisor { $0.maxArgumentsPerProcess = 3 }
    let w = try s.newWorker(pid: 100)
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [[], []])) == [.ok])
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [[], []])).map(\.failureCode) == [.limitReached])
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [[]])) == [.ok])
  }
}
