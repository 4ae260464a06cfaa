import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

extension Supervisor where Effects == RecordingEffects {
  /// Sends a spawn of `program` with stdio and a working directory; returns the new id
  /// (from the fork command the template got) and the descriptors that came with it.
  mutating func startSpawn(
    _ program: String = "prog", from: String = "", name: String = "", detach: Bool = false,
    keepControl: Bool = false, client: ClientID = 1
  ) throws -> (id: UInt64, fds: [FileDescriptor]) {
    let fds = fds(4)
    let spec = RunSpec(program: b(program), arguments: [b("a")], keepControl: keepControl, hasWorkingDirectory: true)
    let r = request(
      .spawn(SpawnRequest(from: b(from), name: b(name), targets: [0, 1, 2], spec: spec, detach: detach)), fds: fds,
      client: client)
    guard r.isEmpty else { throw HarnessError("spawn replied at once: \(r)") }
    let template = from.isEmpty ? defaultTemplate! : resolve(b(from))!
    switch effects.commands(to: template).last {
    case .spawn(let child, _, _, _)? where !keepControl: return (child, fds)
    case .fork(let child)? where keepControl: return (child, fds)
    default: throw HarnessError("no \(keepControl ? "fork" : "spawn") command sent to \(template)")
    }
  }

  /// A spawn that forked (pid) and exec'd (its control socket closed).
  mutating func runningSpawn(
    _ program: String = "prog", name: String = "", detach: Bool = false, pid: Int32, client: ClientID = 1
  ) throws -> UInt64 {
    let (id, _) = try startSpawn(program, name: name, detach: detach, client: client)
    handle(.spawned(pid: pid, errno: 0), from: defaultTemplate!)
    guard effects.attachments[client]?.last == .some(.created(id: id, pid: pid)) else {
      throw HarnessError("spawn did not attach with created: \(effects.attachments)")
    }
    return id
  }
}

@Suite("Supervisor: spawn and signal forwarding")
struct SpawnTests {
  @Test(
    """
    spawn is one command to the template, with every descriptor; created comes with the \
    spawned report, then the status
    """
  )
  func oneRequest() throws {
    var s = makeSupervisor()
    let (id, fds) = try s.startSpawn()
    let template = s.defaultTemplate!
    #expect(
      s.effects.commands(to: template).last
        == .spawn(
          id: id, targets: [0, 1, 2], spec: RunSpec(program: b("prog"), arguments: [b("a")], hasWorkingDirectory: true))
    )
    #expect(s.effects.sent[template]!.last!.fds == fds)
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
    // No control socket: the new process never runs template code.
    #expect(s.effects.watchedControls[id] == nil)
    #expect(s.info(id)?.state == .starting)
    s.handle(.spawned(pid: 500, errno: 0), from: template)
    #expect(s.info(id)?.state == .running)
    #expect(s.effects.attachments[1] == [.created(id: id, pid: 500)])
    #expect(s.replies(1).isEmpty)
    s.childExited(pid: 500, status: .signaled(15, coreDumped: false))
    #expect(s.replies(1) == [.statuses([(id, .signaled(15, coreDumped: false))])])
    // Unnamed and reported: nothing can name it any more.
    #expect(s.info(id) == nil)
  }

  @Test(
    """
    keep-control spawn forks a process object: created waits for the fork report even when exec was first, with a \
    pidfd
    """
  )
  func execBeforeForkReport() throws {
    var s = makeSupervisor()
    let fds = s.fds(1)
    let spec = RunSpec(program: b("true"), keepControl: true)
    _ = s.request(.spawn(SpawnRequest(targets: [1], spec: spec, wantsPIDFD: true)), fds: fds)
    guard case .fork(let id) = s.effects.commands(to: s.defaultTemplate!).last else { throw HarnessError("no fork") }
    s.statusPipeResult(id, failure: nil)
    #expect(s.effects.attachments[1] == nil)
    s.handle(.forked(pid: 777), from: s.defaultTemplate!)
    #expect(s.effects.attachments[1] == [.created(id: id, pid: 777, withPIDFD: true)])
    #expect(s.effects.pidfds.map(\.pid) == [777])
    #expect(s.effects.attachedFDs[1] == [[s.effects.pidfds[0].fd]])
    #expect(s.effects.attachmentsWithWrongFDCount.isEmpty)
  }

  @Test("a child that exited before its fork report: created, then its status, no pidfd for a reaped child")
  func exitBeforeForkReport() throws {
    var s = makeSupervisor()
    _ = s.request(.spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("true")), wantsPIDFD: true)))
    guard case .spawn(let id, _, _, _) = s.effects.commands(to: s.defaultTemplate!).last else {
      throw HarnessError("no spawn")
    }
    s.childExited(pid: 778, status: .exited(0))
    s.handle(.spawned(pid: 778, errno: 0), from: s.defaultTemplate!)
    #expect(s.effects.attachments[1] == [.created(id: id, pid: 778)])
    #expect(s.effects.pidfds.isEmpty)
    #expect(s.replies(1) == [.statuses([(id, .exited(0))])])
  }

  @Test("a named spawn stays listed after its status went out, for a later wait")
  func namedStays() throws {
    var s = makeSupervisor()
    let id = try s.runningSpawn(name: "job", pid: 500)
    s.childExited(pid: 500, status: .exited(3))
    #expect(s.replies(1) == [.statuses([(id, .exited(3))])])
    #expect(s.request(.wait(refs: [b("job")]), client: 2) == [.statuses([(id, .exited(3))])])
  }

  @Test("exec failure gives the spawn client one failure naming the program, and the record goes once it exits")
  func execFailure() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn("missing")
    s.handle(.spawned(pid: 500, errno: 2), from: s.defaultTemplate!)
    #expect(s.replies(1).count == 1)
    #expect(s.replies(1)[0].failureCode == .programNotFound)
    #expect(s.replies(1)[0].failureMessage?.hasPrefix("missing: ") == true)
    #expect(s.effects.attachments[1] == nil)
    s.childExited(pid: 500, status: .exited(127))
    #expect(s.info(id) == nil)
    #expect(s.replies(1).count == 1)
  }

  @Test("EACCES from exec is programNotExecutable")
  func notExecutable() throws {
    var s = makeSupervisor()
    _ = try s.startSpawn("/etc/passwd")
    s.handle(.spawned(pid: 500, errno: 13), from: s.defaultTemplate!)
    #expect(s.replies(1).map(\.failureCode) == [.programNotExecutable])
  }

  @Test("signal frames of the attached client reach the program's group; others' and late ones reach nothing")
  func forwarding() throws {
    var s = makeSupervisor()
    let id = try s.runningSpawn(pid: 500)
    #expect(s.request(.signal(2)).isEmpty)
    #expect(s.request(.signal(20), client: 2).isEmpty)
    #expect(s.effects.groupSignals.map { [$0.pid, $0.signal] } == [[500, 2]])
    s.childExited(pid: 500, status: .exited(130))
    #expect(s.request(.signal(15)).isEmpty)
    #expect(s.effects.groupSignals.count == 1)
    #expect(s.replies(1) == [.statuses([(id, .exited(130))])])
  }

  @Test("a signal frame before the program runs is not sent (the client only forwards after created)")
  func signalBeforeFork() throws {
    var s = makeSupervisor()
    _ = try s.startSpawn()
    #expect(s.request(.signal(2)).isEmpty)
    #expect(s.effects.groupSignals.isEmpty)
  }

  @Test("the spawning client going away: SIGTERM to the group at once, SIGKILL once the grace has passed")
  func clientGoneTerminates() throws {
    var s = makeSupervisor { $0.killGraceMilliseconds = 500 }
    let id = try s.runningSpawn(pid: 500)
    s.clientGone(1)
    #expect(s.effects.groupSignals.map { [$0.pid, $0.signal] } == [[500, 15]])
    #expect(s.nextDeadline == s.effects.clock + 500)
    s.deadlinesPassed(now: s.effects.clock + 499)
    #expect(s.effects.groupSignals.count == 1)
    s.deadlinesPassed(now: s.effects.clock + 500)
    #expect(s.effects.groupSignals.map { [$0.pid, $0.signal] } == [[500, 15], [500, 9]])
    #expect(s.nextDeadline == nil)
    s.childExited(pid: 500, status: .signaled(9, coreDumped: false))
    #expect(s.info(id) == nil)
  }

  @Test("a program that ends within the grace gets no SIGKILL")
  func exitWithinGrace() throws {
    var s = makeSupervisor()
    _ = try s.runningSpawn(pid: 500)
    s.clientGone(1)
    s.childExited(pid: 500, status: .signaled(15, coreDumped: false))
    #expect(s.nextDeadline == nil)
    s.deadlinesPassed(now: s.effects.clock + 100_000)
    #expect(s.effects.groupSignals.map(\.signal) == [15])
  }

  @Test("the client going away before the fork report: the child is terminated when it is reported")
  func clientGoneBeforeFork() throws {
    var s = makeSupervisor()
    _ = try s.startSpawn()
    s.clientGone(1)
    #expect(s.effects.groupSignals.isEmpty)
    s.handle(.spawned(pid: 500, errno: 0), from: s.defaultTemplate!)
    #expect(s.effects.groupSignals.map { [$0.pid, $0.signal] } == [[500, 15]])
    #expect(s.effects.signals.isEmpty)
  }

  @Test("--detach: the client going away leaves the program alone, and its status waits for a wait")
  func detach() throws {
    var s = makeSupervisor()
    let id = try s.runningSpawn(detach: true, pid: 500)
    s.clientGone(1)
    #expect(s.effects.groupSignals.isEmpty)
    #expect(s.nextDeadline == nil)
    s.childExited(pid: 500, status: .exited(4))
    #expect(s.request(.wait(refs: [ref(id)]), client: 2) == [.statuses([(id, .exited(4))])])
  }

  @Test("spawn from an unknown process object, or with a taken name, fails and closes every descriptor")
  func refusals() throws {
    var s = makeSupervisor()
    _ = try s.newWorker("taken", pid: 400)
    let spec = RunSpec(program: b("p"), hasWorkingDirectory: true)
    for (req, code) in [
      (SpawnRequest(from: b("nope"), targets: [0], spec: spec), ErrorCode.unknownProcess),
      (SpawnRequest(name: b("taken"), targets: [0], spec: spec), .nameTaken),
      (SpawnRequest(name: b("123"), targets: [0], spec: spec), .badRequest),
    ] {
      let fds = s.fds(2)
      #expect(s.request(.spawn(req), fds: fds, client: 3).map(\.failureCode) == [code])
      #expect(fds.allSatisfy { s.effects.closed.contains($0) })
    }
  }

  @Test("spawn --from a template of one's own forks that template")
  func fromTemplate() throws {
    var s = makeSupervisor()
    let t = try s.execTemplate("tpl")
    let (id, _) = try s.startSpawn(from: "tpl")
    s.handle(.spawned(pid: 600, errno: 0), from: t.id)
    #expect(s.info(id)?.parent == t.id)
  }

  @Test("a fork the template refuses fails the spawn")
  func forkRefused() throws {
    var s = makeSupervisor()
    let (id, _) = try s.startSpawn()
    s.handle(.refused(.templateFailed, message: b("has 2 threads")), from: s.defaultTemplate!)
    #expect(s.replies(1).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(1).first?.failureMessage == "cannot spawn prog: has 2 threads")
    #expect(s.info(id) == nil)
  }

  @Test("more descriptors than a process may hold: limitReached, all closed")
  func fdLimit() throws {
    var s = makeSupervisor { $0.maxFDsPerProcess = 2 }
    _ = s.request(.new(name: []), client: 9)  // starts the default template
    let fds = s.fds(4)
    let spec = RunSpec(program: b("p"), hasWorkingDirectory: true)
    #expect(
      s.request(.spawn(SpawnRequest(targets: [0, 1, 2], spec: spec)), fds: fds).map(\.failureCode) == [.limitReached])
    #expect(fds.allSatisfy { s.effects.closed.contains($0) })
  }

  @Test("run with waitForExit attaches without a reply; signals are forwarded; the status is the one reply")
  func runWait() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 700)
    var spec = RunSpec(program: b("p"))
    spec.waitForExit = true
    #expect(s.request(.run(ref: ref(w), spec: spec), client: 2).isEmpty)
    s.controlClosed(w)
    #expect(s.effects.attachments[2] == [nil])
    _ = s.request(.signal(10), client: 2)
    #expect(s.effects.groupSignals.map { [$0.pid, $0.signal] } == [[700, 10]])
    // Not tied: the client going away does not end it.
    s.clientGone(2)
    #expect(s.effects.groupSignals.count == 1)
  }

  @Test("signal frames are never answered, also while shutting down")
  func signalWhileShuttingDown() throws {
    var s = makeSupervisor()
    _ = try s.runningSpawn(pid: 500)
    _ = s.request(.shutdown, client: 5)
    #expect(s.request(.signal(2)).isEmpty)
    #expect(s.effects.groupSignals.count == 1)
  }
}

@Suite("Supervisor: abandoned process objects")
struct AbandonedTests {
  @Test(
    "a client that closed with its created reply unread abandons the process; one that sent another request does not")
  func createdUnread() throws {
    var s = makeSupervisor()
    let a = try s.newWorker(pid: 800, client: 1)
    s.clientGone(1, repliesUnread: true)
    #expect(s.effects.signals.map { [$0.pid, $0.signal] } == [[800, 9]])
    let b = try s.newWorker(pid: 801, client: 2)
    _ = s.request(.list, client: 2)
    s.clientGone(2, repliesUnread: true)
    #expect(s.effects.signals.count == 1)
    let c = try s.newWorker(pid: 802, client: 3)
    s.clientGone(3)
    #expect(s.effects.signals.count == 1)
    #expect(a != b && b != c)
  }

  @Test("a created reply that cannot be written (the client hung up) abandons the new process")
  func createdUndeliverable() throws {
    var s = makeSupervisor()
    _ = s.request(.new(name: []), client: 1)
    guard case .fork(let id) = s.effects.commands(to: s.defaultTemplate!).last else { throw HarnessError("no fork") }
    s.effects.gone.insert(1)
    s.handle(.forked(pid: 900), from: s.defaultTemplate!)
    #expect(s.effects.signals.map { [$0.pid, $0.signal] } == [[900, 9]])
    s.clientGone(1)
    s.childExited(pid: 900, status: .signaled(9, coreDumped: false))
    #expect(s.info(id) == nil)
  }

  @Test("a new whose client left before the fork report is killed, and forgotten once reaped")
  func abandonedNew() throws {
    var s = makeSupervisor { $0.maxProcessesPerUser = 1 }
    s.clientConnected(1, uid: 1000)
    _ = s.request(.new(name: []), client: 1)
    guard case .fork(let id) = s.effects.commands(to: s.defaultTemplate!).last else { throw HarnessError("no fork") }
    s.clientGone(1)
    s.handle(.forked(pid: 900), from: s.defaultTemplate!)
    #expect(s.effects.signals.map { [$0.pid, $0.signal] } == [[900, 9]])
    #expect(s.info(id) != nil)
    s.childExited(pid: 900, status: .signaled(9, coreDumped: false))
    #expect(s.info(id) == nil)
    // It no longer counts for its user.
    s.clientConnected(2, uid: 1000)
    _ = try s.newWorker(pid: 901, client: 2)
  }
}
