// Issue 11, items 1 and 2: a status goes only to the process it belongs to, and nothing asked
// of a process object that is never born is left waiting.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: statuses reach only their own process")
struct StatusAttributionTests {
  @Test("an orphan's status reaped before a fork was asked is not given to that fork's child with the same pid")
  func orphanStatusNotGivenToLaterChildWithItsPid() throws {
    var s = makeSupervisor()
    // A fork in flight keeps early exits; the orphan 2001 (a worker's daemonized child) is
    // reaped meanwhile.
    s.request(.new(name: []), client: 1)
    s.childExited(pid: 2001, status: .exited(9))
    // Pids wrap: the next fork's child gets 2001.
    s.request(.new(name: []), client: 2)
    s.handle(.forked(pid: 2002), from: 1)
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.replies(2) == [.created(id: 3, pid: 2001)])
    #expect(s.info(3)?.state == .ready)
    #expect(s.info(3)?.status == nil)
  }

  @Test("an early exit reaped after the fork was asked is not given to a child the kernel says is alive")
  func earlyExitNotGivenToUnreapedChild() throws {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 1)
    s.childExited(pid: 2001, status: .exited(9))
    // 2001 was reaped, and then given to the child: it is the daemon's unreaped child now.
    s.effects.unreapedChildren = [2001]
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.info(2)?.state == .ready)
    #expect(s.info(2)?.status == nil)
  }

  @Test("early exits no fork in flight can claim are dropped while other forks are still in flight")
  func staleEarlyExitsDropped() throws {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 1)
    s.childExited(pid: 3000, status: .exited(1))
    s.request(.new(name: []), client: 2)
    #expect(s.registry.hasEarlyExit(pid: 3000))
    // The fork that was in flight when 3000 was reaped is reported; the other still flies.
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.registry.starting == 1)
    #expect(!s.registry.hasEarlyExit(pid: 3000))
  }
}
