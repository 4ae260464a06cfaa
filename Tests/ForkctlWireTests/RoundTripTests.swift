import Testing

@testable import ForkctlWire

// Every message case goes through encode -> bytes -> FrameDecoder -> decode and must come back
// equal, with the frame's descriptor count matching what the message says travels with it.

private let fullSpec = RunSpec(
  program: b("/usr/bin/env"), arguments: [b("-i"), notUTF8, [], b("a b")],
  environment: [b("PATH=/bin"), b("EMPTY="), b("=leading"), [0x4b, 0x3d] + notUTF8],
  keepControl: true, hasWorkingDirectory: true, waitForExit: true)

/// Every field away from its default, limits at both ends of the range, RLIM_INFINITY.
let fullAttributes = ProcessAttributes(
  umask: 0o077, nice: 19, ignoredSignals: 1 << 0 | 1 << 1 | 1 << 63, blockedSignals: 1 << 9 | 1 << 31,
  limits: [
    .init(resource: 7, soft: 200, hard: 4096), .init(resource: 4, soft: .max, hard: .max),
    .init(resource: 15, soft: 0, hard: 0),
  ],
  flags: [.noNewPrivileges, .newSessionWithControllingTerminal, .dropCapabilities],
  capabilities: .init(bounding: 1, permitted: 2, effective: 3, inheritable: .max, ambient: 1 << 40))

let requestSamples: [Request] = [
  .hello,
  .status,
  .new(name: []),
  .new(name: b("worker-1")),
  .new(name: notUTF8),
  .exec(name: []),
  .exec(name: b("tmpl")),
  .fork(ref: b("12"), name: []),
  .fork(ref: notUTF8, name: b("child")),
  .sendFDs(ref: b("3"), targets: [nil]),
  .sendFDs(ref: b("w"), targets: [nil, 0, 5, nil, WireLimits.maxTargetFD]),
  .sendArgs(ref: b("w"), arguments: []),
  .sendArgs(ref: b("w"), arguments: [[], b("x"), notUTF8, [0, 1, 0]]),
  .run(ref: b("w"), spec: RunSpec(program: b("true"))),
  .run(ref: b("w"), spec: RunSpec(program: notUTF8, arguments: [[]], environment: [])),
  .run(ref: b("w"), spec: fullSpec),
  .run(ref: b("w"), spec: RunSpec(program: b("sh"), keepControl: true)),
  .run(ref: b("w"), spec: RunSpec(program: b("sh"), hasWorkingDirectory: true)),
  .run(ref: b("w"), spec: RunSpec(program: b("sh"), waitForExit: true)),
  .run(ref: b("w"), spec: fullSpec, attributes: fullAttributes),
  .run(ref: b("w"), spec: RunSpec(program: b("sh")), attributes: ProcessAttributes(nice: -20)),
  .wait(refs: []),
  .wait(refs: [b("1"), b("name"), notUTF8]),
  .kill(signal: 9, refs: [b("1")]),
  .kill(signal: -1, refs: []),
  .kill(signal: Int32.max, refs: [b("a"), b("b")]),
  .list,
  .shutdown,
  .spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("true")))),
  .spawn(SpawnRequest(targets: [0, 1, 2, 7, nil], spec: RunSpec(program: b("sh"), hasWorkingDirectory: true))),
  .spawn(
    SpawnRequest(
      from: b("tpl"), name: notUTF8, targets: [0],
      spec: RunSpec(program: notUTF8, arguments: [[], b("a b")], environment: [b("A=b=c")], keepControl: true),
      detach: true)),
  .spawn(SpawnRequest(targets: [0], spec: RunSpec(program: b("true")), attributes: ProcessAttributes())),
  .spawn(
    SpawnRequest(
      targets: [0, 1, 2], spec: RunSpec(program: b("sh"), hasWorkingDirectory: true), detach: true,
      wantsPIDFD: true, attributes: fullAttributes)),
  .signal(1),
  .signal(64),
  .memory(refs: []),
  .memory(refs: [b("1"), notUTF8]),
  .audit(ref: b("w")),
  .exec(name: b("py"), host: HostSpec(language: .python, interpreter: b("/usr/bin/python3"))),
  .exec(name: [], host: HostSpec(language: .perl, interpreter: b("/p") + notUTF8, environment: [b("A=b"), []])),
  .eval(ref: b("py"), EvalSpec(code: b("import sys"), arguments: [[], notUTF8])),
  .eval(ref: notUTF8, EvalSpec(code: notUTF8, hasWorkingDirectory: true)),
]

let replySamples: [Reply] = [
  .ok,
  .created(id: 1, pid: 1),
  .created(id: UInt64.max, pid: Int32.min),
  .failure(.unknownProcess, message: []),
  .failure(.nameTaken, message: notUTF8),
  .failure(.protocolError, "protocol error"),
  .statuses([]),
  .statuses([
    (id: 1, status: .exited(0)), (id: 2, status: .exited(-1)), (id: 3, status: .exited(255)),
    (id: 4, status: .signaled(9, coreDumped: false)), (id: UInt64.max, status: .signaled(11, coreDumped: true)),
  ]),
  .listing([]),
  .listing([
    ProcessEntry(
      id: 1, name: b("default"), role: .defaultTemplate, parent: 0, pid: 100, state: .ready, status: nil,
      fdsSent: 0, argumentsSent: 0, program: []),
    ProcessEntry(
      id: 2, name: [], role: .forked, parent: 1, pid: 0, state: .starting, status: nil, fdsSent: 3,
      argumentsSent: 4, program: []),
    ProcessEntry(
      id: 3, name: notUTF8, role: .template, parent: 0, pid: 300, state: .running, status: nil,
      fdsSent: UInt32.max, argumentsSent: 7, program: notUTF8),
    ProcessEntry(
      id: 4, name: b("done"), role: .forked, parent: 3, pid: 400, state: .exited, status: .exited(3),
      fdsSent: 1, argumentsSent: 1, program: b("/bin/false")),
    ProcessEntry(
      id: 5, name: b("dumped"), role: .forked, parent: 3, pid: 500, state: .exited,
      status: .signaled(6, coreDumped: true), fdsSent: 0, argumentsSent: 0, program: b("abort")),
    ProcessEntry(
      id: 6, name: b("killed"), role: .forked, parent: 3, pid: 600, state: .exited,
      status: .signaled(15, coreDumped: false), fdsSent: 0, argumentsSent: 0, program: b("sleep")),
  ]),
  .welcome(version: 1, daemonPID: 4242),
  .status(
    DaemonStatus(
      pid: 4242, version: b("0.1.0"), protocolVersion: 1, startedAt: 1_795_880_401_123, uptime: 90_061_005,
      log: b("/run/user/1000/forkctl/sock.log"), starting: 1, ready: 2, running: 3, exited: 4, templates: 2,
      pools: 1, connections: 5)),
  .status(DaemonStatus(pid: 1, version: [], protocolVersion: 1, startedAt: 0, uptime: 0, log: b("stderr"))),
  .memory([]),
  .memory([
    MemoryEntry(
      id: 1, parent: 0, pid: 100,
      reading: .measured(MemoryFigures(resident: .max, proportional: 1, sharedDirty: 2, anonymous: 3))),
    MemoryEntry(id: 2, parent: 1, pid: 0, reading: .noProcess),
    MemoryEntry(id: UInt64.max, parent: 1, pid: Int32.max, reading: .unreadable(errno: 13)),
  ]),
  .mappings([]),
  .mappings([b("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"), notUTF8]),
  .mappings([], modules: [b("json"), notUTF8]),
]

let commandSamples: [Command] = [
  .fork(id: 0),
  .fork(id: UInt64.max),
  .fds(targets: []),
  .fds(targets: [nil]),
  .fds(targets: [nil, 0, 1, 2, WireLimits.maxTargetFD, nil]),
  .arguments([]),
  .arguments([[], notUTF8, [0]]),
  .run(RunSpec(program: b("true")), statusPipe: false),
  .run(RunSpec(program: b("true")), statusPipe: true),
  .run(fullSpec, statusPipe: true),
  .run(fullSpec, statusPipe: false),
  .run(RunSpec(program: b("x"), environment: []), statusPipe: false),
  .run(fullSpec, statusPipe: true, attributes: fullAttributes),
  .run(RunSpec(program: b("true")), statusPipe: false, attributes: ProcessAttributes()),
  .spawn(id: 1, targets: [], spec: RunSpec(program: b("true"))),
  .spawn(id: 2, targets: [0, nil], spec: RunSpec(program: b("sh"), hasWorkingDirectory: true)),
  .spawn(id: 3, targets: [0], spec: RunSpec(program: b("sh")), attributes: fullAttributes),
  .eval(EvalSpec(code: b("1"))),
  .eval(EvalSpec(code: b("print(1)"), arguments: [b("a")], hasWorkingDirectory: true)),
]

let reportSamples: [Report] = [
  .forked(pid: 1),
  .forked(pid: Int32.max),
  .refused(.internalError, message: []),
  .refused(.limitReached, message: notUTF8),
  .execFailed(errno: 2),
  .execFailed(errno: -1),
  .spawning(pid: 7),
  .hostChild(pid: Int32.max),
  .childEnded(pid: 1, status: .exited(-1)),
  .childEnded(pid: 9, status: .signaled(6, coreDumped: true)),
  .hostReady,
]

@Suite("Message round trips through bytes")
struct RoundTripTests {
  @Test("every Request case decodes back to itself", arguments: requestSamples)
  func requestRoundTrip(_ request: Request) throws {
    let frame = request.frame()
    let decoded = try throughDecoder(frame)
    #expect(decoded == frame)
    #expect(try Request(decoded) == request)
  }

  @Test("every Reply case decodes back to itself", arguments: replySamples)
  func replyRoundTrip(_ reply: Reply) throws {
    let frame = reply.frame()
    #expect(frame.fdCount == 0)
    let decoded = try throughDecoder(frame)
    #expect(decoded == frame)
    #expect(try Reply(decoded) == reply)
  }

  @Test("a created reply with its pidfd declares the descriptor itself, and decodes back")
  func createdWithPIDFD() throws {
    let reply = Reply.created(id: 5, pid: 6, withPIDFD: true)
    let frame = reply.frame()
    #expect(frame == Frame(type: .created, payload: Reply.created(id: 5, pid: 6).frame().payload, fdCount: 1))
    let decoded = try throughDecoder(frame)
    #expect(decoded == frame)
    #expect(try Reply(decoded) == reply)
    #expect(try Reply(decoded) != .created(id: 5, pid: 6))
  }

  @Test("a created reply carries one descriptor at most; no other reply carries any")
  func replyDescriptorLimits() {
    var two = Reply.created(id: 5, pid: 6, withPIDFD: true).frame()
    two.fdCount = 2
    #expect(throws: WireError.fdCountMismatch(type: MessageType.created.rawValue, declared: 0, received: 2)) {
      try Reply(two)
    }
    for reply in replySamples where reply.frame().type != .created {
      var f = reply.frame()
      f.fdCount = 1
      let mismatch = WireError.fdCountMismatch(type: f.type.rawValue, declared: 0, received: 1)
      #expect(throws: mismatch) { try Reply(f) }
    }
  }

  @Test("every Command case decodes back to itself", arguments: commandSamples)
  func commandRoundTrip(_ command: Command) throws {
    let frame = command.frame()
    let decoded = try throughDecoder(frame)
    #expect(decoded == frame)
    #expect(try Command(decoded) == command)
  }

  @Test("every Report case decodes back to itself", arguments: reportSamples)
  func reportRoundTrip(_ report: Report) throws {
    let frame = report.frame()
    // hostChild alone carries a descriptor, its pidfd.
    #expect(frame.fdCount == (frame.type == .hostChild ? 1 : 0))
    let decoded = try throughDecoder(frame)
    #expect(decoded == frame)
    #expect(try Report(decoded) == report)
  }

  @Test("descriptor counts of requests follow their content")
  func requestDescriptorCounts() {
    #expect(Request.sendFDs(ref: b("w"), targets: [nil, 4, nil]).frame().fdCount == 3)
    #expect(Request.run(ref: b("w"), spec: RunSpec(program: b("x"))).frame().fdCount == 0)
    #expect(Request.run(ref: b("w"), spec: RunSpec(program: b("x"), hasWorkingDirectory: true)).frame().fdCount == 1)
    #expect(Request.run(ref: b("w"), spec: RunSpec(program: b("x"), keepControl: true)).frame().fdCount == 0)
    for r in requestSamples {
      switch r {
      case .sendFDs, .run, .spawn: continue
      case .eval(_, let spec): #expect(r.frame().fdCount == (spec.hasWorkingDirectory ? 1 : 0), "\(r)")
      default: #expect(r.frame().fdCount == 0, "\(r)")
      }
    }
  }

  @Test("descriptor counts of commands: fork 1, fds per target, run cwd plus status pipe")
  func commandDescriptorCounts() {
    #expect(Command.fork(id: 9).frame().fdCount == 1)
    #expect(Command.fds(targets: [nil, 3]).frame().fdCount == 2)
    #expect(Command.arguments([b("a")]).frame().fdCount == 0)
    #expect(Command.run(RunSpec(program: b("x")), statusPipe: false).frame().fdCount == 0)
    #expect(Command.run(RunSpec(program: b("x")), statusPipe: true).frame().fdCount == 1)
    #expect(Command.run(RunSpec(program: b("x"), hasWorkingDirectory: true), statusPipe: false).frame().fdCount == 1)
    #expect(Command.run(RunSpec(program: b("x"), hasWorkingDirectory: true), statusPipe: true).frame().fdCount == 2)
  }

  @Test("message types land in their documented ranges")
  func messageTypeRanges() {
    for r in requestSamples { #expect((0x01...0x3f).contains(r.frame().type.rawValue)) }
    for r in replySamples { #expect((0x40...0x7f).contains(r.frame().type.rawValue)) }
    for c in commandSamples { #expect((0x80...0xbf).contains(c.frame().type.rawValue)) }
    for r in reportSamples { #expect((0xc0...0xff).contains(r.frame().type.rawValue)) }
  }

  @Test("all samples in one stream decode in order with their descriptors")
  func wholeConversationInOneStream() throws {
    let frames =
      requestSamples.map { $0.frame() } + replySamples.map { $0.frame() } + commandSamples.map { $0.frame() }
      + reportSamples.map { $0.frame() }
    var decoder = FrameDecoder()
    for f in frames { decoder.append(f.encoded(), fdCount: f.fdCount) }
    var out: [Frame] = []
    while let f = try decoder.next() { out.append(f) }
    #expect(out == frames)
    #expect(decoder.isAtFrameBoundary)
    #expect(decoder.unclaimedFDs == 0)
  }

  @Test("shell status is the exit code or 128 plus the signal")
  func shellStatus() {
    #expect(ExitStatus.exited(0).shellStatus == 0)
    #expect(ExitStatus.exited(42).shellStatus == 42)
    #expect(ExitStatus.signaled(9, coreDumped: false).shellStatus == 137)
    #expect(ExitStatus.signaled(11, coreDumped: true).shellStatus == 139)
  }
}
