import CForkctlShims
import ForkctlWire
import Glibc

/// Unix stream sockets and descriptor passing.
public enum UnixSocket {
  /// Longest path a sockaddr_un holds (unix(7)), without the terminating NUL.
  public static let maxPathLength = 107

  private static func withAddress<R>(
    _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
  ) throws(Errno) -> R {
    let bytes = Array(path.utf8)
    if bytes.count > maxPathLength { throw Errno.fileNameTooLong }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      for (i, b) in bytes.enumerated() { raw[i] = b }
      raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &addr) { p in
      p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
  }

  static func makeSocket() throws(Errno) -> FileDescriptor {
    let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    if fd < 0 { throw currentErrno() }
    return FileDescriptor(rawValue: fd)
  }

  /// A listening socket bound to `path`. The corresponding C functions are `bind`, `listen`.
  public static func listen(at path: String, backlog: CInt = 512) throws(Errno) -> FileDescriptor {
    let fd = try makeSocket()
    do throws(Errno) {
      let rc = try withAddress(path) { Glibc.bind(fd.rawValue, $0, $1) }
      if rc < 0 { throw currentErrno() }
      if Glibc.listen(fd.rawValue, backlog) < 0 { throw currentErrno() }
    } catch {
      fd.closeQuietly()
      throw error
    }
    return fd
  }

  /// A socket connected to `path`. The corresponding C function is `connect`.
  public static func connect(to path: String) throws(Errno) -> FileDescriptor {
    let fd = try makeSocket()
    do throws(Errno) {
      while true {
        let rc = try withAddress(path) { Glibc.connect(fd.rawValue, $0, $1) }
        if rc == 0 { break }
        let e = currentErrno()
        if e != .interrupted { throw e }
      }
    } catch {
      fd.closeQuietly()
      throw error
    }
    return fd
  }

  /// Accepts one connection, non-blocking and close-on-exec; nil when none is waiting.
  /// The corresponding C function is `accept4`.
  public static func accept(_ listener: FileDescriptor) throws(Errno) -> FileDescriptor? {
    while true {
      let fd = forkctl_accept(listener.rawValue)
      if fd >= 0 { return FileDescriptor(rawValue: fd) }
      let e = currentErrno()
      if e == .interrupted || e == .connectionAbort { continue }
      if e == .wouldBlock || e == .resourceTemporarilyUnavailable { return nil }
      throw e
    }
  }

  /// The peer's credentials (SO_PEERCRED).
  /// The socket's pending error (SO_ERROR), which reading it clears; nil for none. A Unix
  /// stream socket whose peer closed with data still unread has ECONNRESET here.
  public static func pendingError(_ fd: FileDescriptor) -> Errno? {
    var value: CInt = 0
    var length = socklen_t(MemoryLayout<CInt>.size)
    guard getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &value, &length) == 0, value != 0 else { return nil }
    return Errno(rawValue: value)
  }

  public static func peerCredentials(_ fd: FileDescriptor) throws(Errno) -> (pid: Int32, uid: UInt32, gid: UInt32) {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
    if forkctl_peer_credentials(fd.rawValue, &pid, &uid, &gid) < 0 { throw currentErrno() }
    return (pid, uid, gid)
  }

  /// Sends bytes with descriptors attached (SCM_RIGHTS), MSG_NOSIGNAL. Returns how many bytes
  /// went; descriptors go with the first byte. Throws EAGAIN when non-blocking and full.
  /// The corresponding C function is `sendmsg`.
  public static func send(
    _ fd: FileDescriptor, _ bytes: ArraySlice<UInt8>, fds: [FileDescriptor] = [], nonblocking: Bool = false
  ) throws(Errno) -> Int {
    let raw = fds.map(\.rawValue)
    return try retrying {
      bytes.withUnsafeBytes { buf in
        raw.withUnsafeBufferPointer { f in
          forkctl_send_with_fds(
            fd.rawValue, buf.baseAddress, buf.count, f.baseAddress, CInt(f.count), nonblocking ? 1 : 0)
        }
      }
    }
  }

  /// What one recvmsg brought.
  public struct Received {
    public var bytes: [UInt8]
    public var fds: [FileDescriptor]
    /// More descriptors came than fit; the extra ones were closed.
    public var overflow: Bool
  }

  /// Receives up to `maxBytes` with any descriptors (close-on-exec). Empty bytes with no
  /// descriptors is end of file. The corresponding C function is `recvmsg`.
  public static func receive(_ fd: FileDescriptor, maxBytes: Int, nonblocking: Bool = false) throws(Errno) -> Received {
    var bytes = [UInt8](repeating: 0, count: maxBytes)
    var fds = [CInt](repeating: -1, count: WireLimits.maxFDsPerFrame)
    var nfds: CInt = 0
    var overflow: CInt = 0
    let n = try retrying {
      bytes.withUnsafeMutableBytes { buf in
        forkctl_recv_with_fds(
          fd.rawValue, buf.baseAddress, buf.count, &fds, CInt(WireLimits.maxFDsPerFrame), &nfds,
          &overflow, nonblocking ? 1 : 0)
      }
    }
    bytes.removeLast(maxBytes - n)
    return Received(
      bytes: bytes, fds: fds[0..<Int(nfds)].map { FileDescriptor(rawValue: $0) }, overflow: overflow != 0)
  }
}

extension Sys {
  /// A new socket pair, both ends close-on-exec. The corresponding C function is `socketpair`.
  public static func socketPair() throws(Errno) -> (FileDescriptor, FileDescriptor) {
    var fds: [CInt] = [-1, -1]
    let type = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
    _ = try retrying { socketpair(AF_UNIX, type, 0, &fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
  }
}
