import CForkctlShims
import Glibc

/// Unix stream sockets and descriptor passing.
public enum UnixSocket {
  /// Longest path a sockaddr_un holds (unix(7)), without the terminating NUL.
  public static let maxPathLength = 107

  /// Longest socket path a forkctl daemon can listen on: it binds `PATH.PID.new` first and
  /// renames it into place, and a pid has up to 7 digits (pid_max is at most 2^22, proc(5)).
  public static let maxListeningPathLength = maxPathLength - ".4194304.new".utf8.count

  /// Why `path` is too long for a daemon's socket, or nil when it is not.
  public static func listeningPathProblem(_ path: String) -> String? {
    let n = path.utf8.count
    guard n > maxListeningPathLength else { return nil }
    return "socket path \(path) is \(n) bytes, more than the \(maxListeningPathLength) a daemon can listen on "
      + "(a Unix socket address holds \(maxPathLength), and the daemon binds PATH.PID.new first)"
  }

  private static func withAddress<R>(
    _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(Errno) -> R
  ) throws(Errno) -> R {
    let bytes = Array(path.utf8)
    if bytes.count > maxPathLength { throw Errno.fileNameTooLong }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      for (i, b) in bytes.enumerated() { raw[i] = b }
      raw[bytes.count] = 0
    }
    return try withUnsafePointer(to: &addr) { p throws(Errno) in
      try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a throws(Errno) in
        try body(a, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
  }

  static func makeSocket() throws(Errno) -> FileDescriptor {
    let fd = try retrying { socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0) }
    return FileDescriptor(rawValue: fd)
  }

  /// A listening socket bound to `path`. The corresponding C functions are `bind`, `listen`.
  public static func listen(at path: String, backlog: CInt = 512) throws(Errno) -> FileDescriptor {
    let fd = try makeSocket()
    do throws(Errno) {
      _ = try withAddress(path) { address, length throws(Errno) in
        try retrying { Glibc.bind(fd.rawValue, address, length) }
      }
      _ = try retrying { Glibc.listen(fd.rawValue, backlog) }
    } catch {
      fd.closeQuietly()
      throw error
    }
    return fd
  }

  /// A socket connected to `path`; with `timeoutMilliseconds` (-1: none), its connect, sends
  /// and receives bounded by `setTimeouts`. The corresponding C function is `connect`.
  public static func connect(to path: String, timeoutMilliseconds: Int32 = -1) throws(Errno) -> FileDescriptor {
    let fd = try makeSocket()
    do throws(Errno) {
      if timeoutMilliseconds >= 0 { try setTimeouts(fd, milliseconds: timeoutMilliseconds) }
      try withAddress(path) { address, length throws(Errno) in
        try connectCompleting(fd) { Glibc.connect(fd.rawValue, address, length) }
      }
    } catch {
      fd.closeQuietly()
      throw error
    }
    return fd
  }

  /// Makes `attempt` (a connect of `fd`) until the connection is made. An interrupted connect
  /// is not simply made again: POSIX lets the first attempt go on asynchronously after EINTR
  /// (connect(3p): "the connection request shall not be aborted, and the connection shall be
  /// established asynchronously"), and a new attempt then fails with EALREADY while it is in
  /// progress or EISCONN once it is done. Linux's Unix stream sockets abandon the attempt
  /// instead (unix_stream_connect), so there the next attempt simply starts over. EISCONN is
  /// success; EALREADY or EINPROGRESS waits until the socket is writable (connect(2),
  /// EINPROGRESS), takes the outcome from SO_ERROR, and asks again. Polling alone cannot
  /// decide, because a Unix stream socket that is not connected polls as hung up.
  static func connectCompleting(_ fd: FileDescriptor, _ attempt: () -> CInt) throws(Errno) {
    while true {
      if attempt() == 0 { return }
      switch currentErrno() {
      case .interrupted: continue
      case .socketIsConnected: return
      case .alreadyInProcess, .nowInProgress:
        var p = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
        _ = try retrying { poll(&p, 1, -1) }
        if let error = pendingError(fd) { throw error }
      case let error: throw error
      }
    }
  }

  /// Accepts one connection, non-blocking and close-on-exec; nil when none is waiting. A
  /// connection whose peer left before it was accepted is skipped (ECONNABORTED, accept(2)).
  /// The corresponding C function is `accept4`.
  public static func accept(_ listener: FileDescriptor) throws(Errno) -> FileDescriptor? {
    while true {
      do {
        return FileDescriptor(rawValue: try retrying { forkctl_accept(listener.rawValue) })
      } catch  where error == .connectionAbort {
        continue
      } catch  where error == .wouldBlock {
        return nil
      }
    }
  }

  /// The socket's pending error (SO_ERROR), which reading it clears; nil for none. A Unix
  /// stream socket whose peer closed with data still unread has ECONNRESET here.
  /// The corresponding C function is `getsockopt`.
  public static func pendingError(_ fd: FileDescriptor) -> Errno? {
    var value: CInt = 0
    var length = socklen_t(MemoryLayout<CInt>.size)
    guard getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &value, &length) == 0, value != 0 else { return nil }
    return Errno(rawValue: value)
  }

  /// The peer's credentials (SO_PEERCRED). The corresponding C function is `getsockopt`.
  public static func peerCredentials(_ fd: FileDescriptor) throws(Errno) -> (pid: Int32, uid: UInt32, gid: UInt32) {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
    _ = try retrying { forkctl_peer_credentials(fd.rawValue, &pid, &uid, &gid) }
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

  /// Receives up to `maxBytes` with up to `maxFDs` descriptors (close-on-exec); any more are
  /// closed and `overflow` set. Empty bytes with no descriptors is end of file.
  /// The corresponding C function is `recvmsg`.
  public static func receive(
    _ fd: FileDescriptor, maxBytes: Int, maxFDs: Int, nonblocking: Bool = false
  ) throws(Errno) -> Received {
    var bytes = [UInt8](repeating: 0, count: maxBytes)
    var fds = [CInt](repeating: -1, count: maxFDs)
    var nfds: CInt = 0
    var overflow: CInt = 0
    let n = try retrying {
      bytes.withUnsafeMutableBytes { buf in
        forkctl_recv_with_fds(
          fd.rawValue, buf.baseAddress, buf.count, &fds, CInt(maxFDs), &nfds,
          &overflow, nonblocking ? 1 : 0)
      }
    }
    bytes.removeLast(maxBytes - n)
    return Received(
      bytes: bytes, fds: fds[0..<Int(nfds)].map { FileDescriptor(rawValue: $0) }, overflow: overflow != 0)
  }
}

extension UnixSocket {
  /// A datagram socket bound to the abstract address `name` (unix(7): no file, gone with the
  /// socket), non-blocking, close-on-exec, with SO_PASSCRED so that each datagram says who
  /// sent it. sd_notify(3) takes it as NOTIFY_SOCKET=@NAME.
  public static func notifySocket(_ name: [UInt8]) throws(Errno) -> FileDescriptor {
    FileDescriptor(
      rawValue: try retrying { name.withUnsafeBufferPointer { forkctl_notify_socket($0.baseAddress, $0.count) } })
  }

  /// Sends `bytes` as one datagram to `address`, a NOTIFY_SOCKET value: a path, or `@NAME`
  /// for an abstract address, from a socket of its own.
  public static func sendDatagram(_ bytes: [UInt8], to address: [UInt8]) throws(Errno) {
    _ = try retrying {
      address.withUnsafeBufferPointer { a in
        bytes.withUnsafeBytes { b in
          a.withMemoryRebound(to: CChar.self) { forkctl_send_notify($0.baseAddress, $0.count, b.baseAddress, b.count) }
        }
      }
    }
  }

  /// Up to `lengths.count` (at most 64) datagrams without blocking, in one system call: the
  /// i-th in `buffer[i * slot ..< i * slot + lengths[i]]` (a longer one is cut to `slot`, and
  /// descriptors sent with them are dropped: no control data is taken); how many came, EAGAIN
  /// when none is waiting. The buffers are the caller's to reuse. The corresponding C
  /// function is `recvmmsg`.
  public static func receiveDatagrams(
    _ fd: FileDescriptor, into buffer: inout [UInt8], slot: Int, lengths: inout [Int]
  ) throws(Errno) -> Int {
    precondition(buffer.count >= slot * lengths.count && lengths.count <= 64)
    return Int(
      try retrying {
        buffer.withUnsafeMutableBufferPointer { b in
          lengths.withUnsafeMutableBufferPointer { l in
            forkctl_recv_datagrams(fd.rawValue, b.baseAddress, slot, CInt(l.count), l.baseAddress)
          }
        }
      })
  }

  /// One datagram of a socket made by `notifySocket`, up to `maxBytes` (the rest of a longer
  /// one is dropped), and its sender's uid; EAGAIN when none is waiting.
  public static func receiveDatagram(_ fd: FileDescriptor, maxBytes: Int) throws(Errno) -> (
    bytes: [UInt8], uid: UInt32?
  ) {
    var bytes = [UInt8](repeating: 0, count: maxBytes)
    var uid = uid_t.max
    let n = try retrying {
      bytes.withUnsafeMutableBytes { forkctl_recv_credentials(fd.rawValue, $0.baseAddress, $0.count, &uid) }
    }
    bytes.removeLast(maxBytes - n)
    return (bytes, uid == uid_t.max ? nil : uid)
  }
}

extension Sys {
  /// A new socket pair, both ends close-on-exec: a stream, or with `datagram` one whose
  /// every write is one message (a pool worker's notify socket). The corresponding C
  /// function is `socketpair`.
  public static func socketPair(datagram: Bool = false) throws(Errno) -> (FileDescriptor, FileDescriptor) {
    var fds: [CInt] = [-1, -1]
    let type = CInt((datagram ? SOCK_DGRAM : SOCK_STREAM).rawValue) | CInt(SOCK_CLOEXEC.rawValue)
    _ = try retrying { socketpair(AF_UNIX, type, 0, &fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
  }
}
