// The thread-safe client: what a server uses instead of fork+exec. Every call is a plain
// synchronous request on a connection of its own, taken from a small pool, so threads never
// wait for each other; the client never forks.
import ForkctlSys
import ForkctlWire
import Synchronization

/// A handle on the daemon, safe to share between threads and to call from many at once.
///
/// ```swift
/// let forkctl = ForkctlClient()                       // the user's daemon, started if needed
/// let p = try forkctl.spawn("/bin/ls", ["-l"])        // this process's stdio, env and cwd
/// let status = try p.wait()                           // .exited(0)
/// ```
///
/// Every failure is a `ForkctlError`: the daemon could not be reached or started, it
/// refused (with the protocol's `ErrorCode`: unknown process, program not found, ...), or
/// a descriptor to send is not open.
public final class ForkctlClient: Sendable {
  public let socketPath: String
  public let autoStart: Bool
  /// The forkctl executable that starts a daemon; nil: $FORKCTL_EXECUTABLE, else forkctl in
  /// $PATH.
  public let daemonExecutable: String?
  /// Idle connections, between requests.
  private let idle = Mutex<[Int32]>([])
  /// Idle connections kept beyond this are closed.
  private static let maxIdle = 32

  /// A client of the daemon at `socketPath` (by default the user's, as forkctl(1) finds
  /// it), which is started on first use if none answers and `autoStart`, by running
  /// `daemonExecutable daemon` (by default $FORKCTL_EXECUTABLE, else forkctl in $PATH).
  public init(socketPath: String = defaultSocketPath(), autoStart: Bool = true, daemonExecutable: String? = nil) {
    self.socketPath = socketPath
    self.autoStart = autoStart
    self.daemonExecutable = daemonExecutable
  }

  deinit {
    idle.withLock { fds in
      for fd in fds { FileDescriptor(rawValue: fd).closeQuietly() }
      fds.removeAll()
    }
  }

  /// An idle connection that is still open, or a new one.
  private func checkOut() throws(ForkctlError) -> ForkctlConnection {
    while let fd = idle.withLock({ $0.popLast() }).map({ FileDescriptor(rawValue: $0) }) {
      // An idle connection never has anything to read: readable means the daemon went away.
      if !Sys.isReadableNow(fd) { return ForkctlConnection(adopting: fd, socketPath: socketPath) }
      fd.closeQuietly()
    }
    return try ForkctlConnection(socketPath: socketPath, autoStart: autoStart, daemonExecutable: daemonExecutable)
  }

  func checkIn(_ connection: consuming ForkctlConnection) {
    let fd = connection.release()
    let kept = idle.withLock { fds -> Bool in
      guard fds.count < Self.maxIdle else { return false }
      fds.append(fd.rawValue)
      return true
    }
    if !kept { fd.closeQuietly() }
  }

  /// Runs one request on a pooled connection. A connection that failed is closed; one the
  /// daemon answered, even with a refusal, goes back to the pool.
  func withConnection<T>(_ body: (inout ForkctlConnection) throws(ForkctlError) -> T) throws(ForkctlError) -> T {
    var c = try checkOut()
    do {
      let result = try body(&c)
      checkIn(c)
      return result
    } catch {
      if error.code == .refused { checkIn(c) }
      throw error
    }
  }

  /// Forks a new process object from the default template (`forkctl new`).
  public func new(name: String = "") throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try withConnection { (c) throws(ForkctlError) in try c.new(name: name) }
  }

  /// Starts a fresh template (`forkctl exec`).
  public func exec(name: String = "", host: HostSpec? = nil) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try withConnection { (c) throws(ForkctlError) in try c.exec(name: name, host: host) }
  }

  /// Forks process object `ref`, which has not run, with copies of what was sent to it.
  public func fork(_ ref: String, name: String = "") throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try withConnection { (c) throws(ForkctlError) in try c.fork(ref, name: name) }
  }

  /// Sends descriptors of this process (they stay open here too); each lands on its target,
  /// or on the lowest free number when the target is nil.
  public func sendFDs(_ ref: String, _ fds: [(fd: FileDescriptor, target: FDTarget)]) throws(ForkctlError) {
    try withConnection { (c) throws(ForkctlError) in try c.sendFDs(ref, fds) }
  }

  /// Sends octet strings; `run` puts them after the program in argv.
  public func sendArguments(_ ref: String, _ arguments: [[UInt8]]) throws(ForkctlError) {
    try withConnection { (c) throws(ForkctlError) in try c.sendArguments(ref, arguments) }
  }

  /// Runs `spec` in process object `ref`; returns once the program runs (`waitForExit`
  /// false) or once it has ended, with its status. With `detach` (not with `waitForExit`)
  /// nobody will wait: the daemon forgets the process object once it has exited.
  public func run(
    _ ref: String, _ spec: RunSpec, workingDirectory: FileDescriptor? = nil, detach: Bool = false
  ) throws(ForkctlError) -> ExitStatus? {
    try withConnection { (c) throws(ForkctlError) in
      try c.run(ref, spec, workingDirectory: workingDirectory, forwarding: nil, detach: detach)
    }
  }

  /// Waits until every process object in `refs` has ended.
  public func wait(_ refs: [String]) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try withConnection { (c) throws(ForkctlError) in try c.wait(refs) }
  }

  /// Waits for every process object of this user that has run a program and whose status
  /// no wait has reported (`forkctl wait --all`).
  public func waitAll() throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try withConnection { (c) throws(ForkctlError) in try c.waitAll() }
  }

  /// Sends `signal` to each process object in `refs`.
  public func kill(_ refs: [String], signal: Int32) throws(ForkctlError) {
    try withConnection { (c) throws(ForkctlError) in try c.kill(refs, signal: signal) }
  }

  /// Every process object the daemon knows.
  public func list() throws(ForkctlError) -> [ProcessEntry] {
    try withConnection { (c) throws(ForkctlError) in try c.list() }
  }

  /// Stops the daemon; running programs go on. With `drain` (`forkctl shutdown --wait`), once
  /// the programs whose clients wait for them have ended, starting nothing new meanwhile.
  public func shutdown(drain: Bool = false) throws(ForkctlError) {
    try withConnection { (c) throws(ForkctlError) in try c.shutdown(drain: drain) }
  }

  /// Starts `program` as if this process had run it, forked by a template, in one request
  /// (`forkctl spawn`). By default it gets this process's descriptors 0, 1 and 2, its
  /// environment, its working directory and its process attributes; `program` is found in
  /// that environment's PATH.
  ///
  /// - Parameters:
  ///   - fds: descriptors of this process and where each goes in the program (they stay
  ///     open here too); nil for this process's 0, 1 and 2.
  ///   - environment: the complete environment ("NAME=VALUE"); nil for this process's.
  ///   - workingDirectory: a directory descriptor; nil for this process's directory.
  ///   - from: the process object to fork; nil for the default template.
  ///   - detach: let the program outlive the returned object; without it, dropping the
  ///     object before `wait()` sends the program SIGTERM, then SIGKILL.
  ///   - entry: `.call` makes `program` the name of a function of a library loaded into
  ///     `from` (`load`), called in the worker instead of a program exec'd.
  ///   - attributes: applied in the program before exec. By default this process's umask,
  ///     resource limits and nice value, with every signal at its default action and an
  ///     empty mask: a server's threads block signals for a signalfd or ignore SIGPIPE for
  ///     reasons of their own, which would make its programs deaf to kill (pass
  ///     `Inherited.attributes()` to give them this thread's, as `forkctl spawn` does). nil:
  ///     the template's, that is the daemon's.
  /// - Returns: the running program, with its id, pid and a pidfd.
  public func spawn(
    program: [UInt8], arguments: [[UInt8]] = [], fds: [(fd: FileDescriptor, target: Int32)]? = nil,
    environment: [[UInt8]]? = nil, workingDirectory: FileDescriptor? = nil, from: String? = nil,
    name: String = "", detach: Bool = false, keepControl: Bool = false, entry: RunEntry = .exec,
    attributes: ProcessAttributes? = Inherited.attributes(signals: false)
  ) throws(ForkctlError) -> SpawnedProcess {
    let spec = RunSpec(
      program: program, arguments: arguments, environment: environment ?? Inherited.environment(),
      keepControl: keepControl, entry: entry)
    let passed = fds.map { $0.map { ($0.fd, FDTarget($0.target)) } } ?? Inherited.descriptors()
    let ownCWD = workingDirectory == nil ? try Inherited.workingDirectory() : nil
    let cwd = workingDirectory ?? ownCWD
    defer { ownCWD?.closeQuietly() }
    // A spawn holds its connection until the program ends: it leaves the pool.
    var c = try checkOut()
    let started = try c.spawn(
      spec, fds: passed, workingDirectory: cwd, from: from, name: name, detach: detach, wantsPIDFD: true,
      attributes: attributes)
    return SpawnedProcess(connection: c, id: started.id, pid: started.pid, pidfd: started.pidfd, owner: self)
  }

  /// Drops exited process objects that nobody will wait for (`forkctl forget`).
  @discardableResult
  public func forget(_ refs: [String]) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try withConnection { (c) throws(ForkctlError) in try c.forget(refs) }
  }

  /// Drops every exited process object of this user whose status was never reported
  /// (`forkctl prune`).
  @discardableResult
  public func prune() throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try withConnection { (c) throws(ForkctlError) in try c.prune() }
  }

  /// `spawn` with String arguments.
  public func spawn(_ program: String, _ arguments: [String] = [], detach: Bool = false) throws(ForkctlError)
    -> SpawnedProcess
  {
    try spawn(program: Array(program.utf8), arguments: arguments.map { Array($0.utf8) }, detach: detach)
  }
}
