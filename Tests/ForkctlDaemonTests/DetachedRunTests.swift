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

  @Test("a detached program reaped before its exec outcome is read gets its run answered, then is forgotten")
  func detachedRunReapedBeforeOutcome() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.run(ref: ref(w), spec: spec, detach: true)) == [])
    // The zombie says it ran its program (issue 11 item 4): the run is answered then.
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.replies(1).last == .ok)
    #expect(s.info(w) == nil)
    let answered = s.replies(1).count
    s.controlClosed(w)
    #expect(s.replies(1).count == answered, "the end of file read afterwards answers nothing more")
  }

  @Test(
    """
    a detached process reaped before it ran its program keeps its run pending to the end of file, \
    then fails and is forgotten
    """
  )
  func detachedRunReapedBeforeExec() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.run(ref: ref(w), spec: spec, detach: true)) == [])
    s.effects.endedBeforeExec = [2001]
    s.childExited(pid: 2001, status: .signaled(9, coreDumped: false))
    #expect(s.info(w)?.state == .exited)
    s.controlClosed(w)
    #expect(s.replies(1).last?.failureCode == .templateFailed)
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
