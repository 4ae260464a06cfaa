import CForkctlShims
import CLibBSD
import Glibc

/// An epoll instance. Tokens are the caller's own numbers.
public struct Epoll: ~Copyable {
  public let fd: FileDescriptor

  /// The corresponding C function is `epoll_create1`.
  public init() throws(Errno) {
    let fd = forkctl_epoll_create()
    if fd < 0 { throw currentErrno() }
    self.fd = FileDescriptor(rawValue: fd)
  }

  deinit { fd.closeQuietly() }

  public struct Interest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = Interest(rawValue: FORKCTL_EPOLLIN)
    public static let writable = Interest(rawValue: FORKCTL_EPOLLOUT)
    public static let hangup = Interest(rawValue: FORKCTL_EPOLLHUP)
    public static let error = Interest(rawValue: FORKCTL_EPOLLERR)
    /// The peer shut down its writing half or closed (EPOLLRDHUP, epoll_ctl(2)).
    public static let readHangup = Interest(rawValue: FORKCTL_EPOLLRDHUP)
  }

  private func control(_ op: CInt, _ target: FileDescriptor, _ interest: Interest, _ token: UInt64) throws(Errno) {
    if forkctl_epoll_ctl(fd.rawValue, op, target.rawValue, interest.rawValue, token) < 0 {
      throw currentErrno()
    }
  }

  /// The corresponding C function is `epoll_ctl(EPOLL_CTL_ADD)`.
  public func add(_ target: FileDescriptor, _ interest: Interest, token: UInt64) throws(Errno) {
    try control(FORKCTL_EPOLL_CTL_ADD, target, interest, token)
  }

  /// The corresponding C function is `epoll_ctl(EPOLL_CTL_MOD)`.
  public func modify(_ target: FileDescriptor, _ interest: Interest, token: UInt64) throws(Errno) {
    try control(FORKCTL_EPOLL_CTL_MOD, target, interest, token)
  }

  /// The corresponding C function is `epoll_ctl(EPOLL_CTL_DEL)`.
  public func remove(_ target: FileDescriptor) {
    _ = forkctl_epoll_ctl(fd.rawValue, FORKCTL_EPOLL_CTL_DEL, target.rawValue, 0, 0)
  }

  /// Waits for events; -1 waits for ever. The corresponding C function is `epoll_wait`.
  public func wait(into events: inout [(token: UInt64, interest: Interest)], timeoutMS: CInt = -1) throws(Errno) {
    var tokens = [UInt64](repeating: 0, count: 128)
    var masks = [UInt32](repeating: 0, count: 128)
    let n = try retrying { forkctl_epoll_wait(fd.rawValue, &tokens, &masks, 128, timeoutMS) }
    events.removeAll(keepingCapacity: true)
    for i in 0..<Int(n) { events.append((tokens[i], Interest(rawValue: masks[i]))) }
  }
}

/// Signals delivered as readable events on a descriptor (signalfd(2)).
public struct SignalDescriptor: ~Copyable {
  public let fd: FileDescriptor

  /// Blocks `signals` and opens a signalfd for them.
  public init(_ signals: [Signal]) throws(Errno) {
    let list = signals.map(\.rawValue) + [0]
    if forkctl_block_signals(list) < 0 { throw currentErrno() }
    let fd = forkctl_signalfd(list)
    if fd < 0 { throw currentErrno() }
    self.fd = FileDescriptor(rawValue: fd)
  }

  deinit { fd.closeQuietly() }

  /// The next pending signal, nil when none.
  public func next() throws(Errno) -> Signal? {
    let s = forkctl_read_signalfd(fd.rawValue)
    if s < 0 { throw currentErrno() }
    return s == 0 ? nil : Signal(rawValue: s)
  }
}

/// A pidfile held locked for the life of the process (libbsd pidfile_open(3)): the lock, not
/// the file's existence, says a daemon is running, so a killed daemon never blocks the next.
public struct Pidfile: ~Copyable {
  private let handle: OpaquePointer

  public enum OpenError: Error {
    case running(pid: Int32)
    case system(Errno)
  }

  public init(path: String) throws(OpenError) {
    var other: pid_t = 0
    guard let h = pidfile_open(path, 0o600, &other) else {
      let e = currentErrno()
      // EEXIST: another process holds the lock; its pid is in `other` (0 if it has not
      // written it yet).
      if e == .fileExists { throw .running(pid: other) }
      throw .system(e)
    }
    handle = h
    // Nothing may inherit the lock: make sure of close-on-exec whatever libbsd opened it with.
    let fd = pidfile_fileno(h)
    if fd >= 0 { forkctl_set_cloexec(fd) }
  }

  /// Writes our pid into the file. The corresponding C function is `pidfile_write`.
  public func write() throws(Errno) {
    if pidfile_write(handle) < 0 { throw currentErrno() }
  }

  /// Removes the file and releases the lock. The corresponding C function is `pidfile_remove`.
  public consuming func remove() {
    _ = pidfile_remove(handle)
    discard self
  }

  deinit { _ = pidfile_close(handle) }
}
