/// What a process object tells the daemon.
public enum Report: Equatable, Sendable {
  case forked(pid: Int32)
  case refused(ErrorCode, message: [UInt8])
  case execFailed(errno: Int32)
  /// The answer to a spawn command: the new process's pid, and 0 when it runs or the errno
  /// of its failed exec.
  case spawned(pid: Int32, errno: Int32)
  /// Sent by the new process of a spawn itself, before it runs anything: its pid. The
  /// `spawned` report for it follows from the process object, unless that dies first.
  case spawning(pid: Int32)
  /// The answer to a load command: the library is loaded and its init returned 0; the
  /// threads the process has now.
  case loaded(ThreadCensus)
  /// The answer to a load command that failed: the library did not load (nothing changed),
  /// or its init returned non-zero (the process exits with that code after this).
  case loadRefused(ErrorCode, message: [UInt8])
  /// From a language host: pid is its own child (a worker it forked), not the daemon's; the
  /// frame's one descriptor is a pidfd of it, opened before the host could reap it. The host
  /// reaps it and reports its end with `childEnded`.
  case hostChild(pid: Int32)
  /// From a language host: a child it announced with `hostChild` ended so; sent before the
  /// host reaps it, so that the status is never lost.
  case childEnded(pid: Int32, status: ExitStatus)
  /// From a language host, once, first: it has started and serves its control socket. The
  /// daemon answers the `exec` that made it only then, so that an interpreter that cannot run
  /// the host fails the exec rather than the next request.
  case hostReady

  /// Where the pid lies in a `spawning` frame's bytes: the new process writes it there.
  public static let spawningPIDOffset = WireLimits.headerSize

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
    case .spawning(let pid):
      w.i32(pid)
      return Frame(type: .spawning, payload: w.bytes, fdCount: 0)
    case .refused(let code, let message), .loadRefused(let code, let message):
      w.u16(code.rawValue)
      w.string(message)
      return Frame(
        type: self == .refused(code, message: message) ? .refused : .loadRefused, payload: w.bytes, fdCount: 0)
    case .execFailed(let errno):
      w.i32(errno)
      return Frame(type: .execFailed, payload: w.bytes, fdCount: 0)
    case .loaded(let threads):
      threads.write(to: &w)
      return Frame(type: .libraryLoaded, payload: w.bytes, fdCount: 0)
    case .hostChild(let pid):
      w.i32(pid)
      return Frame(type: .hostChild, payload: w.bytes, fdCount: 1)
    case .childEnded(let pid, let status):
      w.i32(pid)
      status.write(to: &w)
      return Frame(type: .childEnded, payload: w.bytes, fdCount: 0)
    case .hostReady:
      return Frame(type: .hostReady, payload: [], fdCount: 0)
    }
  }

  public init(_ frame: Frame) throws(WireError) {
    // Only hostChild carries a descriptor: the pidfd.
    try checkFDs(frame, frame.type == .hostChild ? 1 : 0)
    var r = PayloadReader(frame.payload)
    switch frame.type {
    case .forked: self = .forked(pid: try r.i32())
    case .refused:
      // Any code: one this side does not know is a newer daemon's refusal, not a broken frame.
      let code = ErrorCode(rawValue: try r.u16())
      self = .refused(code, message: try r.string())
    case .loadRefused: self = .loadRefused(ErrorCode(rawValue: try r.u16()), message: try r.string())
    case .execFailed: self = .execFailed(errno: try r.i32())
    case .spawned: self = .spawned(pid: try r.i32(), errno: try r.i32())
    case .spawning: self = .spawning(pid: try r.i32())
    case .libraryLoaded: self = .loaded(try ThreadCensus.read(&r))
    case .hostChild:
      let pid = try r.i32()
      if pid <= 0 { throw .invalid("host child pid \(pid)") }
      self = .hostChild(pid: pid)
    case .childEnded:
      let pid = try r.i32()
      if pid <= 0 { throw .invalid("ended child pid \(pid)") }
      // A child that ended has a status: tag 0 is not one.
      guard let status = try ExitStatus.read(&r) else { throw .invalid("child ended without a status") }
      self = .childEnded(pid: pid, status: status)
    case .hostReady: self = .hostReady
    default: throw .unexpected(frame.type)
    }
    try r.finish()
  }
}
