// Issue 11, item 9: the kill-on-disconnect policy reaches every member of the group.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: SIGKILL after the grace reaches the whole group")
struct GroupKillTests {
  @Test("group members left after their leader exited within the grace get SIGKILL once it has passed")
  func remainingMembersKilled() throws {
    var s = makeSupervisor { $0.killGraceMilliseconds = 500 }
    _ = try s.runningSpawn(pid: 500)
    s.clientGone(1)
    // The leader ends on SIGTERM; a member that ignores it runs on.
    s.effects.groupsWithOtherMembers = [500]
    s.childExited(pid: 500, status: .signaled(15, coreDumped: false))
    #expect(s.nextDeadline == s.effects.clock + 500)
    s.deadlinesPassed(now: s.effects.clock + 500)
    #expect(s.effects.events.last == .signalRemainingGroup(group: 500, signal: 9))
    #expect(s.effects.groupSignals.map(\.signal) == [15])
    #expect(s.nextDeadline == nil)
  }

  @Test("a pid given to a new process ends any SIGKILL still due to a group with that id")
  func reusedPIDNotKilled() throws {
    var s = makeSupervisor { $0.killGraceMilliseconds = 500 }
    _ = try s.runningSpawn(pid: 500)
    s.clientGone(1)
    s.effects.groupsWithOtherMembers = [500]
    s.childExited(pid: 500, status: .signaled(15, coreDumped: false))
    // The group emptied since, and its pid went to a new worker.
    _ = try s.newWorker(pid: 500, client: 2)
    #expect(s.nextDeadline == nil)
    s.deadlinesPassed(now: s.effects.clock + 500)
    #expect(!s.effects.events.contains(.signalRemainingGroup(group: 500, signal: 9)))
  }
}
