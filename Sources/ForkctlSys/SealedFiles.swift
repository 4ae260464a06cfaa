import CForkctlShims
import Glibc

extension Sys {
  /// A new anonymous file named `name` holding `contents`, sealed read-only for good (no write,
  /// no resize, no seal changed after: memfd_create(2), "File sealing"), close-on-exec, its
  /// offset at 0. A process given it can read it but never change it, so one copy serves every
  /// process it is handed to. The corresponding C functions are `memfd_create` and `fcntl`.
  public static func sealedFile(name: String, contents: [UInt8]) throws(Errno) -> FileDescriptor {
    let fd = FileDescriptor(rawValue: try retrying { forkctl_memfd_create(name) })
    do {
      try fd.writeFully(contents)
      _ = try retrying { forkctl_seal_read_only(fd.rawValue) }
      _ = try retrying { lseek(fd.rawValue, 0, SEEK_SET) }
    } catch {
      fd.closeQuietly()
      throw error
    }
    return fd
  }
}
