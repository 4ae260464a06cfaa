import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: a template that does not answer in time")
struct DeadlineTests {
  @Test("a template that does not answer a fork in time is killed and the new waiting on it fails with why")
  func unansweredForkFailsTheRequest() throws {
    var s = makeSupervisor { $0.templateTimeoutMilliseconds = 500 }
    s.request(.new(name: []), client: 7)
    let template = try #require(s.effects.templates.first)
    #expect(s.nextDeadline == s.effects.clock + 500)
    s.deadlinesPassed(now: s.effects.clock + 499)
    #expect(s.replies(7).isEmpty)
    s.deadlinesPassed(now: s.effects.clock + 500)
    let reply = try #require(s.replies(7).last)
    #expect(reply.failureCode == .templateFailed)
    #expect(reply.failureMessage?.contains("the default template (process 1) did not answer within 0.5 s") == true)
    #expect(s.effects.signals.map(\.pid) == [template.pid])
    #expect(s.effects.signals.map(\.signal) == [Signal.kill.rawValue])
    #expect(s.effects.closedControls.contains(1))
    // The unborn child is gone, and the next new starts a fresh template.
    #expect(s.info(2) == nil)
    #expect(s.defaultTemplate == nil)
    s.request(.new(name: []), client: 8)
    #expect(s.effects.templates.count == 2)
  }

  @Test("a spawn queued on a template that does not answer fails with why, and its fork is forgotten")
  func unansweredSpawnFails() throws {
    var s = makeSupervisor { $0.templateTimeoutMilliseconds = 1000 }
    let (id, _) = try s.startSpawn("prog", client: 3)
    s.deadlinesPassed(now: s.effects.clock + 1000)
    let reply = try #require(s.replies(3).last)
    #expect(reply.failureCode == .templateFailed)
    #expect(
      reply.failureMessage?.contains("cannot spawn prog: the default template (process 1) did not answer") == true)
    #expect(s.info(id) == nil)
    #expect(s.nextDeadline == nil)
  }

  @Test("each report gives the next fork in the queue the whole bound again, and none is due once all are answered")
  func reportsRestartTheClock() throws {
    var s = makeSupervisor { $0.templateTimeoutMilliseconds = 500 }
    s.request(.new(name: []), client: 1)
    s.request(.new(name: []), client: 2)
    s.effects.clock += 400
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.nextDeadline == s.effects.clock + 500)
    s.deadlinesPassed(now: s.effects.clock + 499)
    #expect(s.effects.signals.isEmpty)
    s.handle(.forked(pid: 2002), from: 1)
    #expect(s.nextDeadline == nil)
    #expect(s.replies(2) == [.created(id: 3, pid: 2002)])
  }
}
