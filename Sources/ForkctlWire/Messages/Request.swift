/// A client's request to the daemon. A process object is named by its decimal id or its name.
public enum Request: Equatable, Sendable {
  case hello
  case new(name: [UInt8])
  /// A template made by exec: the template image, or with `host` a language host.
  case exec(name: [UInt8], host: HostSpec? = nil)
  case fork(ref: [UInt8], name: [UInt8])
  case sendFDs(ref: [UInt8], targets: [FDTarget])
  case sendArgs(ref: [UInt8], arguments: [[UInt8]])
  /// `attributes`: the caller's, applied before exec (nil: the process object's own).
  /// `detach`: nobody will wait, so the process object is forgotten once it has exited
  /// (a wait already pending then still gets its status); not with `spec.waitForExit`.
  case run(ref: [UInt8], spec: RunSpec, attributes: ProcessAttributes? = nil, detach: Bool = false)
  case wait(refs: [[UInt8]])
  /// Wait for every process object of the caller's user that has run a program and whose
  /// status no wait has reported, as they are when the request is read; replies `statuses`
  /// in ascending id order (none: at once, empty).
  case waitAll
  /// Signal each process object's process, or with `group` the process group it leads.
  case kill(signal: Int32, refs: [[UInt8]], group: Bool = false)
  case list
  case shutdown
  /// shutdown --wait: start nothing new, and stop once no client is attached to a program.
  /// Encoded as `shutdown` with flags.
  case drain
  /// Fork from `from` (empty: the default template), hand the new process the descriptors
  /// (one per target, then the working directory if the spec has one) and run `spec`, all
  /// in one request. Replies `created` once the program runs, then `statuses` when it ends.
  case spawn(SpawnRequest)
  /// Forward a signal to the process this connection is attached to (by spawn or run with
  /// waitForExit). No reply; ignored when nothing is attached.
  case signal(Int32)
  /// Drop exited process objects nobody will wait for; replies `statuses` with them. One
  /// that has not exited is refused, and then none is dropped.
  case forget(refs: [[UInt8]])
  /// Drop every exited process object of the caller's user whose status was never
  /// reported; replies `statuses` with them.
  case prune
  /// What the daemon is and holds, without changing anything: replies `status`
  /// (`forkctl status`, which never starts a daemon).
  case status
  /// Load a library into a process object that has not run, and run its init; replies
  /// `loaded` with its threads after the init.
  case load(ref: [UInt8], LoadSpec)
  /// The memory of each process object named, read from /proc now; none named: every one
  /// the caller's user made. Replies `memory`.
  case memory(refs: [[UInt8]])
  /// The files a process object forked from another maps that its parent did not map when it
  /// forked it. Replies `mappings`.
  case audit(ref: [UInt8])
  /// An operation on pools (Pool.swift).
  case pool(PoolRequest)
  /// Run code in a language host's template; replies `loaded` with its threads after it.
  case eval(ref: [UInt8], EvalSpec)

  /// kill's optional trailing u32 flags: the process group.
  static let killGroupFlag: UInt32 = 1
  /// A bit of the run request's spec flags, not of the spec: forget the object once it has
  /// exited (`run --detach`).
  static let runDetachFlag: UInt32 = 64
  /// shutdown's optional u32 flags: drain first.
  static let shutdownDrainFlag: UInt32 = 1
  /// wait's optional trailing u32 flags: every process object of the caller's user.
  static let waitAllFlag: UInt32 = 1

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
    case .exec(let name, let host):
      type = .exec
      w.string(name)
      // The host block came later: absent for a native template, as before it.
      host?.write(to: &w)
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
    case .run(let ref, let spec, let attributes, let detach):
      type = .run
      w.string(ref)
      spec.write(
        to: &w,
        outerFlags: (attributes == nil ? 0 : RunSpec.attributesFlag) | (detach ? Self.runDetachFlag : 0))
      attributes?.write(to: &w)
      fds = spec.fdCount
    case .wait(let refs):
      type = .wait
      w.list(refs)
    case .waitAll:
      type = .wait
      // No refs; the flags, like kill's, came later and are present only when set.
      w.list([])
      w.u32(Self.waitAllFlag)
    case .kill(let signal, let refs, let group):
      type = .kill
      w.i32(signal)
      w.list(refs)
      // The flags came later: absent when none is set, so a daemon that predates them still
      // reads every kill that does not ask for one.
      if group { w.u32(Self.killGroupFlag) }
    case .list:
      type = .list
    case .shutdown:
      type = .shutdown
    case .drain:
      type = .shutdown
      w.u32(Self.shutdownDrainFlag)
    case .spawn(let s):
      type = .spawn
      w.string(s.from)
      w.string(s.name)
      w.u32(
        (s.detach ? SpawnRequest.detachFlag : 0) | (s.wantsPIDFD ? SpawnRequest.pidfdFlag : 0)
          | (s.attributes != nil ? SpawnRequest.attributesFlag : 0))
      writeTargets(s.targets, to: &w)
      s.spec.write(to: &w)
      s.attributes?.write(to: &w)
      fds = s.fdCount
    case .signal(let signal):
      type = .signal
      w.i32(signal)
    case .forget(let refs):
      type = .forget
      w.list(refs)
    case .prune:
      type = .prune
    case .status:
      type = .status
    case .load(let ref, let spec):
      type = .load
      w.string(ref)
      spec.write(to: &w)
      fds = spec.fdCount
    case .memory(let refs):
      type = .memory
      w.list(refs)
    case .audit(let ref):
      type = .audit
      w.string(ref)
    case .pool(let request):
      type = .pool
      request.write(to: &w)
    case .eval(let ref, let spec):
      type = .eval
      w.string(ref)
      spec.write(to: &w)
      fds = spec.fdCount
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
      let name = try r.string()
      self = .exec(name: name, host: r.remaining > 0 ? try HostSpec.read(&r) : nil)
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
      let (spec, outer) = try RunSpec.read(&r, outerFlags: RunSpec.attributesFlag | Self.runDetachFlag)
      let attributes = outer & RunSpec.attributesFlag != 0 ? try ProcessAttributes.read(&r) : nil
      let detach = outer & Self.runDetachFlag != 0
      // Nobody can wait for a detached program's status, the run's own reply included.
      if detach && spec.waitForExit { throw .invalid("run flags: detach with wait") }
      try checkFDs(frame, spec.fdCount)
      self = .run(ref: ref, spec: spec, attributes: attributes, detach: detach)
    case .wait:
      try checkFDs(frame, 0)
      let refs = try r.list()
      if r.remaining > 0 {
        // One encoding per request: flags are present only when one is set, and --all
        // names no process object.
        let flags = try r.u32()
        if flags != Self.waitAllFlag || !refs.isEmpty { throw .invalid("wait flags \(flags)") }
        self = .waitAll
      } else {
        self = .wait(refs: refs)
      }
    case .kill:
      try checkFDs(frame, 0)
      let signal = try r.i32()
      let refs = try r.list()
      var group = false
      if r.remaining > 0 {
        // One encoding per request: flags are present only when one is set.
        let flags = try r.u32()
        if flags != Self.killGroupFlag { throw .invalid("kill flags \(flags)") }
        group = true
      }
      self = .kill(signal: signal, refs: refs, group: group)
    case .list:
      try checkFDs(frame, 0)
      self = .list
    case .shutdown:
      try checkFDs(frame, 0)
      if r.remaining > 0 {
        // One encoding per request: flags are present only when one is set.
        let flags = try r.u32()
        if flags != Self.shutdownDrainFlag { throw .invalid("shutdown flags \(flags)") }
        self = .drain
      } else {
        self = .shutdown
      }
    case .spawn:
      let from = try r.string()
      let name = try r.string()
      let flags = try r.u32()
      if flags & ~SpawnRequest.flags != 0 { throw .invalid("spawn flags \(flags)") }
      let targets = try readTargets(&r)
      let spec = try RunSpec.read(&r)
      if spec.waitForExit { throw .invalid("run flags") }
      let attributes = flags & SpawnRequest.attributesFlag != 0 ? try ProcessAttributes.read(&r) : nil
      let request = SpawnRequest(
        from: from, name: name, targets: targets, spec: spec, detach: flags & SpawnRequest.detachFlag != 0,
        wantsPIDFD: flags & SpawnRequest.pidfdFlag != 0, attributes: attributes)
      try checkFDs(frame, request.fdCount)
      self = .spawn(request)
    case .signal:
      try checkFDs(frame, 0)
      let signal = try r.i32()
      if !WireLimits.signalNumbers.contains(signal) { throw .invalid("signal \(signal)") }
      self = .signal(signal)
    case .forget:
      try checkFDs(frame, 0)
      self = .forget(refs: try r.list())
    case .prune:
      try checkFDs(frame, 0)
      self = .prune
    case .status:
      try checkFDs(frame, 0)
      self = .status
    case .load:
      let ref = try r.string()
      let spec = try LoadSpec.read(&r)
      try checkFDs(frame, spec.fdCount)
      self = .load(ref: ref, spec)
    case .memory:
      try checkFDs(frame, 0)
      self = .memory(refs: try r.list())
    case .audit:
      try checkFDs(frame, 0)
      self = .audit(ref: try r.string())
    case .pool:
      try checkFDs(frame, 0)
      self = .pool(try PoolRequest.read(&r))
    case .eval:
      let ref = try r.string()
      let spec = try EvalSpec.read(&r)
      try checkFDs(frame, spec.fdCount)
      self = .eval(ref: ref, spec)
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
  /// The caller's process attributes, applied in the new process before exec; nil leaves
  /// the ones it gets from the template (a client older than the attributes block).
  public var attributes: ProcessAttributes?

  public init(
    from: [UInt8] = [], name: [UInt8] = [], targets: [FDTarget], spec: RunSpec, detach: Bool = false,
    wantsPIDFD: Bool = false, attributes: ProcessAttributes? = nil
  ) {
    self.from = from
    self.name = name
    self.targets = targets
    self.spec = spec
    self.detach = detach
    self.wantsPIDFD = wantsPIDFD
    self.attributes = attributes
  }

  static let detachFlag: UInt32 = 1
  static let pidfdFlag: UInt32 = 2
  /// An attributes block follows the spec.
  static let attributesFlag: UInt32 = 4
  static let flags = detachFlag | pidfdFlag | attributesFlag

  /// Descriptors that travel with the request: one per target, then the working directory.
  public var fdCount: Int { targets.count + spec.fdCount }
}
