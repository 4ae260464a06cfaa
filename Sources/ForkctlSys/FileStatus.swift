import Glibc

/// What lstat(2) says of a path, which is not followed if it is a symbolic link.
public struct LinkStatus: Sendable {
  public var isDirectory: Bool
  public var isSymbolicLink: Bool
  public var owner: UInt32
}

extension Sys {
  /// The status of `path` itself, a symbolic link not followed. The corresponding C
  /// function is `lstat`.
  public static func linkStatus(_ path: String) throws(Errno) -> LinkStatus {
    var st = stat()
    _ = try retrying { lstat(path, &st) }
    return LinkStatus(
      isDirectory: st.st_mode & S_IFMT == S_IFDIR, isSymbolicLink: st.st_mode & S_IFMT == S_IFLNK, owner: st.st_uid)
  }

  /// The size in bytes of the file `fd` refers to. The corresponding C function is `fstat`.
  public static func fileSize(_ fd: FileDescriptor) throws(Errno) -> Int64 {
    var st = stat()
    _ = try retrying { fstat(fd.rawValue, &st) }
    return Int64(st.st_size)
  }
}
