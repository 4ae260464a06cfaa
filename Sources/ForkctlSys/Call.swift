// The worker that calls a function instead of executing a program: made by the C library's
// fork (Sys.forkAdopted), prepared as the exec path prepares a program (Sys.prepareCall).
import CForkctlShims
import ForkctlWire
import Glibc

extension Sys {
  /// A new process made by the C library's fork(2), as library code needs (its atfork
  /// handlers, its own thread identity, robust mutexes), whose parent is this process's
  /// nearest subreaper rather than this process: it is forked by a short-lived helper
  /// (clone(CLONE_VM | CLONE_VFORK)) that exits at once. The atfork prepare and parent
  /// handlers run in that helper, on this process's memory. Returns 0 in the new process,
  /// its pid here. The corresponding C function is `forkctl_fork_adopted`.
  public static func forkAdopted() throws(Errno) -> Int32 {
    let pid = forkctl_fork_adopted()
    if pid < 0 { throw Errno(rawValue: errno) }
    return pid
  }

  /// Takes this process's signal actions as its own, before any library is loaded:
  /// `prepareCall` resets those still unchanged then (the Swift runtime's crash handlers
  /// among them), as exec would, and leaves a library's. The corresponding C function is
  /// `forkctl_record_signal_actions`.
  public static func recordOwnSignalActions() { forkctl_record_signal_actions() }

  /// Prepares this process to call a function as `execute` prepares it to run a program,
  /// without exec: `moves` placed (numbers nothing was sent for, above 2, are left as they
  /// are, the library's), stdio not given on /dev/null, `close` closed, `keep` lifted above
  /// the targets (new numbers written back), the working directory entered, `attributes`
  /// applied (this process's own signal actions reset, a library's kept), the environment
  /// replaced, and the
  /// process named `name`, as exec would name it after its program. Nil on success, else
  /// the step that failed.
  public static func prepareCall(
    moves: [(source: FileDescriptor, target: Int32)], workingDirectory: FileDescriptor?, environment: [[UInt8]],
    attributes: ProcessAttributes?, close: [FileDescriptor], keep: inout [FileDescriptor], name: [UInt8]
  ) -> ExecFailure? {
    var rawKeep = keep.map(\.rawValue)
    let rawClose = close.map(\.rawValue)
    let rawMoves = moves.map { forkctl_fd_move(src: $0.source.rawValue, target: $0.target) }
    let rc = withCStrings(environment) { envp in
      withCStrings([Array(name.prefix(15))]) { name in
        ProcessAttributes.withC(attributes) { attributes in
          forkctl_prepare_call(
            rawMoves, CInt(rawMoves.count), workingDirectory?.rawValue ?? -1, envp, rawClose, CInt(rawClose.count),
            &rawKeep, CInt(rawKeep.count), attributes, name[0])
        }
      }
    }
    keep = rawKeep.map { FileDescriptor(rawValue: $0) }
    return rc == 0 ? nil : ExecFailure(rawValue: rc)
  }

  /// The names of this process's threads (/proc/self/task/*/comm), the main thread first;
  /// while there is more than one, threads that are exiting get up to `graceMilliseconds`.
  public static func threadNames(graceMilliseconds: Int) -> [String] {
    var buffer = [CChar](repeating: 0, count: 16 * 1024)
    let n = forkctl_thread_names(&buffer, CInt(buffer.count), CInt(graceMilliseconds))
    guard n > 0 else { return [] }
    let bytes = buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }
    return bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
  }

  /// Writes out every stdio buffer, before a fork copies them. The corresponding C function
  /// is `fflush`.
  public static func flushStdio() { fflush(nil) }

  /// Ends the process as returning from main does: atexit handlers and destructors run, and
  /// stdio is flushed. The corresponding C function is `exit`.
  public static func exitNormally(_ code: Int32) -> Never { exit(code) }
}
