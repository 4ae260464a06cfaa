import CForkctlShims
import Glibc

/// An epoll instance. Tokens are the caller's own numbers.
public struct Epoll: ~Copyable {
  public let fd: FileDescriptor

  /// The corresponding C function is `epoll_create1`.
  public init() throws(Errno) {
    let fd = try retrying { forkctl_epoll_create() }
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
    /// Reported once, then disabled until `modify` arms it again (EPOLLONESHOT, epoll_ctl(2)).
    public static let oneShot = Interest(rawValue: FORKCTL_EPOLLONESHOT)
  }

  private func control(_ op: CInt, _ target: FileDescriptor, _ interest: Interest, _ token: UInt64) throws(Errno) {
    _ = try retrying { forkctl_epoll_ctl(fd.rawValue, op, target.rawValue, interest.rawValue, token) }
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
