import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: creating process objects")
struct CreationTests {
  @Test("hello is answered with the protocol version and the daemon's pid")
  func hello() {
    var s = makeSupervisor()
    #expect(s.request(.hello) == [.welcome(version: WireLimits.version, daemonPID: daemonPID)])
  }

  @Test("new starts the default template once and sends it a fork with one descriptor")
  func newStartsDefaultTemplateAndForks() throws {
    var s = makeSupervisor()
    #expect(s.request(.new(name: []), client: 7) == [])
    #expect(s.effects.templates.count == 1)
    let template = try #require(s.effects.templates.first)
    #expect(template.id == 1)
    #expect(s.defaultTemplate == 1)
    // The template got one end of a socket pair, the daemon watches the other.
    let pair = s.effects.socketPairs[0]
    #expect(template.control == pair.1)
    #expect(s.effects.watchedControls[1] == pair.0)
    // The fork command names the child and carries the child's control socket.
    let sent = try #require(s.effects.sent[1])
    #expect(sent.count == 1)
    #expect(sent[0].command == .fork(id: 2))
    #expect(sent[0].fds.count == 1)
    let childPair = s.effects.socketPairs[1]
    #expect(sent[0].fds == [childPair.1])
    #expect(s.effects.watchedControls[2] == childPair.0)
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
    #expect(s.effects.closed.isEmpty)
    #expect(s.info(2)?.state == .starting)
    #expect(s.info(2)?.pid == 0)
  }

  @Test("the client learns of the new process only when the template reports its pid")
  func createdOnlyAfterForkReport() {
    var s = makeSupervisor()
    s.request(.new(name: b("w")), client: 7)
    #expect(s.replies(7).isEmpty)
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.replies(7) == [.created(id: 2, pid: 2001)])
    let listing = s.listing()
    #expect(listing.count == 2)
    #expect(
      listing[0]
        == ProcessEntry(
          id: 1, name: b("default"), role: .defaultTemplate, parent: 0, pid: 1001, state: .ready, status: nil,
          fdsSent: 0, argumentsSent: 0, program: []))
    #expect(
      listing[1]
        == ProcessEntry(
          id: 2, name: b("w"), role: .forked, parent: 1, pid: 2001, state: .ready, status: nil, fdsSent: 0,
          argumentsSent: 0, program: []))
    #expect(s.request(.list, client: 8) == [.listing(listing)])
  }

  @Test("fork reports answer pending forks in the order they were sent")
  func forkReportsInOrder() {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 1)
    s.request(.new(name: []), client: 2)
    s.handle(.forked(pid: 2001), from: 1)
    s.handle(.forked(pid: 2002), from: 1)
    #expect(s.replies(1) == [.created(id: 2, pid: 2001)])
    #expect(s.replies(2) == [.created(id: 3, pid: 2002)])
  }

  @Test("a second new reuses the running default template")
  func secondNewReusesTemplate() throws {
    var s = makeSupervisor()
    _ = try s.newWorker(pid: 2001)
    _ = try s.newWorker(pid: 2002)
    #expect(s.effects.templates.count == 1)
    #expect(s.effects.commands(to: 1) == [.fork(id: 2), .fork(id: 3)])
  }

  @Test("after the default template exits, the next new starts a fresh one")
  func newAfterTemplateExit() throws {
    var s = makeSupervisor()
    _ = try s.newWorker(pid: 2001)
    s.childExited(pid: 1001, status: .signaled(9, coreDumped: false))
    #expect(s.defaultTemplate == nil)
    let w = try s.newWorker(pid: 2002)
    #expect(s.effects.templates.count == 2)
    let fresh = s.effects.templates[1]
    #expect(fresh.id != 1)
    #expect(s.defaultTemplate == fresh.id)
    #expect(s.effects.commands(to: fresh.id) == [.fork(id: w)])
    #expect(s.info(1)?.state == .exited)
    #expect(s.info(w)?.parent == fresh.id)
  }

  @Test("after the default template's control socket closes, the next new starts a fresh one")
  func newAfterTemplateControlClosed() throws {
    var s = makeSupervisor()
    _ = try s.newWorker(pid: 2001)
    s.controlClosed(1)
    #expect(s.effects.closedControls == [1])
    #expect(s.defaultTemplate == nil)
    _ = try s.newWorker(pid: 2002)
    #expect(s.effects.templates.count == 2)
    #expect(s.effects.commands(to: 1) == [.fork(id: 2)])
  }

  @Test("exec replies created at once with the template's pid")
  func execCreatesAtOnce() throws {
    var s = makeSupervisor()
    #expect(s.request(.exec(name: b("t"))) == [.created(id: 1, pid: 1001)])
    #expect(s.effects.templates.map(\.id) == [1])
    #expect(s.info(1)?.role == .template)
    #expect(s.info(1)?.name == b("t"))
    #expect(s.info(1)?.state == .ready)
    #expect(s.defaultTemplate == nil)
  }

  @Test("fork copies the parent's descriptor and argument counts into the child")
  func forkClonesCounts() throws {
    var s = makeSupervisor()
    let t = try s.execTemplate("t")
    let two = s.fds(2)
    #expect(s.request(.sendFDs(ref: b("t"), targets: [nil, 5]), fds: two) == [.ok])
    #expect(s.request(.sendArgs(ref: b("t"), arguments: [b("a"), b("bb"), b("c")])) == [.ok])
    #expect(s.request(.fork(ref: b("t"), name: b("child"))) == [])
    #expect(s.effects.commands(to: t.id).last == .fork(id: 2))
    let child = try #require(s.info(2))
    #expect(child.fdsSent == 2)
    #expect(child.argumentsSent == 3)
    #expect(child.parent == t.id)
    #expect(child.role == .forked)
    #expect(child.name == b("child"))
    // The child's byte budget is inherited too: the parent's bytes count against it.
    #expect(s.registry[2]?.holdings.argumentBytes == 4)
    // And a fork of the fork carries the counts on.
    s.handle(.forked(pid: 3001), from: t.id)
    #expect(s.request(.sendArgs(ref: b("child"), arguments: [b("d")])) == [.ok])
    _ = try s.forkWorker(from: 2, pid: 3002)
    #expect(s.info(3)?.fdsSent == 2)
    #expect(s.info(3)?.argumentsSent == 4)
    #expect(s.info(t.id)?.argumentsSent == 3)
  }

  @Test("a template that fails to start gives templateFailed and closes the daemon's end")
  func templateStartFailure() {
    var s = makeSupervisor()
    s.effects.failStartTemplate = .noSuchFileOrDirectory
    let r = s.request(.exec(name: []))
    #expect(r.map(\.failureCode) == [.templateFailed])
    #expect(s.effects.closed == [s.effects.socketPairs[0].0])
    #expect(s.listing().isEmpty)
    // new fails the same way and leaves no default template behind.
    s.effects.failStartTemplate = .resourceTemporarilyUnavailable
    #expect(s.request(.new(name: [])).map(\.failureCode) == [.templateFailed])
    #expect(s.defaultTemplate == nil)
    // The next one works.
    #expect(s.request(.new(name: [])) == [])
    #expect(s.defaultTemplate != nil)
  }

  @Test("a socket pair that cannot be made gives templateFailed and no record")
  func socketPairFailure() throws {
    var s = makeSupervisor()
    let t = try s.execTemplate()
    s.effects.failSocketPair = .tooManyOpenFiles
    #expect(s.request(.fork(ref: ref(t.id), name: b("x"))).map(\.failureCode) == [.templateFailed])
    #expect(s.listing().map(\.id) == [t.id])
    #expect(s.effects.commands(to: t.id).isEmpty)
    // The name was not taken by the failed fork.
    #expect(s.request(.fork(ref: ref(t.id), name: b("x"))) == [])
  }

  @Test("a child exiting before its fork report still ends with its own exit status")
  func earlyExitBeforeForkReport() throws {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 3)
    s.childExited(pid: 2001, status: .exited(7))
    #expect(s.replies(3).isEmpty)
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.replies(3) == [.created(id: 2, pid: 2001)])
    #expect(s.info(2)?.state == .exited)
    #expect(s.info(2)?.status == .exited(7))
    #expect(s.request(.wait(refs: [b("2")]), client: 4) == [.statuses([(id: 2, status: .exited(7))])])
  }

  @Test("an early exit is matched to the right child among several forks in flight")
  func earlyExitAmongSeveralForks() {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 1)
    s.request(.new(name: []), client: 2)
    s.childExited(pid: 2002, status: .signaled(15, coreDumped: false))
    s.handle(.forked(pid: 2001), from: 1)
    s.handle(.forked(pid: 2002), from: 1)
    #expect(s.info(2)?.state == .ready)
    #expect(s.info(2)?.status == nil)
    #expect(s.info(3)?.state == .exited)
    #expect(s.info(3)?.status == .signaled(15, coreDumped: false))
  }

  @Test("the exit of an unknown pid with no fork in flight is not kept for a later child")
  func orphanExitIsForgotten() throws {
    var s = makeSupervisor()
    s.childExited(pid: 2001, status: .exited(1))
    let w = try s.newWorker(pid: 2001)
    #expect(s.info(w)?.state == .ready)
    #expect(s.info(w)?.status == nil)
  }

  @Test("the default template dying with a fork pending fails that client and closes the unborn child")
  func templateDiesMidFork() throws {
    var s = makeSupervisor()
    s.request(.new(name: b("w")), client: 5)
    s.controlClosed(1)
    #expect(s.replies(5).map(\.failureCode) == [.templateFailed])
    #expect(Set(s.effects.closedControls) == [1, 2])
    #expect(s.info(2) == nil)
    #expect(s.defaultTemplate == nil)
    // A late report for the dead fork is ignored.
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.replies(5).count == 1)
    // The name is free again, and a new template is started for the next new.
    let w = try s.newWorker("w", pid: 2002, client: 6)
    #expect(s.info(w)?.name == b("w"))
    #expect(s.effects.templates.count == 2)
    #expect(s.info(w)?.parent == s.effects.templates[1].id)
  }

  @Test("an exec'd template dying with forks pending fails each of those clients")
  func execTemplateDiesWithSeveralForks() throws {
    var s = makeSupervisor()
    let t = try s.execTemplate("t")
    s.request(.fork(ref: b("t"), name: []), client: 2)
    s.request(.fork(ref: b("t"), name: []), client: 3)
    s.controlClosed(t.id)
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(3).map(\.failureCode) == [.templateFailed])
    #expect(s.listing().map(\.id) == [t.id])
    // Its record can take no more forks.
    #expect(s.request(.fork(ref: b("t"), name: []), client: 4).map(\.failureCode) == [.wrongState])
  }

  @Test("a refused fork report fails the client with the template's reason and drops the child")
  func refusedFork() {
    var s = makeSupervisor()
    s.request(.new(name: b("w")), client: 5)
    let reason = b("process 1001 has 3 threads; forking it is unsafe")
    s.handle(.refused(.templateFailed, message: reason), from: 1)
    let r = s.replies(5)
    #expect(r.map(\.failureCode) == [.templateFailed])
    #expect(r.first?.failureMessage?.hasSuffix(String(decoding: reason, as: UTF8.self)) == true)
    #expect(s.info(2) == nil)
    #expect(s.effects.closedControls == [2])
    // The template itself lives on and takes the next fork.
    #expect(s.defaultTemplate == 1)
    #expect(s.request(.new(name: b("w")), client: 6) == [])
    #expect(s.effects.commands(to: 1) == [.fork(id: 2), .fork(id: 3)])
  }

  @Test("a process whose client left before the created reply is killed when its pid arrives")
  func clientGoneBeforeCreated() {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 5)
    s.clientGone(5)
    s.handle(.forked(pid: 2001), from: 1)
    #expect(s.replies(5).isEmpty)
    #expect(s.effects.signals.map { $0.pid } == [2001])
    #expect(s.effects.signals.map { $0.signal } == [9])
  }

  @Test("a client leaving does not affect another client's pending fork")
  func otherClientGone() {
    var s = makeSupervisor()
    s.request(.new(name: []), client: 5)
    s.request(.new(name: []), client: 6)
    s.clientGone(5)
    s.handle(.forked(pid: 2001), from: 1)
    s.handle(.forked(pid: 2002), from: 1)
    #expect(s.effects.signals.map { $0.pid } == [2001])
    #expect(s.replies(6) == [.created(id: 3, pid: 2002)])
  }

  @Test("reports for unknown process objects or with no fork pending are ignored")
  func strayReports() throws {
    var s = makeSupervisor()
    s.handle(.forked(pid: 1), from: 99)
    s.handle(.refused(.internalError, message: []), from: 99)
    s.handle(.execFailed(errno: 2), from: 99)
    let t = try s.execTemplate()
    s.handle(.forked(pid: 1), from: t.id)
    s.handle(.refused(.internalError, message: []), from: t.id)
    s.handle(.execFailed(errno: 2), from: t.id)
    s.controlClosed(99)
    s.childExited(pid: 31337, status: .exited(0))
    #expect(s.effects.replies.values.flatMap { $0 }.count == 1)
    #expect(s.listing().count == 1)
  }
}
