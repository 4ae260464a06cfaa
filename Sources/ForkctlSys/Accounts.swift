// User and group names to ids, for the daemon's --allow-uid and --allow-gid. The reentrant
// forms, with a buffer that grows on ERANGE, since the static ones share one buffer
// (getpwnam(3): "may point to a static area").
import Glibc

extension Sys {
  /// The user id of the user `name`, or nil when there is no such user.
  /// The corresponding C function is `getpwnam_r`.
  public static func userID(named name: String) throws(Errno) -> UInt32? {
    var entry = passwd()
    return try lookUp { buffer, size, result in getpwnam_r(name, &entry, buffer, size, &result) }
      .map { _ in entry.pw_uid }
  }

  /// The group id of the group `name`, or nil when there is no such group.
  /// The corresponding C function is `getgrnam_r`.
  public static func groupID(named name: String) throws(Errno) -> UInt32? {
    var entry = group()
    return try lookUp { buffer, size, result in getgrnam_r(name, &entry, buffer, size, &result) }
      .map { _ in entry.gr_gid }
  }

  /// Runs a `get*nam_r` call with a buffer large enough for it: () when it found the entry
  /// (which the call filled in), nil when there is none. getpwnam_r(3): a missing entry is 0
  /// with a null result, or, from some NSS modules, ENOENT, ESRCH, EBADF or EPERM.
  private static func lookUp<Entry>(
    _ call: (UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<Entry>?) -> Int32
  ) throws(Errno) -> Void? {
    var buffer = [CChar](repeating: 0, count: 1024)
    while true {
      var result: UnsafeMutablePointer<Entry>?
      let error = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count, &result) }
      switch error {
      case 0: return result == nil ? nil : ()
      case ERANGE where buffer.count < 1 << 20: buffer = [CChar](repeating: 0, count: buffer.count * 2)
      case EINTR: continue
      case ENOENT, ESRCH, EBADF, EPERM: return nil
      default: throw Errno(rawValue: error)
      }
    }
  }
}
