import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

// The caller's process attributes travel from the request to the command that makes the
// process, and a step before exec that fails is blamed on that step (issue 10, items 2, 3).

private let attributes = ProcessAttributes(
  umask: 0o077, nice: 10, ignoredSignals: 1 << 0, blockedSignals: 1 << 9,
  limits: [.init(resource: 7, soft: 200, hard: 200)])

@Suite("Supervisor: process attributes")
struct AttributesTests {
  @Test("a spawn's attributes reach the template's spawn command, or the run command with keep-control")
  func passedOn() throws {
    var s = makeSupervisor()
    let spec = RunSpec(program: b("prog"))
    s.request(.spawn(SpawnRequest(targets: [], spec: spec, attributes: attributes)))
    guard case .spawn(_, _, _, let sent)? = s.effects.commands(to: s.defaultTemplate!).last else {
      throw HarnessError("no spawn command")
    }
    #expect(sent == attributes)
    var keep = spec
    keep.keepControl = true
    s.request(.spawn(SpawnRequest(targets: [], spec: keep, attributes: attributes)))
    guard case .fork(let child)? = s.effects.commands(to: s.defaultTemplate!).last else {
      throw HarnessError("no fork command")
    }
    guard case .run(_, _, let sentToChild)? = s.effects.commands(to: child).last else {
      throw HarnessError("no run command")
    }
    #expect(sentToChild == attributes)
  }

  @Test("a run request's attributes reach the run command")
  func runPassedOn() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("prog")), attributes: attributes), client: 2)
    guard case .run(_, _, let sent)? = s.effects.commands(to: w).last else { throw HarnessError("no run command") }
    #expect(sent == attributes)
  }

  @Test(
    "an attribute the worker cannot apply is forkctl's failure (templateFailed), named, not the program's",
    arguments: [
      (
        ExecFailure(step: .limit(7), errno: Errno.invalidArgument.rawValue),
        "cannot apply the caller's RLIMIT_NOFILE: Invalid argument"
      ),
      (
        ExecFailure(step: .nice, errno: Errno.invalidArgument.rawValue),
        "cannot apply the caller's nice value: Invalid argument"
      ),
      (
        ExecFailure(step: .session, errno: Errno.notPermitted.rawValue),
        "cannot start a new session: Operation not permitted"
      ),
    ])
  func stepFailure(_ failure: ExecFailure, _ message: String) throws {
    var s = makeSupervisor()
    _ = try s.startSpawn()
    s.handle(.spawned(pid: 500, errno: failure.rawValue), from: s.defaultTemplate!)
    #expect(s.replies(1).map(\.failureCode) == [.templateFailed])
    #expect(s.replies(1).first?.failureMessage == message)
  }

  @Test("an exec failure without a step is reported as before")
  func bareErrno() throws {
    var s = makeSupervisor()
    _ = try s.startSpawn()
    s.handle(.spawned(pid: 500, errno: Errno.noSuchFileOrDirectory.rawValue), from: s.defaultTemplate!)
    #expect(s.replies(1).map(\.failureCode) == [.programNotFound])
    #expect(s.replies(1).first?.failureMessage == "prog: No such file or directory")
  }
}
