import CForkctlShims
import CLibBSD
import Glibc

/// A pidfile held locked for the life of the process (libbsd pidfile_open(3)): the lock, not
/// the file's existence, says a daemon is running, so a killed daemon never blocks the next.
public struct Pidfile: ~Copyable {
  private let handle: OpaquePointer

  public enum OpenError: Error {
    case running(pid: Int32)
    case system(Errno)
  }

  /// The corresponding C function is `pidfile_open`.
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
    _ = try retrying { pidfile_write(handle) }
  }

  /// Removes the file and releases the lock. The corresponding C function is `pidfile_remove`.
  public consuming func remove() {
    _ = pidfile_remove(handle)
    discard self
  }

  deinit { _ = pidfile_close(handle) }
}
