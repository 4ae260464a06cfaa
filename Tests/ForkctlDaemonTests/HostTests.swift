// Issue 14: language hosts. Their workers are their own children: announced with a pidfd
// (hostChild), their ends reported before the host reaps them (childEnded), and the daemon's
// own reaping decides once the host has died.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: language hosts and their children")
struct HostTests {
  static let python = HostSpec(language: .python, interpreter: b("/usr/bin/python3"), environment: [b("A=1")])

  /// A Python host, and a worker forked from it that runs `program` as pid `pid`, announced
  /// with the pidfd returned.
  static func hostedWorker(
    _ s: inout TestSupervisor, pid: Int32 = 3001, program: String = "exit:7"
  ) throws -> (host: UInt64, worker: UInt64, pidfd: FileDescriptor) {
    let r = s.execHost(b("py"), python)
    guard case .created(let host, _, _) = r.first else { throw HarnessError("exec --python replied \(r)") }
    #expect(s.registry[host]?.host == .python)
    #expect(s.request(.fork(ref: ref(host), name: []), client: 1) == [])
    guard case .fork(let worker) = s.effects.commands(to: host).last else { throw HarnessError("no fork sent") }
    let pidfd = s.effects.makeFD()
    s.handle(.hostChild(pid: pid, pidfd: pidfd, from: host))
    s.handle(.forked(pid: pid), from: host)
    #expect(s.replies(1).last == .created(id: worker, pid: pid))
    #expect(s.registry[worker]?.host == .python)
    s.request(.run(ref: ref(worker), spec: RunSpec(program: b(program), entry: .call(quickExit: false))))
    s.controlClosed(worker)
    return (host, worker, pidfd)
  }

  @Test("exec with a host block starts the interpreter, not the template image")
  func execStartsHost() throws {
    var s = makeSupervisor()
    let r = s.execHost(b("py"), Self.python)
    guard case .created(let id, let pid, _) = r.first else { throw HarnessError("exec replied \(r)") }
    #expect(s.effects.events.contains(.startHost(id, Self.python, pid: pid)))
    #expect(!s.effects.events.contains { if case .startTemplate = $0 { true } else { false } })
  }

  @Test("exec of a host is answered at its hostReady, not before: a host that cannot start fails the exec")
  func execWaitsForHostReady() throws {
    var s = makeSupervisor()
    #expect(s.request(.exec(name: b("py"), host: Self.python), client: 3) == [])
    let id = try #require(s.resolve(b("py")))
    let pid = try #require(s.registry[id]?.phase.pid)
    s.handle(.hostReady, from: id)
    #expect(s.replies(3) == [.created(id: id, pid: pid)])
    // Said again (a remade host says it too): nothing more, and no violation.
    s.handle(.hostReady, from: id)
    #expect(s.replies(3).count == 1)
    #expect(!s.effects.closedControls.contains(id))
  }

  @Test("a host that ends before hostReady fails its exec with its status, naming the interpreter")
  func hostEndsBeforeReady() throws {
    var s = makeSupervisor()
    #expect(s.request(.exec(name: b("py"), host: Self.python), client: 3) == [])
    let id = try #require(s.resolve(b("py")))
    let pid = try #require(s.registry[id]?.phase.pid)
    s.controlClosed(id)
    s.childExited(pid: pid, status: .exited(2))
    let reply = try #require(s.replies(3).last)
    #expect(s.replies(3).count == 1)
    #expect(reply.failureCode == .templateFailed)
    #expect(
      reply.failureMessage
        == "cannot start a python host with /usr/bin/python3: it exited with status 2 before it served "
        + "(what it said is on the daemon's standard error, its log)")
    #expect(s.nextDeadline == nil)
    // Nobody learned its id: it is forgotten, and its name is free.
    #expect(s.registry[id] == nil)
    #expect(s.execHost(b("py"), Self.python, client: 4).count == 1)
  }

  @Test("a host silent past the template timeout is killed and its exec fails with why")
  func hostSilentPastTimeout() throws {
    var s = makeSupervisor { $0.templateTimeoutMilliseconds = 500 }
    #expect(s.request(.exec(name: b("py"), host: Self.python), client: 3) == [])
    let id = try #require(s.resolve(b("py")))
    let pid = try #require(s.registry[id]?.phase.pid)
    #expect(s.nextDeadline == s.effects.clock + 500)
    s.deadlinesPassed(now: s.effects.clock + 499)
    #expect(s.replies(3).isEmpty)
    s.deadlinesPassed(now: s.effects.clock + 500)
    #expect(s.effects.signals.map(\.pid) == [pid])
    #expect(s.effects.signals.map(\.signal) == [Signal.kill.rawValue])
    let reply = try #require(s.replies(3).last)
    #expect(reply.failureCode == .templateFailed)
    #expect(reply.failureMessage?.contains("it did not say it was ready within 0.5 s, and was killed") == true)
    // Its death, reaped later, answers nothing more.
    s.childExited(pid: pid, status: .signaled(9, coreDumped: false))
    #expect(s.replies(3).count == 1)
    #expect(s.registry[id] == nil)
  }

  @Test("an interpreter that cannot be run is a clear failure naming it, and no process object")
  func interpreterMissing() {
    var s = makeSupervisor()
    s.effects.failStartTemplate = .noSuchFileOrDirectory
    let r = s.execHost(b("py"), Self.python)
    #expect(r.map(\.failureCode) == [.templateFailed])
    #expect(
      r.first?.failureMessage
        == "cannot start a python host: /usr/bin/python3 is not an executable file (No such file or directory)")
    #expect(s.processCount == 0)
    #expect(s.effects.closed.count == 1)
  }

  @Test("a hosted worker's status is the one its host reports (childEnded)")
  func statusFromReport() throws {
    var s = makeSupervisor()
    let (host, worker, pidfd) = try Self.hostedWorker(&s)
    s.request(.wait(refs: [ref(worker)]), client: 2)
    s.handle(.childEnded(pid: 3001, status: .exited(7)), from: host)
    #expect(s.replies(2) == [.statuses([(id: worker, status: .exited(7))])])
    // Kept until the host's reaping is seen: the host reaps right after its report.
    #expect(!s.effects.closed.contains(pidfd))
    s.effects.reapedPIDFDs.insert(pidfd)
    s.handle(.hostChild(pid: 3002, pidfd: s.effects.makeFD(), from: host))
    #expect(s.effects.closed.contains(pidfd))
  }

  @Test("the daemon's own reaping of a pid its host reported is ignored, and so is a second report")
  func laterReapIgnored() throws {
    var s = makeSupervisor()
    let (host, worker, pidfd) = try Self.hostedWorker(&s)
    s.handle(.childEnded(pid: 3001, status: .exited(7)), from: host)
    s.handle(.childEnded(pid: 3001, status: .exited(8)), from: host)
    #expect(!s.effects.closedControls.contains(host))
    // The host died between its report and its reaping: the daemon reaps the zombie.
    s.handle(.childExited(pid: 3001, status: .signaled(9, coreDumped: false)))
    #expect(s.registry[worker]?.phase.exitStatus == .exited(7))
    #expect(s.effects.closed.contains(pidfd))
  }

  @Test("a pid reused by the daemon's own child after the host reaped is not ignored")
  func reusedPIDNotIgnored() throws {
    var s = makeSupervisor()
    let (host, _, pidfd) = try Self.hostedWorker(&s)
    s.handle(.childEnded(pid: 3001, status: .exited(7)), from: host)
    s.effects.reapedPIDFDs.insert(pidfd)
    let ignored = s.ignoresReap(of: 3001)
    #expect(!ignored)
    #expect(s.hosted[3001] == nil)
    #expect(s.effects.closed.contains(pidfd))
  }

  @Test("when the host dies first, the daemon's own reaping gives the worker's status")
  func hostDiesFirst() throws {
    var s = makeSupervisor()
    let (host, worker, pidfd) = try Self.hostedWorker(&s)
    let hostPID = try #require(s.registry[host]?.phase.pid)
    s.controlClosed(host)
    s.handle(.childExited(pid: hostPID, status: .signaled(9, coreDumped: false)))
    #expect(s.registry[worker]?.phase.isExited == false)
    // Re-parented to the daemon, the subreaper, which reaps it.
    s.handle(.childExited(pid: 3001, status: .exited(5)))
    #expect(s.registry[worker]?.phase.exitStatus == .exited(5))
    #expect(s.hosted[3001] == nil)
    #expect(s.effects.closed.contains(pidfd))
  }

  @Test("kill reaches a hosted worker through its pidfd, never by pid")
  func killThroughPIDFD() throws {
    var s = makeSupervisor()
    let (_, worker, pidfd) = try Self.hostedWorker(&s)
    #expect(s.request(.kill(signal: 15, refs: [ref(worker)])) == [.ok])
    #expect(s.effects.events.contains(.signalPIDFD(pidfd, signal: 15)))
    #expect(s.effects.signals.isEmpty)
  }

  @Test("a hosted worker reaped by its host answers no signal: kill fails with ESRCH, not another process")
  func killAfterReap() throws {
    var s = makeSupervisor()
    let (_, worker, pidfd) = try Self.hostedWorker(&s)
    s.effects.reapedPIDFDs.insert(pidfd)
    let r = s.request(.kill(signal: 15, refs: [ref(worker)]))
    #expect(r.map(\.failureCode) == [.badRequest])
    #expect(s.effects.signals.isEmpty)
  }

  @Test("a group signal reaches a hosted worker's group only while its pidfd says it has not ended")
  func groupSignalChecked() throws {
    var s = makeSupervisor()
    let (_, worker, pidfd) = try Self.hostedWorker(&s)
    #expect(s.request(.kill(signal: 15, refs: [ref(worker)], group: true)) == [.ok])
    #expect(s.effects.events.contains(.signalGroup(pid: 3001, signal: 15)))
    s.effects.endedPIDFDs.insert(pidfd)
    #expect(s.request(.kill(signal: 9, refs: [ref(worker)], group: true)) == [.ok])
    #expect(!s.effects.events.contains(.signalGroup(pid: 3001, signal: 9)))
  }

  @Test("childEnded for a pid the host never announced is a violation: its control socket closes")
  func unannouncedChildEnded() throws {
    var s = makeSupervisor()
    let (host, _, _) = try Self.hostedWorker(&s)
    s.handle(.childEnded(pid: 4444, status: .exited(0)), from: host)
    #expect(s.effects.closedControls.contains(host))
  }

  @Test("childEnded for another host's child is a violation too")
  func otherHostsChild() throws {
    var s = makeSupervisor()
    let (_, _, _) = try Self.hostedWorker(&s)
    let r = s.execHost(b("py2"), Self.python)
    guard case .created(let other, _, _) = r.first else { throw HarnessError("exec replied \(r)") }
    s.handle(.childEnded(pid: 3001, status: .exited(0)), from: other)
    #expect(s.effects.closedControls.contains(other))
    #expect(s.hosted[3001]?.state == .announced)
  }

  @Test("a host that announces a process not its child, or a pidfd of another pid, breaks the protocol")
  func announcedNotItsChild() throws {
    for (named, parent) in [(Int32(3001), Int32(7)), (Int32(3999), Int32(-1))] {
      var s = makeSupervisor()
      let r = s.execHost(b("py"), Self.python)
      guard case .created(let host, let hostPID, _) = r.first else { throw HarnessError("exec replied \(r)") }
      let pidfd = s.effects.makeFD()
      // Another user's worker, say, whose status the host would then report.
      s.effects.pidfdProcesses[pidfd] = (named, parent == -1 ? hostPID : parent)
      s.handle(.hostChild(pid: 3001, pidfd: pidfd, from: host))
      #expect(s.effects.closed.contains(pidfd))
      #expect(s.effects.closedControls.contains(host))
      #expect(s.hosted.isEmpty)
    }
  }

  @Test("a spawned child its host reaped before the daemon read its hostChild is taken: it announced itself")
  func announcedAfterReap() throws {
    var s = makeSupervisor()
    let r = s.execHost(b("py"), Self.python)
    guard case .created(let host, _, _) = r.first else { throw HarnessError("exec replied \(r)") }
    let spawn = SpawnRequest(
      from: ref(host), targets: [], spec: RunSpec(program: b("m:f"), entry: .call(quickExit: false)))
    #expect(s.request(.spawn(spawn), client: 2) == [])
    s.handle(.spawning(pid: 3001), from: host)
    let pidfd = s.effects.makeFD()
    // The fast worker ended and its host reported and reaped it: /proc no longer names it.
    s.effects.reapedPIDFDs.insert(pidfd)
    s.handle(.hostChild(pid: 3001, pidfd: pidfd, from: host))
    #expect(!s.effects.closedControls.contains(host))
    s.handle(.spawned(pid: 3001, errno: 0), from: host)
    s.handle(.childEnded(pid: 3001, status: .exited(7)), from: host)
    let statuses: [ForkctlWire.ExitStatus] = s.replies(2).flatMap { r -> [ForkctlWire.ExitStatus] in
      if case .statuses(let l) = r { return l.map(\.status) }
      return []
    }
    #expect(statuses == [.exited(7)])
    // /proc read while the host reaped it, and the pid already another's: it has ended, and
    // its announcement still vouches for it.
    s.request(.spawn(spawn), client: 3)
    s.handle(.spawning(pid: 3002), from: host)
    let raced = s.effects.makeFD()
    s.effects.endedPIDFDs.insert(raced)
    s.effects.pidfdProcesses[raced] = (3002, 1)
    s.handle(.hostChild(pid: 3002, pidfd: raced, from: host))
    #expect(!s.effects.closedControls.contains(host))
    // A reaped pidfd of a pid no process object of this host announced is still refused.
    let stray = s.effects.makeFD()
    s.effects.reapedPIDFDs.insert(stray)
    s.handle(.hostChild(pid: 4242, pidfd: stray, from: host))
    #expect(s.effects.closedControls.contains(host))
  }

  @Test("a child the kernel already gave the daemon (its host died) is not recorded, and no violation")
  func announcedAfterHostDied() throws {
    var s = makeSupervisor()
    let r = s.execHost(b("py"), Self.python)
    guard case .created(let host, let hostPID, _) = r.first else { throw HarnessError("exec replied \(r)") }
    let checked = s.effects.makeFD()
    s.effects.pidfdProcesses[checked] = (3001, hostPID)
    s.handle(.hostChild(pid: 3001, pidfd: checked, from: host))
    #expect(s.hosted[3001]?.state == .announced)
    let orphan = s.effects.makeFD()
    s.effects.pidfdProcesses[orphan] = (3002, daemonPID)
    s.handle(.hostChild(pid: 3002, pidfd: orphan, from: host))
    #expect(s.hosted[3002] == nil)
    #expect(s.effects.closed.contains(orphan))
    #expect(!s.effects.closedControls.contains(host))
  }

  @Test("a native template that announces a child breaks the protocol; the pidfd is closed")
  func nativeHostChild() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("native")
    let pidfd = s.effects.makeFD()
    s.handle(.hostChild(pid: 3001, pidfd: pidfd, from: t))
    #expect(s.effects.closed.contains(pidfd))
    #expect(s.effects.closedControls.contains(t))
    #expect(s.hosted.isEmpty)
  }

  @Test("a hosted pid is an unreaped child until its end is reported")
  func unreapedQuestion() throws {
    var s = makeSupervisor()
    let (host, _, _) = try Self.hostedWorker(&s)
    let before = s.isUnreapedChild(3001)
    #expect(before)
    s.handle(.childEnded(pid: 3001, status: .exited(7)), from: host)
    let after = s.isUnreapedChild(3001)
    #expect(!after)
  }

  @Test("eval goes to the host and is answered as a load is, adding no library")
  func evalAnswered() throws {
    var s = makeSupervisor()
    let r = s.execHost(b("py"), Self.python)
    guard case .created(let host, _, _) = r.first else { throw HarnessError("exec replied \(r)") }
    let spec = EvalSpec(code: b("import json"))
    #expect(s.request(.eval(ref: ref(host), spec), client: 1) == [])
    #expect(s.effects.commands(to: host).last == .eval(spec))
    let census = ThreadCensus(names: [b("forkctl/object")])
    s.handle(.loaded(census), from: host)
    #expect(s.replies(1).last == .loaded(census))
    #expect(s.registry[host]?.holdings.libraries == [])
    s.request(.eval(ref: ref(host), spec), client: 1)
    s.handle(.loadRefused(.loadFailed, message: b("NameError: x")), from: host)
    #expect(s.replies(1).last?.failureMessage == "cannot eval in process \(host) (py): NameError: x")
  }

  @Test("audit of a host's worker lists the modules from its forkctl-imports file after the mappings")
  func auditModules() throws {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    let r = s.execHost(b("py"), Self.python)
    guard case .created(let host, let hostPID, _) = r.first else { throw HarnessError("exec replied \(r)") }
    let image = b("/usr/bin/python3.11")
    s.effects.maps[hostPID] = MappedFiles(executable: image, paths: [image])
    s.request(.fork(ref: ref(host), name: []), client: 1)
    guard case .fork(let worker) = s.effects.commands(to: host).last else { throw HarnessError("no fork sent") }
    s.handle(.hostChild(pid: 3001, pidfd: s.effects.makeFD(), from: host))
    s.handle(.forked(pid: 3001), from: host)
    s.effects.maps[3001] = MappedFiles(executable: image, paths: [image, b("/lib/_json.so")])
    s.effects.imports[3001] = [b("json"), b("json.decoder")]
    #expect(
      s.request(.audit(ref: ref(worker))) == [.mappings([b("/lib/_json.so")], modules: [b("json"), b("json.decoder")])])
    // A native worker's audit never reads one.
    let (t, tpid) = try s.execTemplate()
    s.effects.maps[tpid] = MappedFiles(executable: image, paths: [image])
    let native = try s.forkWorker(from: t, pid: 3002)
    s.effects.maps[3002] = MappedFiles(executable: image, paths: [image])
    s.effects.imports[3002] = [b("never read")]
    #expect(s.request(.audit(ref: ref(native))) == [.mappings([], modules: [])])
  }

  @Test("a host's call needs no library loaded: the host imports the function's module")
  func callWithoutLoad() throws {
    var s = makeSupervisor()
    let (_, worker, _) = try Self.hostedWorker(&s)
    #expect(s.registry[worker]?.phase.run?.program == b("exit:7"))
  }
}
