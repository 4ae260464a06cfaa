/// Every frame type. Ranges: 0x01-0x3f client requests, 0x40-0x7f daemon replies,
/// 0x80-0xbf daemon commands to a process object, 0xc0-0xff process object reports.
public enum MessageType: UInt8, Sendable, CaseIterable {
  case hello = 0x01
  case new = 0x02
  case exec = 0x03
  case fork = 0x04
  case sendFDs = 0x05
  case sendArgs = 0x06
  case run = 0x07
  case wait = 0x08
  case kill = 0x09
  case list = 0x0a
  case shutdown = 0x0b
  case spawn = 0x0c
  case signal = 0x0d

  case ok = 0x40
  case created = 0x41
  case failure = 0x42
  case statuses = 0x43
  case listing = 0x44
  case welcome = 0x45

  case commandFork = 0x80
  case commandFDs = 0x81
  case commandArgs = 0x82
  case commandRun = 0x83
  case commandSpawn = 0x84

  case forked = 0xc0
  case refused = 0xc1
  case execFailed = 0xc2
  case spawned = 0xc3
}

/// How a process ended, as waitid(2) tells it.
public enum ExitStatus: Equatable, Hashable, Sendable {
  case exited(Int32)
  case signaled(Int32, coreDumped: Bool)

  /// The status as a shell reports it in `$?`: the exit code, or 128 plus the signal.
  public var shellStatus: Int32 {
    switch self {
    case .exited(let code): return code
    case .signaled(let sig, _): return 128 + sig
    }
  }

  func write(to w: inout PayloadWriter) {
    switch self {
    case .exited(let code):
      w.u8(1)
      w.i32(code)
    case .signaled(let sig, let core):
      w.u8(core ? 3 : 2)
      w.i32(sig)
    }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> ExitStatus? {
    let tag = try r.u8()
    let value = try r.i32()
    switch tag {
    case 0: return nil
    case 1: return .exited(value)
    case 2: return .signaled(value, coreDumped: false)
    case 3: return .signaled(value, coreDumped: true)
    default: throw .invalid("exit status tag \(tag)")
    }
  }
}

/// Why the daemon refused a request (the `failure` reply).
public enum ErrorCode: UInt16, Sendable, Equatable {
  case unknownProcess = 1
  case wrongState = 2
  case badRequest = 3
  case limitReached = 4
  case templateFailed = 5
  case programNotFound = 6
  case programNotExecutable = 7
  case execFailed = 8
  case permissionDenied = 9
  case internalError = 10
  case protocolError = 11
  case shuttingDown = 12
  case nameTaken = 13
}

/// What `run` asks a process object to do.
public struct RunSpec: Equatable, Sendable {
  /// The program, found through PATH (of `environment` when given) unless it has a '/'.
  public var program: [UInt8]
  /// Arguments after the strings sent earlier with send-arg.
  public var arguments: [[UInt8]]
  /// The complete environment ("K=V" strings); nil keeps the process's own.
  public var environment: [[UInt8]]?
  /// Keep the control socket in the program, announced in FORKCTL_CONTROL_FD.
  public var keepControl: Bool
  /// A directory descriptor to change to comes with the frame.
  public var hasWorkingDirectory: Bool
  /// Reply only when the program has ended, with its status.
  public var waitForExit: Bool

  public init(
    program: [UInt8], arguments: [[UInt8]] = [], environment: [[UInt8]]? = nil,
    keepControl: Bool = false, hasWorkingDirectory: Bool = false, waitForExit: Bool = false
  ) {
    self.program = program
    self.arguments = arguments
    self.environment = environment
    self.keepControl = keepControl
    self.hasWorkingDirectory = hasWorkingDirectory
    self.waitForExit = waitForExit
  }

  static let keepControlFlag: UInt32 = 1
  static let workingDirectoryFlag: UInt32 = 2
  static let environmentFlag: UInt32 = 4
  static let waitFlag: UInt32 = 8
  static let statusPipeFlag: UInt32 = 16

  func write(to w: inout PayloadWriter, statusPipe: Bool = false) {
    var flags: UInt32 = 0
    if keepControl { flags |= Self.keepControlFlag }
    if hasWorkingDirectory { flags |= Self.workingDirectoryFlag }
    if environment != nil { flags |= Self.environmentFlag }
    if waitForExit { flags |= Self.waitFlag }
    if statusPipe { flags |= Self.statusPipeFlag }
    w.u32(flags)
    w.string(program)
    w.list(arguments)
    if let environment { w.list(environment) }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> (RunSpec, statusPipe: Bool) {
    let flags = try r.u32()
    let known = keepControlFlag | workingDirectoryFlag | environmentFlag | waitFlag | statusPipeFlag
    if flags & ~known != 0 { throw .invalid("run flags \(flags)") }
    let program = try r.string()
    if program.isEmpty { throw .invalid("empty program name") }
    if program.contains(0) { throw .invalid("program name holds a NUL byte") }
    let arguments = try r.list()
    let environment = flags & environmentFlag != 0 ? try r.list() : nil
    for s in arguments where s.contains(0) { throw .invalid("argument holds a NUL byte") }
    for s in environment ?? [] where s.contains(0) || !s.contains(UInt8(ascii: "=")) {
      throw .invalid("environment string is not NAME=VALUE without NUL")
    }
    let spec = RunSpec(
      program: program, arguments: arguments, environment: environment,
      keepControl: flags & keepControlFlag != 0,
      hasWorkingDirectory: flags & workingDirectoryFlag != 0,
      waitForExit: flags & waitFlag != 0)
    return (spec, flags & statusPipeFlag != 0)
  }

  /// Descriptors that travel with a run frame.
  var fdCount: Int { hasWorkingDirectory ? 1 : 0 }
}

/// Where a descriptor sent with send-fd lands in the worker: the next free slot in order,
/// or a fixed number.
public typealias FDTarget = Int32?

private func writeTargets(_ targets: [FDTarget], to w: inout PayloadWriter) {
  w.u32(UInt32(targets.count))
  for t in targets { w.i32(t ?? -1) }
}

private func readTargets(_ r: inout PayloadReader) throws(WireError) -> [FDTarget] {
  let n = try r.count(itemSize: 4)
  var out = [FDTarget]()
  for _ in 0..<n {
    let t = try r.i32()
    if t < -1 || t > maxTargetFD { throw .invalid("descriptor target \(t)") }
    out.append(t == -1 ? nil : t)
  }
  return out
}

/// Highest descriptor number a worker may be given.
public let maxTargetFD: Int32 = 1023

private func checkFDs(_ frame: Frame, _ expected: Int) throws(WireError) {
  if frame.fdCount != expected {
    throw .fdCountMismatch(type: frame.type.rawValue, declared: expected, received: frame.fdCount)
  }
}

/// A client's request to the daemon. A process object is named by its decimal id or its name.
public enum Request: Equatable, Sendable {
  case hello
  case new(name: [UInt8])
  case exec(name: [UInt8])
  case fork(ref: [UInt8], name: [UInt8])
  case sendFDs(ref: [UInt8], targets: [FDTarget])
  case sendArgs(ref: [UInt8], arguments: [[UInt8]])
  case run(ref: [UInt8], spec: RunSpec)
  case wait(refs: [[UInt8]])
  case kill(signal: Int32, refs: [[UInt8]])
  case list
  case shutdown
  /// Fork from `from` (empty: the default template), hand the new process the descriptors
  /// (one per target, then the working directory if the spec has one) and run `spec`, all
  /// in one request. Replies `created` once the program runs, then `statuses` when it ends.
  case spawn(SpawnRequest)
  /// Forward a signal to the process this connection is attached to (by spawn or run with
  /// waitForExit). No reply; ignored when nothing is attached.
  case signal(Int32)

  public func frame() -> Frame {
    var w = PayloadWriter()
    let type: MessageType
    var fds = 0
    switch self {
    case .hello:
      type = .hello
      w.u8(WireLimits.version)
    case .new(let name):
      type = .new
      w.string(name)
    case .exec(let name):
      type = .exec
      w.string(name)
    case .fork(let ref, let name):
      type = .fork
      w.string(ref)
      w.string(name)
    case .sendFDs(let ref, let targets):
      type = .sendFDs
      w.string(ref)
      writeTargets(targets, to: &w)
      fds = targets.count
    case .sendArgs(let ref, let arguments):
      type = .sendArgs
      w.string(ref)
      w.list(arguments)
    case .run(let ref, let spec):
      type = .run
      w.string(ref)
      spec.write(to: &w)
      fds = spec.fdCount
    case .wait(let refs):
      type = .wait
      w.list(refs)
    case .kill(let signal, let refs):
      type = .kill
      w.i32(signal)
      w.list(refs)
    case .list:
      type = .list
    case .shutdown:
      type = .shutdown
    case .spawn(let s):
      type = .spawn
      w.string(s.from)
      w.string(s.name)
      w.u32((s.detach ? SpawnRequest.detachFlag : 0) | (s.wantsPIDFD ? SpawnRequest.pidfdFlag : 0))
      writeTargets(s.targets, to: &w)
      s.spec.write(to: &w)
      fds = s.fdCount
    case .signal(let signal):
      type = .signal
      w.i32(signal)
    }
    return Frame(type: type, payload: w.bytes, fdCount: fds)
  }

  public init(_ frame: Frame) throws(WireError) {
    var r = PayloadReader(frame.payload)
    switch frame.type {
    case .hello:
      try checkFDs(frame, 0)
      _ = try r.u8()
      self = .hello
    case .new:
      try checkFDs(frame, 0)
      self = .new(name: try r.string())
    case .exec:
      try checkFDs(frame, 0)
      self = .exec(name: try r.string())
    case .fork:
      try checkFDs(frame, 0)
      self = .fork(ref: try r.string(), name: try r.string())
    case .sendFDs:
      let ref = try r.string()
      let targets = try readTargets(&r)
      if targets.isEmpty { throw .invalid("send-fd without descriptors") }
      try checkFDs(frame, targets.count)
      self = .sendFDs(ref: ref, targets: targets)
    case .sendArgs:
      try checkFDs(frame, 0)
      self = .sendArgs(ref: try r.string(), arguments: try r.list())
    case .run:
      let ref = try r.string()
      let (spec, statusPipe) = try RunSpec.read(&r)
      if statusPipe { throw .invalid("run flags") }
      try checkFDs(frame, spec.fdCount)
      self = .run(ref: ref, spec: spec)
    case .wait:
      try checkFDs(frame, 0)
      self = .wait(refs: try r.list())
    case .kill:
      try checkFDs(frame, 0)
      self = .kill(signal: try r.i32(), refs: try r.list())
    case .list:
      try checkFDs(frame, 0)
      self = .list
    case .shutdown:
      try checkFDs(frame, 0)
      self = .shutdown
    case .spawn:
      let from = try r.string()
      let name = try r.string()
      let flags = try r.u32()
      if flags & ~(SpawnRequest.detachFlag | SpawnRequest.pidfdFlag) != 0 { throw .invalid("spawn flags \(flags)") }
      let targets = try readTargets(&r)
      let (spec, statusPipe) = try RunSpec.read(&r)
      if statusPipe || spec.waitForExit { throw .invalid("run flags") }
      let request = SpawnRequest(
        from: from, name: name, targets: targets, spec: spec, detach: flags & SpawnRequest.detachFlag != 0,
        wantsPIDFD: flags & SpawnRequest.pidfdFlag != 0)
      try checkFDs(frame, request.fdCount)
      self = .spawn(request)
    case .signal:
      try checkFDs(frame, 0)
      let signal = try r.i32()
      if signal < 1 || signal > 64 { throw .invalid("signal \(signal)") }
      self = .signal(signal)
    default:
      throw .unexpected(frame.type)
    }
    try r.finish()
  }
}

/// What `spawn` asks for: a fork, descriptors, and a run, in one request.
public struct SpawnRequest: Equatable, Sendable {
  /// The process object to fork; empty for the default template.
  public var from: [UInt8]
  /// The new process object's name; empty for none.
  public var name: [UInt8]
  /// Where each descriptor sent with the request lands (in order).
  public var targets: [FDTarget]
  /// What to run; `waitForExit` is implied and must be false on the wire.
  public var spec: RunSpec
  /// The program outlives this connection. Without it, when the connection closes before
  /// the program ends, the daemon sends it SIGTERM, then SIGKILL after a grace period.
  public var detach: Bool
  /// The `created` reply carries a pidfd of the program (pidfd_open(2)), owned by the
  /// client, when the daemon's kernel has them.
  public var wantsPIDFD: Bool

  public init(
    from: [UInt8] = [], name: [UInt8] = [], targets: [FDTarget], spec: RunSpec, detach: Bool = false,
    wantsPIDFD: Bool = false
  ) {
    self.from = from
    self.name = name
    self.targets = targets
    self.spec = spec
    self.detach = detach
    self.wantsPIDFD = wantsPIDFD
  }

  static let detachFlag: UInt32 = 1
  static let pidfdFlag: UInt32 = 2

  /// Descriptors that travel with the request: one per target, then the working directory.
  public var fdCount: Int { targets.count + spec.fdCount }
}

/// One process object as `list` reports it.
public struct ProcessInfo: Equatable, Sendable {
  public enum Role: UInt8, Sendable { case template = 0, defaultTemplate = 1, forked = 2 }
  public enum State: UInt8, Sendable { case starting = 0, ready = 1, running = 2, exited = 3 }

  public var id: UInt64
  public var name: [UInt8]
  public var role: Role
  public var parent: UInt64
  public var pid: Int32
  public var state: State
  public var status: ExitStatus?
  public var fdsSent: UInt32
  public var argumentsSent: UInt32
  public var program: [UInt8]

  public init(
    id: UInt64, name: [UInt8], role: Role, parent: UInt64, pid: Int32, state: State,
    status: ExitStatus?, fdsSent: UInt32, argumentsSent: UInt32, program: [UInt8]
  ) {
    self.id = id
    self.name = name
    self.role = role
    self.parent = parent
    self.pid = pid
    self.state = state
    self.status = status
    self.fdsSent = fdsSent
    self.argumentsSent = argumentsSent
    self.program = program
  }
}

/// The daemon's answer to one request.
public enum Reply: Equatable, Sendable {
  case ok
  case created(id: UInt64, pid: Int32)
  case failure(ErrorCode, message: [UInt8])
  case statuses([(id: UInt64, status: ExitStatus)])
  case listing([ProcessInfo])
  case welcome(version: UInt8, daemonPID: Int32)

  public static func == (a: Reply, b: Reply) -> Bool {
    switch (a, b) {
    case (.ok, .ok): return true
    case let (.created(i, p), .created(j, q)): return i == j && p == q
    case let (.failure(c, m), .failure(d, n)): return c == d && m == n
    case let (.statuses(x), .statuses(y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.id == $1.id && $0.status == $1.status }
    case let (.listing(x), .listing(y)): return x == y
    case let (.welcome(v, p), .welcome(w, q)): return v == w && p == q
    default: return false
    }
  }

  public static func failure(_ code: ErrorCode, _ message: String) -> Reply {
    .failure(code, message: Array(message.utf8))
  }

  public func frame() -> Frame {
    var w = PayloadWriter()
    let type: MessageType
    switch self {
    case .ok: type = .ok
    case .created(let id, let pid):
      type = .created
      w.u64(id)
      w.i32(pid)
    case .failure(let code, let message):
      type = .failure
      w.u16(code.rawValue)
      w.string(message)
    case .statuses(let list):
      type = .statuses
      w.u32(UInt32(list.count))
      for item in list {
        w.u64(item.id)
        item.status.write(to: &w)
      }
    case .listing(let list):
      type = .listing
      w.u32(UInt32(list.count))
      for p in list {
        w.u64(p.id)
        w.string(p.name)
        w.u8(p.role.rawValue)
        w.u64(p.parent)
        w.i32(p.pid)
        w.u8(p.state.rawValue)
        if let s = p.status {
          s.write(to: &w)
        } else {
          w.u8(0)
          w.i32(0)
        }
        w.u32(p.fdsSent)
        w.u32(p.argumentsSent)
        w.string(p.program)
      }
    case .welcome(let version, let pid):
      type = .welcome
      w.u8(version)
      w.i32(pid)
    }
    return Frame(type: type, payload: w.bytes, fdCount: 0)
  }

  public init(_ frame: Frame) throws(WireError) {
    // Only `created` may carry a descriptor: the pidfd a spawn asked for.
    if frame.type != .created || frame.fdCount > 1 { try checkFDs(frame, 0) }
    var r = PayloadReader(frame.payload)
    switch frame.type {
    case .ok: self = .ok
    case .created: self = .created(id: try r.u64(), pid: try r.i32())
    case .failure:
      let raw = try r.u16()
      guard let code = ErrorCode(rawValue: raw) else { throw .invalid("error code \(raw)") }
      self = .failure(code, message: try r.string())
    case .statuses:
      let n = try r.count(itemSize: 13)
      var list = [(id: UInt64, status: ExitStatus)]()
      for _ in 0..<n {
        let id = try r.u64()
        guard let status = try ExitStatus.read(&r) else { throw .invalid("missing exit status") }
        list.append((id, status))
      }
      self = .statuses(list)
    case .listing:
      let n = try r.count(itemSize: 43)
      var list = [ProcessInfo]()
      for _ in 0..<n {
        let id = try r.u64()
        let name = try r.string()
        let rawRole = try r.u8()
        guard let role = ProcessInfo.Role(rawValue: rawRole) else { throw .invalid("role \(rawRole)") }
        let parent = try r.u64()
        let pid = try r.i32()
        let rawState = try r.u8()
        guard let state = ProcessInfo.State(rawValue: rawState) else {
          throw .invalid("state \(rawState)")
        }
        let status = try ExitStatus.read(&r)
        list.append(
          ProcessInfo(
            id: id, name: name, role: role, parent: parent, pid: pid, state: state, status: status,
            fdsSent: try r.u32(), argumentsSent: try r.u32(), program: try r.string()))
      }
      self = .listing(list)
    case .welcome: self = .welcome(version: try r.u8(), daemonPID: try r.i32())
    default: throw .unexpected(frame.type)
    }
    try r.finish()
  }
}

/// What the daemon tells a process object (a template, or a worker that has not run yet;
/// after `run --keep-control`, `fds` and `arguments` still reach the running program).
public enum Command: Equatable, Sendable {
  /// Fork; the one descriptor is the child's control socket, `id` the child's process id.
  case fork(id: UInt64)
  case fds(targets: [FDTarget])
  case arguments([[UInt8]])
  /// Descriptors: the working directory if the spec has one, then the status pipe if
  /// `statusPipe` (used with keepControl, where end of file on the control socket cannot
  /// tell that exec succeeded).
  case run(RunSpec, statusPipe: Bool)
  /// Start `spec` at once in a new process made the way posix_spawn makes one, with what
  /// this process object holds plus the descriptors that come with the frame (one per
  /// target, then the working directory if the spec has one). Answered by `spawned`.
  case spawn(id: UInt64, targets: [FDTarget], spec: RunSpec)

  public func frame() -> Frame {
    var w = PayloadWriter()
    switch self {
    case .spawn(let id, let targets, let spec):
      w.u64(id)
      writeTargets(targets, to: &w)
      spec.write(to: &w)
      return Frame(type: .commandSpawn, payload: w.bytes, fdCount: targets.count + spec.fdCount)
    case .fork(let id):
      w.u64(id)
      return Frame(type: .commandFork, payload: w.bytes, fdCount: 1)
    case .fds(let targets):
      writeTargets(targets, to: &w)
      return Frame(type: .commandFDs, payload: w.bytes, fdCount: targets.count)
    case .arguments(let list):
      w.list(list)
      return Frame(type: .commandArgs, payload: w.bytes, fdCount: 0)
    case .run(let spec, let statusPipe):
      spec.write(to: &w, statusPipe: statusPipe)
      return Frame(type: .commandRun, payload: w.bytes, fdCount: spec.fdCount + (statusPipe ? 1 : 0))
    }
  }

  public init(_ frame: Frame) throws(WireError) {
    var r = PayloadReader(frame.payload)
    switch frame.type {
    case .commandFork:
      try checkFDs(frame, 1)
      self = .fork(id: try r.u64())
    case .commandFDs:
      let targets = try readTargets(&r)
      try checkFDs(frame, targets.count)
      self = .fds(targets: targets)
    case .commandArgs:
      try checkFDs(frame, 0)
      self = .arguments(try r.list())
    case .commandRun:
      let (spec, statusPipe) = try RunSpec.read(&r)
      try checkFDs(frame, spec.fdCount + (statusPipe ? 1 : 0))
      self = .run(spec, statusPipe: statusPipe)
    case .commandSpawn:
      let id = try r.u64()
      let targets = try readTargets(&r)
      let (spec, statusPipe) = try RunSpec.read(&r)
      if statusPipe || spec.keepControl { throw .invalid("spawn command flags") }
      try checkFDs(frame, targets.count + spec.fdCount)
      self = .spawn(id: id, targets: targets, spec: spec)
    default:
      throw .unexpected(frame.type)
    }
    try r.finish()
  }
}

/// What a process object tells the daemon.
public enum Report: Equatable, Sendable {
  case forked(pid: Int32)
  case refused(ErrorCode, message: [UInt8])
  case execFailed(errno: Int32)
  /// The answer to a spawn command: the new process's pid, and 0 when it runs or the errno
  /// of its failed exec.
  case spawned(pid: Int32, errno: Int32)

  public func frame() -> Frame {
    var w = PayloadWriter()
    switch self {
    case .spawned(let pid, let errno):
      w.i32(pid)
      w.i32(errno)
      return Frame(type: .spawned, payload: w.bytes, fdCount: 0)
    case .forked(let pid):
      w.i32(pid)
      return Frame(type: .forked, payload: w.bytes, fdCount: 0)
    case .refused(let code, let message):
      w.u16(code.rawValue)
      w.string(message)
      return Frame(type: .refused, payload: w.bytes, fdCount: 0)
    case .execFailed(let errno):
      w.i32(errno)
      return Frame(type: .execFailed, payload: w.bytes, fdCount: 0)
    }
  }

  public init(_ frame: Frame) throws(WireError) {
    try checkFDs(frame, 0)
    var r = PayloadReader(frame.payload)
    switch frame.type {
    case .forked: self = .forked(pid: try r.i32())
    case .refused:
      let raw = try r.u16()
      guard let code = ErrorCode(rawValue: raw) else { throw .invalid("error code \(raw)") }
      self = .refused(code, message: try r.string())
    case .execFailed: self = .execFailed(errno: try r.i32())
    case .spawned: self = .spawned(pid: try r.i32(), errno: try r.i32())
    default: throw .unexpected(frame.type)
    }
    try r.finish()
  }
}
