import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: wait --all")
struct WaitAllTests {
  /// A worker of `client` that ran a program (pid `pid`): running, not attached.
  private func ranWorker(_ s: inout TestSupervisor, pid: Int32, client: ClientID = 1) throws -> UInt64 {
    let w = try s.newWorker(pid: pid, client: client)
    #expect(s.request(.run(ref: ref(w), spec: RunSpec(program: b("true"))), client: client) == [])
    s.controlClosed(w)
    #expect(s.replies(client).last == .ok)
    return w
  }

  @Test("wait --all takes the caller's run objects, running or exited, and answers when all have exited")
  func waitAllTakesRunObjects() throws {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    s.clientConnected(2, uid: 1001)
    let exited = try ranWorker(&s, pid: 2001)
    let running = try ranWorker(&s, pid: 2002)
    let unrun = try s.newWorker(pid: 2003)
    _ = try s.execTemplate("t")
    let theirs = try ranWorker(&s, pid: 2004, client: 2)
    s.childExited(pid: 2001, status: .exited(3))
    #expect(s.request(.waitAll, client: 1) == [])
    let before = s.replies(1).count
    s.childExited(pid: 2004, status: .exited(9))
    #expect(s.replies(1).count == before)
    s.childExited(pid: 2002, status: .exited(5))
    #expect(s.replies(1).last == .statuses([(id: exited, status: .exited(3)), (id: running, status: .exited(5))]))
    #expect(s.info(unrun)?.state == .ready)
    // Reported now: a second wait --all has nothing to wait for; the other user's is kept.
    #expect(s.request(.waitAll, client: 1) == [.statuses([])])
    #expect(s.request(.waitAll, client: 2) == [.statuses([(id: theirs, status: .exited(9))])])
  }

  @Test("wait --all with nothing to wait for answers at once, with no status")
  func waitAllWithNothing() {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    #expect(s.request(.waitAll) == [.statuses([])])
  }
}
