import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: run --detach")
struct DetachedRunTests {
  private let spec = RunSpec(program: b("true"))

  @Test("a detached run is forgotten once reaped, and never counts as a status nobody waited for")
  func detachedRunForgottenOnExit() throws {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.run(ref: ref(w), spec: spec, detach: true)) == [])
    s.controlClosed(w)
    #expect(s.replies(1).last == .ok)
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.info(w) == nil)
    #expect(s.request(.waitAll) == [.statuses([])])
  }

  @Test("a detached program reaped before its exec outcome is read still gets its run answered, then is forgotten")
  func detachedRunReapedBeforeOutcome() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.run(ref: ref(w), spec: spec, detach: true)) == [])
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.info(w)?.state == .exited)
    s.controlClosed(w)
    #expect(s.replies(1).last == .ok)
    #expect(s.info(w) == nil)
  }

  @Test("a wait pending on a detached program gets its status before it is forgotten")
  func pendingWaitOnDetachedRun() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: spec, detach: true))
    s.controlClosed(w)
    #expect(s.request(.wait(refs: [ref(w)]), client: 2) == [])
    s.childExited(pid: 2001, status: .exited(7))
    #expect(s.replies(2) == [.statuses([(id: w, status: .exited(7))])])
    #expect(s.info(w) == nil)
  }

  @Test("a refused run --detach leaves the object it named as it was")
  func refusedDetachChangesNothing() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: spec))
    s.controlClosed(w)
    #expect(s.request(.run(ref: ref(w), spec: spec, detach: true)).first?.failureCode == .wrongState)
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.info(w)?.state == .exited, "its status is still kept for a wait")
  }
}
