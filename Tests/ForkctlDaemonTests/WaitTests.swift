import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: wait")
struct WaitTests {
  @Test("wait blocks until the process exits, then replies its exact status")
  func waitBlocksUntilExit() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.wait(refs: [ref(w)]), client: 2) == [])
    s.childExited(pid: 2001, status: .signaled(6, coreDumped: true))
    #expect(s.replies(2) == [.statuses([(id: w, status: .signaled(6, coreDumped: true))])])
  }

  @Test("a wait for several ids replies only when all have exited, in request order")
  func waitForSeveral() throws {
    var s = makeSupervisor()
    let a = try s.newWorker("a", pid: 2001)
    let c = try s.newWorker("c", pid: 2002)
    let t = try s.execTemplate("t")
    #expect(s.request(.wait(refs: [b("t"), ref(a), b("c")]), client: 5) == [])
    s.childExited(pid: 2002, status: .exited(2))
    #expect(s.replies(5).isEmpty)
    s.childExited(pid: 2001, status: .exited(1))
    #expect(s.replies(5).isEmpty)
    s.childExited(pid: t.pid, status: .signaled(15, coreDumped: false))
    #expect(
      s.replies(5) == [
        .statuses([
          (id: t.id, status: .signaled(15, coreDumped: false)), (id: a, status: .exited(1)),
          (id: c, status: .exited(2)),
        ])
      ])
  }

  @Test("a wait on a process that has already exited replies at once")
  func waitOnExited() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.request(.wait(refs: [ref(w)]), client: 2) == [.statuses([(id: w, status: .exited(0))])])
  }

  @Test("repeated waits after an exit keep reporting the same status")
  func repeatedWait() throws {
    var s = makeSupervisor()
    let w = try s.newWorker("w", pid: 2001)
    s.request(.wait(refs: [b("w")]), client: 2)
    s.childExited(pid: 2001, status: .exited(4))
    let expected: [Reply] = [.statuses([(id: w, status: .exited(4))])]
    #expect(s.replies(2) == expected)
    #expect(s.request(.wait(refs: [b("w")]), client: 3) == expected)
    #expect(s.request(.wait(refs: [ref(w)]), client: 3) == expected)
    #expect(s.replies(3) == expected + expected)
    #expect(
      s.request(.wait(refs: [ref(w), ref(w)]), client: 4) == [
        .statuses([(id: w, status: .exited(4)), (id: w, status: .exited(4))])
      ])
  }

  @Test("several clients waiting on the same process are all answered")
  func severalWaiters() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.wait(refs: [ref(w)]), client: 2)
    s.request(.wait(refs: [ref(w)]), client: 3)
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.replies(2) == [.statuses([(id: w, status: .exited(0))])])
    #expect(s.replies(3) == [.statuses([(id: w, status: .exited(0))])])
  }

  @Test("a wait with no ids is a bad request")
  func emptyWait() {
    var s = makeSupervisor()
    #expect(s.request(.wait(refs: [])).map(\.failureCode) == [.badRequest])
  }

  @Test("a wait naming one unknown process fails as a whole and waits for nothing")
  func waitWithUnknown() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.wait(refs: [ref(w), b("ghost")]), client: 2).map(\.failureCode) == [.unknownProcess])
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.replies(2).count == 1)
  }

  @Test("the wait of a client that left is forgotten")
  func waitClientGone() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.wait(refs: [ref(w)]), client: 2)
    s.clientGone(2)
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.replies(2).isEmpty)
  }

  @Test("only the oldest reported records beyond retainedAfterWait are forgotten")
  func retainedAfterWait() throws {
    var s = makeSupervisor { $0.retainedAfterWait = 2 }
    var ids: [UInt64] = []
    for i in 0..<4 {
      let t = try s.execTemplate()
      ids.append(t.id)
      s.childExited(pid: t.pid, status: .exited(Int32(i)))
      s.controlClosed(t.id)
      s.request(.wait(refs: [ref(t.id)]), client: 9)
    }
    #expect(s.listing().map(\.id) == Array(ids.suffix(2)))
    #expect(s.request(.wait(refs: [ref(ids[0])]), client: 10).map(\.failureCode) == [.unknownProcess])
    #expect(s.request(.wait(refs: [ref(ids[3])]), client: 10) == [.statuses([(id: ids[3], status: .exited(3))])])
  }
}

@Suite("Supervisor: records that go away")
struct RecordLifetimeTests {
  @Test("a wait on a child whose fork was refused is answered, not left hanging")
  func waitOnRefusedFork() {
    var s = makeSupervisor()
    s.request(.new(name: b("w")), client: 1)
    #expect(s.request(.wait(refs: [b("w")]), client: 2) == [])
    s.handle(.refused(.templateFailed, message: b("threads")), from: 1)
    #expect(s.replies(1).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(2).count == 1)
    #expect(s.replies(2).first?.failureCode == .templateFailed)
  }

  @Test("a wait on a child whose template died mid-fork is answered, not left hanging")
  func waitOnForkOfDeadTemplate() throws {
    var s = makeSupervisor()
    let t = try s.execTemplate("t")
    s.request(.fork(ref: b("t"), name: b("w")), client: 1)
    let other = try s.execTemplate("other", client: 9)
    s.request(.wait(refs: [ref(other.id), b("w")]), client: 2)
    s.controlClosed(t.id)
    #expect(s.replies(2).count == 1)
    #expect(s.replies(2).first?.failureCode == .templateFailed)
    // Nothing is left to answer later.
    s.childExited(pid: other.pid, status: .exited(0))
    #expect(s.replies(2).count == 1)
  }

  @Test("a record forgotten after its wait releases its control socket")
  func forgottenRecordClosesControl() throws {
    // A keep-control program can exit while a descendant still holds its control socket.
    // Once its record is forgotten, the daemon must still close and stop watching its end,
    // or the event loop would keep seeing an end of file that nobody handles.
    var s = makeSupervisor { $0.retainedAfterWait = 0 }
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("sh"), keepControl: true)), client: 2)
    s.statusPipeResult(w, failure: nil)
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.request(.wait(refs: [ref(w)]), client: 3) == [.statuses([(id: w, status: .exited(0))])])
    #expect(s.info(w) == nil)
    #expect(!s.effects.openControls.contains(w))
  }

  @Test("a reported record still named by a pending wait is kept until that wait is answered, then forgotten")
  func reportedRecordKeptForPendingWait() throws {
    var s = makeSupervisor { $0.retainedAfterWait = 0 }
    let c = try s.newWorker(pid: 2002)
    let b = try s.newWorker(pid: 2004)
    #expect(s.request(.wait(refs: [ref(c), ref(b)]), client: 4) == [])
    s.childExited(pid: 2004, status: .exited(4))
    #expect(s.request(.wait(refs: [ref(b)]), client: 3) == [.statuses([(id: b, status: .exited(4))])])
    #expect(s.info(b) != nil)  // reported, but client 4 still waits for it
    s.childExited(pid: 2002, status: .exited(2))
    #expect(s.replies(4) == [.statuses([(id: c, status: .exited(2)), (id: b, status: .exited(4))])])
    // Now nothing holds them: all reported records are forgotten.
    #expect(s.listing().allSatisfy { $0.role == .defaultTemplate })
  }

  @Test("a full table forgets reported records and releases their control sockets")
  func fullTableClosesForgottenControls() throws {
    var s = makeSupervisor { $0.maxProcesses = 2 }
    let t = try s.execTemplate()
    s.childExited(pid: t.pid, status: .exited(0))  // reaped before its end of file
    s.request(.wait(refs: [ref(t.id)]), client: 2)
    _ = try s.execTemplate()
    _ = try s.execTemplate()
    #expect(s.info(t.id) == nil)
    #expect(!s.effects.openControls.contains(t.id))
  }
}
