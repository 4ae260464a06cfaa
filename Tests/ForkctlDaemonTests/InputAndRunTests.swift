import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: send-fd, send-arg and run")
struct InputAndRunTests {
  // MARK: Refusals

  @Test(
    "send-fd, send-arg, run, fork to an unknown id or name fail with unknownProcess",
    arguments: ["99", "nope", "default"])
  func unknownTargets(_ name: String) throws {
    var s = makeSupervisor()
    _ = try s.execTemplate("t")
    let one = s.fds(1)
    #expect(s.request(.sendFDs(ref: b(name), targets: [nil]), fds: one).map(\.failureCode) == [.unknownProcess])
    #expect(s.effects.closed == one)
    #expect(s.request(.sendArgs(ref: b(name), arguments: [b("a")])).map(\.failureCode) == [.unknownProcess])
    let cwd = s.fds(1)
    let spec = RunSpec(program: b("true"), hasWorkingDirectory: true)
    #expect(s.request(.run(ref: b(name), spec: spec), fds: cwd).map(\.failureCode) == [.unknownProcess])
    #expect(s.effects.closed == one + cwd)
    #expect(s.request(.fork(ref: b(name), name: [])).map(\.failureCode) == [.unknownProcess])
    #expect(s.request(.wait(refs: [b(name)])).map(\.failureCode) == [.unknownProcess])
    #expect(s.request(.kill(signal: 15, refs: [b(name)])).map(\.failureCode) == [.unknownProcess])
    #expect(s.effects.sent.isEmpty)
  }

  @Test("send-fd, send-arg and run to the default template fail with wrongState", arguments: ["default", "1"])
  func defaultTemplateTakesNoInput(_ name: String) throws {
    var s = makeSupervisor()
    _ = try s.newWorker(pid: 2001)
    let one = s.fds(1)
    #expect(s.request(.sendFDs(ref: b(name), targets: [nil]), fds: one).map(\.failureCode) == [.wrongState])
    #expect(s.effects.closed == one)
    #expect(s.request(.sendArgs(ref: b(name), arguments: [b("a")])).map(\.failureCode) == [.wrongState])
    let cwd = s.fds(1)
    let spec = RunSpec(program: b("true"), hasWorkingDirectory: true)
    #expect(s.request(.run(ref: b(name), spec: spec), fds: cwd).map(\.failureCode) == [.wrongState])
    #expect(s.effects.closed == one + cwd)
    #expect(s.effects.commands(to: 1) == [.fork(id: 2)])
    #expect(s.info(1)?.state == .ready)
    // It can still be forked explicitly.
    #expect(s.request(.fork(ref: b(name), name: [])) == [])
  }

  @Test("a second run of the same process fails with wrongState and closes its descriptors")
  func runTwice() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.run(ref: ref(w), spec: RunSpec(program: b("sleep")))) == [])
    let cwd = s.fds(1)
    let r = s.request(.run(ref: ref(w), spec: RunSpec(program: b("true"), hasWorkingDirectory: true)), fds: cwd)
    #expect(r.map(\.failureCode) == [.wrongState])
    #expect(s.effects.closed == cwd)
    #expect(s.effects.commands(to: w).count == 1)
    #expect(s.info(w)?.program == b("sleep"))
  }

  @Test("a running process cannot be forked")
  func forkOfRunning() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("sleep"))))
    s.controlClosed(w)
    #expect(s.request(.fork(ref: ref(w), name: [])).map(\.failureCode) == [.wrongState])
    #expect(s.effects.commands(to: w).count == 1)
  }

  @Test("an exited process takes no input and cannot be forked or run")
  func exitedTakesNothing() throws {
    var s = makeSupervisor()
    let t = try s.execTemplate("t")
    s.childExited(pid: t.pid, status: .exited(0))
    s.controlClosed(t.id)
    let one = s.fds(1)
    #expect(s.request(.sendFDs(ref: b("t"), targets: [nil]), fds: one).map(\.failureCode) == [.wrongState])
    #expect(s.effects.closed == one)
    #expect(s.request(.sendArgs(ref: b("t"), arguments: [])).map(\.failureCode) == [.wrongState])
    #expect(s.request(.run(ref: b("t"), spec: RunSpec(program: b("x")))).map(\.failureCode) == [.wrongState])
    #expect(s.request(.fork(ref: b("t"), name: [])).map(\.failureCode) == [.wrongState])
    #expect(s.effects.sent.isEmpty)
  }

  @Test("send-arg with a NUL byte is refused before run")
  func sendArgNUL() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [[0x61, 0]])).map(\.failureCode) == [.badRequest])
    #expect(s.info(w)?.argumentsSent == 0)
    #expect(s.effects.commands(to: w).isEmpty)
  }

  // MARK: Input accepted

  @Test("send-fd and send-arg forward their command and count what was sent")
  func inputForwarded() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    let three = s.fds(3)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil, 9, nil]), fds: three) == [.ok])
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [b("-v"), []])) == [.ok])
    #expect(
      s.effects.sent[w] == [
        RecordingEffects.Sent(command: .fds(targets: [nil, 9, nil]), fds: three),
        RecordingEffects.Sent(command: .arguments([b("-v"), []]), fds: []),
      ])
    #expect(s.info(w)?.fdsSent == 3)
    #expect(s.info(w)?.argumentsSent == 2)
    #expect(s.effects.closed.isEmpty)
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
  }

  // MARK: Run outcomes

  @Test("run without keep-control replies ok only once the control socket closes")
  func runOKAfterControlClosed() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001, client: 1)
    let spec = RunSpec(program: b("true"), arguments: [b("x")])
    #expect(s.request(.run(ref: ref(w), spec: spec), client: 2) == [])
    #expect(s.effects.sent[w]?.last == RecordingEffects.Sent(command: .run(spec, statusPipe: false), fds: []))
    #expect(s.effects.pipes.isEmpty)
    #expect(s.info(w)?.state == .running)
    #expect(s.info(w)?.program == b("true"))
    s.controlClosed(w)
    #expect(s.replies(2) == [.ok])
    #expect(s.effects.closedControls == [w])
    // Closing again changes nothing.
    s.controlClosed(w)
    #expect(s.replies(2) == [.ok])
  }

  @Test("run with a working directory passes its descriptor along with the run command")
  func runWithWorkingDirectory() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    let cwd = s.fds(1)
    let spec = RunSpec(program: b("ls"), hasWorkingDirectory: true)
    s.request(.run(ref: ref(w), spec: spec), fds: cwd)
    #expect(s.effects.sent[w]?.last == RecordingEffects.Sent(command: .run(spec, statusPipe: false), fds: cwd))
    #expect(s.effects.closed.isEmpty)
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
  }

  @Test(
    "an exec failure report maps ENOENT, EACCES and other errnos to their error codes",
    arguments: [(Int32(2), ErrorCode.programNotFound), (13, .programNotExecutable), (8, .execFailed), (7, .execFailed)])
  func execFailedReport(_ errno: Int32, _ code: ErrorCode) throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("nonesuch"))), client: 2)
    s.handle(.execFailed(errno: errno), from: w)
    #expect(s.replies(2).map(\.failureCode) == [code])
    #expect(s.replies(2).first?.failureMessage?.contains("nonesuch") == true)
    // The control socket closing afterwards does not add an ok.
    s.controlClosed(w)
    #expect(s.replies(2).count == 1)
  }

  @Test("run with keep-control makes a status pipe and replies ok when it reports success")
  func runKeepControl() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    let cwd = s.fds(1)
    let spec = RunSpec(program: b("server"), keepControl: true, hasWorkingDirectory: true)
    #expect(s.request(.run(ref: ref(w), spec: spec), fds: cwd, client: 2) == [])
    let pipe = try #require(s.effects.pipes.first)
    #expect(s.effects.watchedStatusPipes[w] == pipe.read)
    #expect(
      s.effects.sent[w]?.last == RecordingEffects.Sent(command: .run(spec, statusPipe: true), fds: cwd + [pipe.write]))
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
    s.statusPipeResult(w, failure: nil)
    #expect(s.replies(2) == [.ok])
    #expect(s.effects.closedControls.isEmpty)
    #expect(s.info(w)?.state == .running)
  }

  @Test("run with keep-control reports an exec failure from the status pipe")
  func runKeepControlFailure() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("x"), keepControl: true)), client: 2)
    s.statusPipeResult(w, failure: .permissionDenied)
    #expect(s.replies(2).map(\.failureCode) == [.programNotExecutable])
  }

  @Test("a program that kept its control socket still takes strings (NUL allowed) and descriptors")
  func keepControlTakesInput() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("x"), keepControl: true)), client: 2)
    // Not before exec is known to have succeeded.
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [b("a")]), client: 3).map(\.failureCode) == [.wrongState])
    s.statusPipeResult(w, failure: nil)
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [[0x61, 0, 0x62]]), client: 3) == [.ok])
    let one = s.fds(1)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil]), fds: one, client: 3) == [.ok])
    #expect(s.effects.commands(to: w).suffix(2) == [.arguments([[0x61, 0, 0x62]]), .fds(targets: [nil])])
    // Once the program closes it, input is refused.
    s.controlClosed(w)
    #expect(s.request(.sendArgs(ref: ref(w), arguments: [b("a")]), client: 3).map(\.failureCode) == [.wrongState])
    let two = s.fds(1)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil]), fds: two, client: 3).map(\.failureCode) == [.wrongState])
    #expect(s.effects.closed == two)
    #expect(s.replies(2) == [.ok])
  }

  @Test("a pipe that cannot be made fails the run with internalError and closes its descriptors")
  func pipeFailure() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.effects.failPipe = .tooManyOpenFiles
    let cwd = s.fds(1)
    let spec = RunSpec(program: b("x"), keepControl: true, hasWorkingDirectory: true)
    #expect(s.request(.run(ref: ref(w), spec: spec), fds: cwd).map(\.failureCode) == [.internalError])
    #expect(s.effects.closed == cwd)
    #expect(s.info(w)?.state == .ready)
    #expect(s.request(.run(ref: ref(w), spec: RunSpec(program: b("x")))) == [])
  }

  @Test("run --wait replies with the exit status once the program has exited")
  func runWaitForExit() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("false"), waitForExit: true)), client: 2)
    s.controlClosed(w)
    #expect(s.replies(2).isEmpty)
    s.childExited(pid: 2001, status: .exited(1))
    #expect(s.replies(2) == [.statuses([(id: w, status: .exited(1))])])
  }

  @Test("run --wait with keep-control replies with the status after the pipe said exec worked")
  func runWaitKeepControl() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("x"), keepControl: true, waitForExit: true)), client: 2)
    s.statusPipeResult(w, failure: nil)
    #expect(s.replies(2).isEmpty)
    s.childExited(pid: 2001, status: .signaled(11, coreDumped: true))
    #expect(s.replies(2) == [.statuses([(id: w, status: .signaled(11, coreDumped: true))])])
  }

  @Test("run is answered when the child is reaped before its control socket's end of file")
  func runReapedBeforeControlClosed() throws {
    // The event loop can see SIGCHLD before the end of file of the control socket (both
    // ready in one epoll batch, the signalfd first).
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("true"))), client: 2)
    s.childExited(pid: 2001, status: .exited(0))
    s.controlClosed(w)
    #expect(s.replies(2) == [.ok])
  }

  @Test("run --wait is answered when the child is reaped before its control socket's end of file")
  func runWaitReapedBeforeControlClosed() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("true"), waitForExit: true)), client: 2)
    s.childExited(pid: 2001, status: .exited(3))
    s.controlClosed(w)
    #expect(s.replies(2) == [.statuses([(id: w, status: .exited(3))])])
  }

  @Test("a run whose client left is carried out but answers nobody")
  func runClientGone() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("x"), waitForExit: true)), client: 2)
    s.clientGone(2)
    s.controlClosed(w)
    s.childExited(pid: 2001, status: .exited(0))
    #expect(s.replies(2).isEmpty)
    #expect(s.info(w)?.state == .exited)
  }
}

@Suite("Supervisor: limits of a long-lived worker")
struct LongLivedWorkerTests {
  @Test(
    """
    a program that kept its control socket takes descriptors and strings for ever: only what \
    is still queued to it counts against the limits
    """
  )
  func onlyQueuedInputCounts() throws {
    var s = makeSupervisor {
      $0.maxFDsPerProcess = 4
      $0.maxArgumentBytesPerProcess = 100
      $0.maxArgumentsPerProcess = 3
    }
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("x"), keepControl: true)), client: 2)
    s.statusPipeResult(w, failure: nil)
    // Each hand-off is written out at once (nothing queued): far more than the limits, in all.
    for _ in 0..<20 {
      #expect(s.request(.sendFDs(ref: ref(w), targets: [nil, nil]), fds: s.fds(2), client: 3) == [.ok])
      #expect(s.request(.sendArgs(ref: ref(w), arguments: [b(String(repeating: "x", count: 40))]), client: 3) == [.ok])
    }
    #expect(s.info(w)?.fdsSent == 40, "list still shows everything sent")
    // A program that does not read: what is queued counts.
    s.effects.queuedForControl[w] = (fds: 3, bytes: 90)
    let two = s.fds(2)
    #expect(
      s.request(.sendFDs(ref: ref(w), targets: [nil, nil]), fds: two, client: 3).map(\.failureCode) == [.limitReached])
    #expect(s.effects.closed == two)
    #expect(
      s.request(.sendArgs(ref: ref(w), arguments: [b("0123456789x")]), client: 3).map(\.failureCode) == [.limitReached])
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil]), fds: s.fds(1), client: 3) == [.ok])
  }

  @Test("an unrun process object counts everything it was sent: it holds it until it runs")
  func unrunHoldsEverything() throws {
    var s = makeSupervisor { $0.maxFDsPerProcess = 4 }
    let w = try s.newWorker(pid: 2001)
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil, nil]), fds: s.fds(2), client: 3) == [.ok])
    #expect(s.request(.sendFDs(ref: ref(w), targets: [nil, nil]), fds: s.fds(2), client: 3) == [.ok])
    #expect(
      s.request(.sendFDs(ref: ref(w), targets: [nil]), fds: s.fds(1), client: 3).map(\.failureCode) == [.limitReached])
  }
}
