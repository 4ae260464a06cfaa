import CForkctlShims
import Glibc

/// What a service manager hands a daemon: listening sockets by socket activation
/// (sd_listen_fds(3)) and a socket to report readiness to (sd_notify(3)).
public enum ServiceManager {
  /// The first descriptor passed by socket activation (SD_LISTEN_FDS_START, sd_listen_fds(3)).
  public static let firstListenDescriptor: CInt = 3

  /// The descriptors passed to this process by socket activation, with their names
  /// (LISTEN_FDNAMES; "unknown" for one it does not name), each made close-on-exec as
  /// sd_listen_fds(3) does. None when LISTEN_PID is not this process: the variables were
  /// inherited from a parent they were meant for, and the descriptors are not ours. Unsets
  /// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES either way, so that no child sees them
  /// (sd_listen_fds with unset_environment).
  public static func takeListenDescriptors() -> [(fd: FileDescriptor, name: String)] {
    let pid = Sys.environmentValue("LISTEN_PID")
    let count = Sys.environmentValue("LISTEN_FDS")
    let names = Sys.environmentValue("LISTEN_FDNAMES")?.split(separator: ":", omittingEmptySubsequences: false)
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
    guard let pid, Int32(pid) == Sys.processID, let count, let n = Int32(count), n > 0 else { return [] }
    return (0..<n).map { i in
      let fd = firstListenDescriptor + i
      forkctl_set_cloexec(fd)
      let name = names.flatMap { Int(i) < $0.count ? String($0[Int(i)]) : nil } ?? "unknown"
      return (FileDescriptor(rawValue: fd), name)
    }
  }

  /// Takes NOTIFY_SOCKET out of the environment (no child may report as this process) and
  /// returns it: a path, or `@NAME` for an abstract address (sd_notify(3)).
  public static func takeNotifyAddress() -> [UInt8]? {
    let address = Sys.environmentValue("NOTIFY_SOCKET")
    unsetenv("NOTIFY_SOCKET")
    guard let address, !address.isEmpty else { return nil }
    return Array(address.utf8)
  }
}

/// A datagram socket connected to the service manager's NOTIFY_SOCKET, non-blocking and
/// close-on-exec: the daemon reports "READY=1", "STATUS=..." and "STOPPING=1" on it.
public struct ServiceNotifier: Sendable {
  public let fd: FileDescriptor

  /// The corresponding C functions are `socket` and `connect`.
  public init(address: [UInt8]) throws(Errno) {
    fd = FileDescriptor(
      rawValue: try retrying {
        address.withUnsafeBufferPointer { a in
          a.withMemoryRebound(to: CChar.self) { forkctl_notify_connect($0.baseAddress, $0.count) }
        }
      })
  }

  /// Sends `fields` ("NAME=VALUE" lines) as one datagram, never blocking. Best effort: a
  /// manager that stopped reading or went away costs the daemon nothing but the message.
  /// The corresponding C function is `send`.
  public func send(_ fields: [String]) {
    let bytes = Array(fields.joined(separator: "\n").utf8)
    _ = try? retrying {
      bytes.withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
    }
  }
}

extension UnixSocket {
  /// Why `fd` is not a listening Unix stream socket, or nil when it is (SO_DOMAIN, SO_TYPE,
  /// SO_ACCEPTCONN, socket(7)). The corresponding C function is `getsockopt`.
  public static func listeningSocketProblem(_ fd: FileDescriptor) -> String? {
    func option(_ name: CInt) -> CInt? {
      var value: CInt = 0
      var length = socklen_t(MemoryLayout<CInt>.size)
      return getsockopt(fd.rawValue, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
    }
    guard let domain = option(SO_DOMAIN) else {
      return "descriptor \(fd.rawValue) is not a socket (\(Sys.describe(currentErrno())))"
    }
    if domain != AF_UNIX { return "descriptor \(fd.rawValue) is a socket of family \(domain), not AF_UNIX" }
    if option(SO_TYPE) != CInt(SOCK_STREAM.rawValue) {
      return "descriptor \(fd.rawValue) is a Unix socket but not SOCK_STREAM"
    }
    if option(SO_ACCEPTCONN) != 1 { return "descriptor \(fd.rawValue) is a Unix stream socket that is not listening" }
    return nil
  }

  /// The path `fd` is bound to; nil for an unbound or abstract socket.
  /// The corresponding C function is `getsockname`.
  public static func boundPath(_ fd: FileDescriptor) throws(Errno) -> String? {
    var addr = sockaddr_un()
    var length = socklen_t(MemoryLayout<sockaddr_un>.size)
    _ = try withUnsafeMutablePointer(to: &addr) { p throws(Errno) in
      try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a throws(Errno) in
        try retrying { getsockname(fd.rawValue, a, &length) }
      }
    }
    let pathLength = Int(length) - MemoryLayout<sa_family_t>.size
    return withUnsafeBytes(of: &addr.sun_path) { raw in
      guard pathLength > 0, raw[0] != 0 else { return nil }
      let bytes = raw.prefix(min(pathLength, raw.count))
      return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
  }
}
