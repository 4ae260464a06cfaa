// forkctl's one policy for system calls, which every wrapper in this module follows:
//
// - Each libc call is wrapped once, throws `Errno` (typed), and its doc comment ends with the
//   C function it calls.
// - A call that fails with EINTR (a handler installed without SA_RESTART ran, or the call is
//   one the kernel never restarts: signal(7), "Interruption of system calls and library
//   functions by signal handlers") is made again, through `retrying`. Callers never see EINTR.
// - Except `close`, never repeated: Linux releases the descriptor before anything can
//   interrupt it, so a second close could close a number another thread has just been given
//   (close(2), "Dealing with error returns from close()"). EBADF from close is our bug and traps.
// - Except `connect`, whose interrupted attempt may go on asynchronously (UnixSocket.connect).
// - C helpers that loop on their own (forkctl_read_signalfd) follow the same rule in C.
import CForkctlShims
import Glibc
@_exported import SystemPackage

@inline(__always)
func currentErrno() -> Errno { Errno(rawValue: Glibc.errno) }

/// Makes the call `body` until it does not fail with EINTR: its result when it is not
/// negative, else the errno it left.
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
  /// Text of errno, as strerror gives it. The corresponding C function is `strerror`.
  public static func describe(_ e: Errno) -> String { String(cString: strerror(e.rawValue)) }
}
