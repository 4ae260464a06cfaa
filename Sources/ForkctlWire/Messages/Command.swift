/// What the daemon tells a process object (a template, or a worker that has not run yet;
/// after `run --keep-control`, `fds` and `arguments` still reach the running program).
public enum Command: Equatable, Sendable {
  /// Fork; the one descriptor is the child's control socket, `id` the child's process id.
  case fork(id: UInt64)
  case fds(targets: [FDTarget])
  case arguments([[UInt8]])
  /// Descriptors: the working directory if the spec has one, then the status pipe if
  /// `statusPipe` (used with keepControl, where end of file on the control socket cannot
  /// tell that exec succeeded). `attributes`: the client's, applied before exec.
  case run(RunSpec, statusPipe: Bool, attributes: ProcessAttributes? = nil)
  /// Start `spec` at once in a new process made the way posix_spawn makes one, with what
  /// this process object holds plus the descriptors that come with the frame (one per
  /// target, then the working directory if the spec has one). Answered by `spawned`.
  /// `attributes`: the client's, applied in the new process before exec.
  case spawn(id: UInt64, targets: [FDTarget], spec: RunSpec, attributes: ProcessAttributes? = nil)
  /// Load a library and run its init. Answered by `libraryLoaded` or `refused`; an init that
  /// fails ends the process with its code instead.
  case load(LoadSpec)
  /// Run code in a language host (the directory descriptor comes with the frame when the spec
  /// has one). Answered by `libraryLoaded` or `loadRefused`; a native template refuses it.
  case eval(EvalSpec)

  /// The run command's own bit in its spec's flags word: a status pipe comes with the frame.
  static let statusPipeFlag: UInt32 = 16

  public func frame() -> Frame {
    var w = PayloadWriter()
    switch self {
    case .spawn(let id, let targets, let spec, let attributes):
      w.u64(id)
      writeTargets(targets, to: &w)
      spec.write(to: &w, outerFlags: attributes == nil ? 0 : RunSpec.attributesFlag)
      attributes?.write(to: &w)
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
    case .load(let spec):
      spec.write(to: &w)
      return Frame(type: .commandLoad, payload: w.bytes, fdCount: spec.fdCount)
    case .eval(let spec):
      spec.write(to: &w)
      return Frame(type: .commandEval, payload: w.bytes, fdCount: spec.fdCount)
    case .run(let spec, let statusPipe, let attributes):
      let outer = (statusPipe ? Self.statusPipeFlag : 0) | (attributes == nil ? 0 : RunSpec.attributesFlag)
      spec.write(to: &w, outerFlags: outer)
      attributes?.write(to: &w)
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
      let (spec, flags) = try RunSpec.read(&r, outerFlags: Self.statusPipeFlag | RunSpec.attributesFlag)
      let statusPipe = flags & Self.statusPipeFlag != 0
      let attributes = flags & RunSpec.attributesFlag != 0 ? try ProcessAttributes.read(&r) : nil
      try checkFDs(frame, spec.fdCount + (statusPipe ? 1 : 0))
      self = .run(spec, statusPipe: statusPipe, attributes: attributes)
    case .commandLoad:
      let spec = try LoadSpec.read(&r)
      try checkFDs(frame, spec.fdCount)
      self = .load(spec)
    case .commandEval:
      let spec = try EvalSpec.read(&r)
      try checkFDs(frame, spec.fdCount)
      self = .eval(spec)
    case .commandSpawn:
      let id = try r.u64()
      let targets = try readTargets(&r)
      let (spec, flags) = try RunSpec.read(&r, outerFlags: RunSpec.attributesFlag)
      if spec.keepControl { throw .invalid("spawn command flags") }
      let attributes = flags != 0 ? try ProcessAttributes.read(&r) : nil
      try checkFDs(frame, targets.count + spec.fdCount)
      self = .spawn(id: id, targets: targets, spec: spec, attributes: attributes)
    default:
      throw .unexpected(frame.type)
    }
    try r.finish()
  }
}
