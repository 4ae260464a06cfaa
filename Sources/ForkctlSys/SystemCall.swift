import CForkctlShims
import Glibc

@_exported import SystemPackage

@inline(__always)
func currentErrno() -> Errno { Errno(rawValue: Glibc.errno) }

/// Repeats `body` while it fails with EINTR.
@inline(__always)
func retrying<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
  while true {
    let r = body()
    if r >= 0 { return r }
    let e = currentErrno()
    if e != .interrupted { throw e }
  }
}

/// Process-wide calls, one file per topic in this module.
public enum Sys {
  /// Text of errno, as strerror gives it.
  public static func describe(_ e: Errno) -> String { String(cString: strerror(e.rawValue)) }
}
