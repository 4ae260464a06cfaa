// A function worker (issue 12): forked by glibc's own fork() and prepared as a program is
// before its exec, then the library's function runs in it.
import CForkctlShims
import ForkctlWire
import Glibc

extension Sys {
  /// A fork of this process made by glibc's fork(), called in a clone(CLONE_VM | CLONE_VFORK)
  /// helper that then exits: the new process is a real fork (the atfork child handlers of
  /// loaded libraries run, pthread_self() and the cached thread id are its own, robust mutexes
  /// work) and, once this returns in either process, a child of the nearest child subreaper
  /// (the daemon) rather than of this process. Returns 0 in the new process, with this
  /// thread's signal mask, and the new pid here.
  ///
  /// Caveat: the atfork prepare and parent handlers run in the helper, which shares this
  /// process's memory while it is suspended. A parent handler that starts a thread starts it
  /// in the helper, which then exits; a template must have one thread anyway.
  /// The corresponding C function is `fork`, through `forkctl_fork_adopted`.
  public static func forkAdopted() throws(Errno) -> Int32 {
    try retrying { forkctl_fork_adopted() }
  }

  /// The names of this process's threads (/proc/self/task/*/comm, proc(5)). While there is
  /// more than one, it looks again for up to `graceMilliseconds` before answering: a thread
  /// that is exiting is still listed for a moment after it has been joined.
  public static func threadNames(graceMilliseconds: Int) -> [String] {
    let deadline = monotonicMilliseconds() + Int64(graceMilliseconds)
    var names = readThreadNames()
    while names.count > 1 && monotonicMilliseconds() < deadline {
      usleep(2000)
      names = readThreadNames()
    }
    return names
  }

  private static func readThreadNames() -> [String] {
    guard let dir = opendir("/proc/self/task") else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      guard tid.first?.isNumber == true, let fd = try? open("/proc/self/task/\(tid)/comm", .readOnly) else { continue }
      defer { fd.closeQuietly() }
      // A thread that ended since the listing has no comm to read: it is not counted.
      guard let bytes = try? fd.readAll(limit: 64), !bytes.isEmpty else { continue }
      names.append(String(decoding: bytes.last == UInt8(ascii: "\n") ? bytes.dropLast() : bytes[...], as: UTF8.self))
    }
    return names
  }

  /// Prepares this process, a fork of a template that loaded a library, to call one of its
  /// functions as `execute` prepares a program for its exec, without the exec: `moves` are
  /// placed (any source, or any of `close`, may have a target's number), stdio not given is
  /// /dev/null, the working directory is changed, the signal actions this process had before
  /// its first `openLibrary` are reset (a library's own handlers stay), `attributes` are
  /// applied (nil: a process group of its own and an empty mask; a signal the caller ignores
  /// is ignored only where the library has no handler). Descriptors other than the targets
  /// and `close` are left alone: what the library opened is its state.
  ///
  /// Then `environ` becomes `environment`, the process is named `processName` (no '/': the
  /// daemon reads a name without one as "its program started", `hasExecuted`), and `close`
  /// (forkctl's own descriptors: the received sources, the control socket, the status pipe)
  /// is closed and emptied. Returns nil; or the step that failed and why, with `close` still
  /// open on the numbers written back to it, to report through, and every signal blocked.
  /// The corresponding C function is `forkctl_prepare_call`.
  public static func prepareCall(
    moves: [(source: FileDescriptor, target: Int32)], workingDirectory: FileDescriptor?, environment: [[UInt8]],
    attributes: ProcessAttributes? = nil, close: inout [FileDescriptor], processName: [UInt8]
  ) -> ExecFailure? {
    precondition(!processName.contains(UInt8(ascii: "/")), "a process name with '/' reads as not started")
    let rawMoves = moves.map { forkctl_fd_move(src: $0.source.rawValue, target: $0.target) }
    var rawClose = close.map(\.rawValue)
    // Never freed: it becomes environ. After a failure the worker only reports it and exits.
    let envp = permanentCStrings(environment)
    let rc = withCStrings([processName]) { name in
      ProcessAttributes.withC(attributes) { attributes in
        forkctl_prepare_call(
          rawMoves, CInt(rawMoves.count), workingDirectory?.rawValue ?? -1, &rawClose, CInt(rawClose.count), envp,
          attributes, name[0])
      }
    }
    if rc == 0 {
      close = []
      return nil
    }
    close = rawClose.map { FileDescriptor(rawValue: $0) }
    return ExecFailure(rawValue: rc)
  }

  /// Writes out every stdio buffer of this process, before a fork copies them into a worker
  /// that would write them again (cpython gh-98552). The corresponding C function is `fflush`.
  public static func flushStdio() { fflush(nil) }
}
