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

  @Test("a fork of an object still starting fails when that object is never born, and nothing stays starting")
  func forkOfUnbornObjectAnswered() throws {
    var s = makeSupervisor()
    s.request(.new(name: b("a")), client: 1)
    // The id is in list at once: a second client forks it before its fork report.
    #expect(s.request(.fork(ref: ref(2), name: b("b")), client: 2) == [])
    #expect(s.request(.fork(ref: b("b"), name: []), client: 3) == [])
    #expect(s.registry.starting == 3)
    // The template dies before reporting the first fork.
    s.controlClosed(1)
    #expect(s.replies(1).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(3).map(\.failureCode) == [.templateFailed])
    // The dead template stays listed until it is reaped.
    #expect(s.listing().map(\.id) == [1])
    #expect(s.registry.starting == 0)
    #expect(s.effects.openControls.isEmpty)
  }

  @Test("a run and a spawn queued on an object still starting fail when it is never born")
  func runAndSpawnOnUnbornObjectAnswered() throws {
    var s = makeSupervisor()
    s.request(.new(name: b("a")), client: 1)
    s.request(.new(name: b("b")), client: 1)
    #expect(s.request(.run(ref: b("a"), spec: RunSpec(program: b("/bin/true")), attributes: nil), client: 2) == [])
    let spawn = SpawnRequest(from: b("b"), targets: [], spec: RunSpec(program: b("/bin/true")))
    #expect(s.request(.spawn(spawn), client: 3) == [])
    s.handle(.refused(.templateFailed, message: b("no")), from: 1)
    s.handle(.refused(.templateFailed, message: b("no")), from: 1)
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(3).map(\.failureCode) == [.templateFailed])
    #expect(s.listing().map(\.id) == [1])
    #expect(s.registry.starting == 0)
  }
}
