import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: forget and prune")
struct ForgetTests {
  @Test("forget drops an exited object: list no longer shows it and a wait finds nothing")
  func forgetDropsExited() throws {
    var s = makeSupervisor()
    let w = try s.newWorker("w", pid: 2001)
    s.childExited(pid: 2001, status: .exited(3))
    #expect(s.request(.forget(refs: [b("w")]), client: 2) == [.statuses([(id: w, status: .exited(3))])])
    #expect(s.info(w) == nil)
    #expect(s.request(.wait(refs: [ref(w)]), client: 2).first?.failureCode == .unknownProcess)
  }

  @Test("forget of an object that has not exited is refused, and nothing named is dropped")
  func forgetRefusesLive() throws {
    var s = makeSupervisor()
    let done = try s.newWorker(pid: 2001)
    let live = try s.newWorker(pid: 2002)
    s.childExited(pid: 2001, status: .exited(0))
    let r = s.request(.forget(refs: [ref(done), ref(live)]), client: 2)
    #expect(r.first?.failureCode == .wrongState)
    #expect(r.first?.failureMessage?.contains("has not exited") == true)
    #expect(s.info(done)?.state == .exited)
    #expect(s.info(live)?.state == .ready)
  }

  @Test("forget of an object a pending wait names is refused, and that wait is still answered")
  func forgetRefusesAwaited() throws {
    var s = makeSupervisor()
    let a = try s.newWorker(pid: 2001)
    let c = try s.newWorker(pid: 2002)
    s.childExited(pid: 2001, status: .exited(1))
    #expect(s.request(.wait(refs: [ref(a), ref(c)]), client: 3) == [])
    #expect(s.request(.forget(refs: [ref(a)]), client: 2).first?.failureCode == .wrongState)
    s.childExited(pid: 2002, status: .exited(2))
    #expect(s.replies(3) == [.statuses([(id: a, status: .exited(1)), (id: c, status: .exited(2))])])
  }

  @Test("forget without ids is a bad request")
  func forgetNeedsIDs() {
    var s = makeSupervisor()
    #expect(s.request(.forget(refs: []), client: 2).first?.failureCode == .badRequest)
  }

  @Test("prune drops the caller's exited unreported objects only: not another user's, a live one or a reported one")
  func pruneDropsOwnUnreported() throws {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    s.clientConnected(2, uid: 1001)
    let mine = try s.newWorker(pid: 2001, client: 1)
    let live = try s.newWorker(pid: 2002, client: 1)
    let reported = try s.newWorker(pid: 2003, client: 1)
    let theirs = try s.newWorker(pid: 2004, client: 2)
    for pid: Int32 in [2001, 2003, 2004] { s.childExited(pid: pid, status: .exited(pid - 2000)) }
    s.request(.wait(refs: [ref(reported)]), client: 1)
    #expect(s.request(.prune, client: 1) == [.statuses([(id: mine, status: .exited(1))])])
    #expect(s.info(mine) == nil)
    #expect(s.info(live)?.state == .ready)
    #expect(s.info(reported)?.state == .exited)
    #expect(s.info(theirs)?.state == .exited)
    #expect(s.request(.prune, client: 1) == [.statuses([])])
  }

  @Test("after prune, a user at the limit with exited unreported objects can make new ones")
  func pruneMakesRoom() throws {
    var s = makeSupervisor { $0.maxProcessesPerUser = 2 }
    s.clientConnected(1, uid: 1000)
    _ = try s.newWorker(pid: 2001)
    _ = try s.newWorker(pid: 2002)
    s.childExited(pid: 2001, status: .exited(0))
    s.childExited(pid: 2002, status: .exited(0))
    #expect(s.request(.new(name: [])).first?.failureCode == .limitReached)
    #expect(s.request(.prune).count == 1)
    _ = try s.newWorker(pid: 2003)
  }
}
