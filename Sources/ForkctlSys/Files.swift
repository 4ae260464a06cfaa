import CForkctlShims
import Glibc

extension Sys {
  /// Opens a file close-on-exec (whether or not `options` says so); `permissions` apply only
  /// when `options` has `.create`. The corresponding C function is `open`.
  public static func open(
    _ path: String, _ access: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [],
    permissions: FilePermissions = [.ownerReadWrite]
  ) throws(Errno) -> FileDescriptor {
    let flags = access.rawValue | options.union(.closeOnExec).rawValue
    let fd = try retrying { Glibc.open(path, flags, permissions.rawValue) }
    return FileDescriptor(rawValue: fd)
  }

  /// The working directory's path. The corresponding C function is `getcwd`.
  public static func currentDirectoryPath() throws(Errno) -> String {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let ok = buffer.withUnsafeMutableBufferPointer { b in
      b.withMemoryRebound(to: CChar.self) { getcwd($0.baseAddress, $0.count) != nil }
    }
    guard ok else { throw currentErrno() }
    return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
  }

  /// An O_PATH descriptor of the current directory, which stays valid however the
  /// directory is renamed or however the path looks from another mount namespace.
  /// The corresponding C function is `open`.
  public static func openCurrentDirectory() throws(Errno) -> FileDescriptor {
    let fd = try retrying { forkctl_open_current_directory() }
    return FileDescriptor(rawValue: fd)
  }

  /// Opens or creates a file read-write, 0600 (a lock file). The corresponding C function is `open`.
  public static func openOrCreate(_ path: String) throws(Errno) -> FileDescriptor {
    try open(path, .readWrite, options: .create)
  }

  /// Opens or creates a file for appending, 0600 (a log). The corresponding C function is `open`.
  public static func openForAppending(_ path: String) throws(Errno) -> FileDescriptor {
    try open(path, .writeOnly, options: [.create, .append])
  }

  /// Creates `path` as a directory private to this user (0700), or checks that an existing
  /// one is: owned by us and not accessible to anybody else.
  /// With `searchableByOthers` the mode is 0711 instead (others may reach a socket inside
  /// by its name, but not list or change the directory), and an existing 0700 one is opened
  /// to 0711. An existing 0711 one is kept as it is without: it is as safe (the socket's own
  /// mode keeps others out) and a daemon with --allow-uid made it so, for users it admits.
  /// One that others may read or write is refused.
  /// The corresponding C functions are `mkdir`, `lstat` and `chmod`.
  public static func makePrivateDirectory(
    _ path: String, searchableByOthers: Bool = false
  ) throws(PrivateDirectoryError) {
    let wanted: mode_t = searchableByOthers ? 0o711 : 0o700
    var st = stat()
    var created = true
    do throws(Errno) {
      do {
        _ = try retrying { mkdir(path, wanted) }
      } catch  where error == .fileExists {
        created = false
      }
      _ = try retrying { lstat(path, &st) }
    } catch {
      throw PrivateDirectoryError(path: path, reason: .system(error))
    }
    if st.st_mode & S_IFMT != S_IFDIR { throw PrivateDirectoryError(path: path, reason: .notDirectory) }
    if st.st_uid != getuid() { throw PrivateDirectoryError(path: path, reason: .wrongOwner(st.st_uid)) }
    if st.st_mode & 0o066 != 0 || st.st_mode & 0o700 != 0o700 {
      throw PrivateDirectoryError(path: path, reason: .openToOthers(UInt32(st.st_mode & 0o777)))
    }
    // mkdir's mode went through the umask; an existing one is only ever opened, never closed.
    let mode = st.st_mode & 0o777
    if created ? mode != wanted : (searchableByOthers && mode != wanted) {
      do {
        try setMode(path, UInt32(wanted))
      } catch {
        throw PrivateDirectoryError(path: path, reason: .system(error))
      }
    }
  }

  /// Sets a file's permission bits. The corresponding C function is `chmod`.
  public static func setMode(_ path: String, _ mode: UInt32) throws(Errno) {
    _ = try retrying { chmod(path, mode_t(mode)) }
  }

  /// Removes a file; a missing file is not an error. The corresponding C function is `unlink`.
  public static func removeFile(_ path: String) throws(Errno) {
    do {
      _ = try retrying { unlink(path) }
    } catch  where error == .noSuchFileOrDirectory {}
  }

  /// Renames atomically. The corresponding C function is `rename`.
  public static func rename(_ from: String, _ to: String) throws(Errno) {
    _ = try retrying { Glibc.rename(from, to) }
  }

  /// Takes an exclusive lock on an open file, blocking. The corresponding C function is `flock`.
  public static func lockExclusive(_ fd: FileDescriptor) throws(Errno) {
    _ = try retrying { flock(fd.rawValue, LOCK_EX) }
  }

  /// Takes an exclusive lock on an open file within `timeoutMilliseconds` (-1: blocking);
  /// false when another holder kept it that long. flock(2) has no timeout of its own, so a
  /// held lock is tried again every 10 ms; only a contended start, which is rare, pays it.
  public static func lockExclusive(_ fd: FileDescriptor, timeoutMilliseconds: Int32) throws(Errno) -> Bool {
    guard timeoutMilliseconds >= 0 else {
      try lockExclusive(fd)
      return true
    }
    let deadline = monotonicMilliseconds() + Int64(timeoutMilliseconds)
    while true {
      do {
        _ = try retrying { flock(fd.rawValue, LOCK_EX | LOCK_NB) }
        return true
      } catch  where error == .wouldBlock {
        let left = deadline - monotonicMilliseconds()
        if left <= 0 { return false }
        var pause = timespec(tv_sec: 0, tv_nsec: Int(min(left, 10)) * 1_000_000)
        var rest = timespec()
        while nanosleep(&pause, &rest) != 0 && errno == EINTR { pause = rest }
      }
    }
  }

  /// Changes the working directory. The corresponding C function is `chdir`.
  public static func changeDirectory(_ path: String) throws(Errno) {
    _ = try retrying { chdir(path) }
  }

  /// Changes the working directory to the directory `fd` refers to. The corresponding C
  /// function is `fchdir`.
  public static func changeDirectory(to fd: FileDescriptor) throws(Errno) {
    _ = try retrying { fchdir(fd.rawValue) }
  }

  /// Whether `path` is a file this process may execute. The corresponding C function is
  /// `access`.
  public static func isExecutable(_ path: String) -> Bool { (try? retrying { access(path, X_OK) }) != nil }

  /// Whether `path` is, after symbolic links, a regular file this process may execute
  /// (access(2) grants X_OK on a searchable directory too). The corresponding C functions are
  /// `stat` and `access`.
  public static func isExecutableFile(_ path: String) -> Bool {
    var st = stat()
    guard (try? retrying { stat(path, &st) }) != nil, st.st_mode & S_IFMT == S_IFREG else { return false }
    return isExecutable(path)
  }
}

/// A directory that cannot be used as the private socket directory.
public struct PrivateDirectoryError: Error {
  public enum Reason: Sendable {
    case system(Errno)
    case notDirectory
    case wrongOwner(UInt32)
    case openToOthers(UInt32)
  }
  public var path: String
  public var reason: Reason

  public var description: String {
    switch reason {
    case .system(let e): return "cannot create directory \(path): \(Sys.describe(e))"
    case .notDirectory: return "\(path) exists and is not a directory"
    case .wrongOwner(let uid): return "directory \(path) belongs to uid \(uid), not to us"
    case .openToOthers(let mode):
      return "directory \(path) has mode \(String(mode, radix: 8)); it must be 0700"
    }
  }
}

extension Sys {
  /// What `fd` was opened as, by its path now (/proc/self/fd/N), for a message that names
  /// it: a directory deleted since reads "PATH (deleted)" (proc(5)).
  /// The corresponding C function is `readlink`.
  public static func path(of fd: FileDescriptor) throws(Errno) -> String {
    try symbolicLink("/proc/self/fd/\(fd.rawValue)")
  }

  /// The target of the symbolic link `path`, up to 4095 bytes. The corresponding C function
  /// is `readlink`.
  static func symbolicLink(_ path: String) throws(Errno) -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = try retrying { readlink(path, &buf, buf.count - 1) }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
