import CForkctlShims
import Glibc

/// What limits a process beyond its user id: the namespaces it lives in, its seccomp mode,
/// no_new_privs and its capability sets, as /proc/PID/status and /proc/PID/ns show them
/// (proc(5)). The daemon reads them for each client, so that a program it starts for the
/// client never has more than the client itself.
public struct ProcessRestrictions: Equatable, Sendable {
  /// The namespaces checked, by their /proc/PID/ns name.
  public static let namespaceKinds = ["mnt", "user", "pid", "net", "ipc", "uts", "cgroup", "time"]

  /// Each namespace's inode, by name.
  public var namespaces: [String: UInt64]
  /// Seccomp: 0 none, 1 strict, 2 filter; and how many filters.
  public var seccompMode: Int
  public var seccompFilters: Int
  public var noNewPrivileges: Bool
  public var capabilities: CapabilitySets

  public init(
    namespaces: [String: UInt64], seccompMode: Int, seccompFilters: Int, noNewPrivileges: Bool,
    capabilities: CapabilitySets
  ) {
    self.namespaces = namespaces
    self.seccompMode = seccompMode
    self.seccompFilters = seccompFilters
    self.noNewPrivileges = noNewPrivileges
    self.capabilities = capabilities
  }

  /// Reads them for `pid`.
  public static func of(pid: Int32) throws(Errno) -> ProcessRestrictions {
    let status = try Sys.readText("/proc/\(pid)/status")
    var fields: [Substring: Substring] = [:]
    for line in status.split(separator: "\n") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      fields[line[..<colon]] = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
    }
    func hex(_ key: Substring) -> UInt64 { fields[key].flatMap { UInt64($0, radix: 16) } ?? 0 }
    func int(_ key: Substring) -> Int { fields[key].flatMap { Int($0) } ?? 0 }
    var namespaces: [String: UInt64] = [:]
    for kind in namespaceKinds {
      // A kernel without one (time: Linux 5.6) has no link: nothing to compare.
      if let inode = try? Sys.inode(ofLink: "/proc/\(pid)/ns/\(kind)") { namespaces[kind] = inode }
    }
    return ProcessRestrictions(
      namespaces: namespaces, seccompMode: int("Seccomp"), seccompFilters: int("Seccomp_filters"),
      noNewPrivileges: int("NoNewPrivs") != 0,
      capabilities: CapabilitySets(
        inheritable: hex("CapInh"), permitted: hex("CapPrm"), effective: hex("CapEff"), bounding: hex("CapBnd"),
        ambient: hex("CapAmb")))
  }

  /// The namespaces of `other` that differ from these, or cannot be read for it while they
  /// can for these (a peer that has exited and is a zombie shows none: it cannot be told
  /// apart from one that is elsewhere).
  public func differingNamespaces(_ other: ProcessRestrictions) -> [String] {
    Self.namespaceKinds.filter { kind in
      guard let mine = namespaces[kind] else { return false }
      return other.namespaces[kind] != mine
    }
  }
}

/// The five capability sets of a process, one bit per capability (capabilities(7)).
public struct CapabilitySets: Equatable, Sendable {
  public var inheritable: UInt64
  public var permitted: UInt64
  public var effective: UInt64
  public var bounding: UInt64
  public var ambient: UInt64

  public init(inheritable: UInt64, permitted: UInt64, effective: UInt64, bounding: UInt64, ambient: UInt64) {
    self.inheritable = inheritable
    self.permitted = permitted
    self.effective = effective
    self.bounding = bounding
    self.ambient = ambient
  }

  /// Each set no larger than the same set of `other`.
  public func isWithin(_ other: CapabilitySets) -> Bool {
    inheritable & ~other.inheritable == 0 && permitted & ~other.permitted == 0
      && effective & ~other.effective == 0 && bounding & ~other.bounding == 0 && ambient & ~other.ambient == 0
  }
}

extension UnixSocket {
  /// The peer of a connected socket and its restrictions, read race-free and with one
  /// descriptor at a time: /proc of the pid SO_PEERCRED names, then the pidfd of
  /// SO_PEERPIDFD (Linux 6.5; before that, pidfd_open of that pid) checked to be alive.
  /// That pidfd names the process that connected, whatever has happened to its pid number
  /// since, and a pid number is not given to another process while its holder lives: so
  /// what was read was that process's. Throws ESRCH when it has exited.
  public static func peerRestrictions(_ fd: FileDescriptor) throws(Errno) -> ProcessRestrictions {
    let pid = try peerCredentials(fd).pid
    let restrictions = try ProcessRestrictions.of(pid: pid)
    let pidfd: FileDescriptor
    do {
      pidfd = FileDescriptor(rawValue: try retrying { forkctl_peer_pidfd(fd.rawValue) })
    } catch {
      guard error == .protocolNotAvailable else { throw error }
      pidfd = try Sys.openPIDFD(pid)
    }
    defer { pidfd.closeQuietly() }
    if forkctl_pidfd_send_signal(pidfd.rawValue, 0) < 0 { throw currentErrno() }
    return restrictions
  }
}

extension Sys {
  /// The inode of what a symbolic link in /proc points to (a namespace), by stat(2).
  public static func inode(ofLink path: String) throws(Errno) -> UInt64 {
    var st = stat()
    if stat(path, &st) < 0 { throw currentErrno() }
    return UInt64(st.st_ino)
  }

  /// A whole small text file (from /proc).
  public static func readText(_ path: String) throws(Errno) -> String {
    let fd = try open(path, .readOnly)
    defer { fd.closeQuietly() }
    return String(decoding: try fd.readAll(), as: UTF8.self)
  }
}
