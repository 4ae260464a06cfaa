import CForkctlShims
import Glibc

extension Sys {
  /// This process's id. The corresponding C function is `getpid`.
  public static var processID: Int32 { getpid() }
  /// This process's real user id. The corresponding C function is `getuid`.
  public static var userID: UInt32 { getuid() }

  /// Sends `signal` to `pid`. The corresponding C function is `kill`.
  public static func kill(_ pid: Int32, _ signal: Signal) throws(Errno) {
    _ = try retrying { Glibc.kill(pid, signal.rawValue) }
  }

  /// Sends `signal` to the process group `pid` leads, or to `pid` alone while it leads
  /// none yet. The corresponding C function is `killpg`.
  public static func signalGroup(_ pid: Int32, _ signal: Signal) throws(Errno) {
    if Glibc.kill(-pid, signal.rawValue) == 0 { return }
    _ = try retrying { Glibc.kill(pid, signal.rawValue) }
  }

  /// Sends `signal` to every member of process group `group`, and to nobody else: never to a
  /// process that merely has that pid. The corresponding C function is `killpg`.
  public static func signalOnlyGroup(_ group: Int32, _ signal: Signal) throws(Errno) {
    guard group > 1 else { throw Errno.invalidArgument }
    _ = try retrying { Glibc.kill(-group, signal.rawValue) }
  }

  /// Whether a process other than its leader is in process group `group` (a scan of /proc,
  /// proc(5)); nil when /proc cannot be read.
  public static func groupHasOtherMembers(_ group: Int32) -> Bool? {
    switch forkctl_group_has_other_members(group) {
    case 1: true
    case 0: false
    default: nil
    }
  }

  /// A child that has exited, and its status, left unreaped so that its pid names it and no
  /// other process until `reapChild(_:)`: nil when none has exited.
  /// The corresponding C function is `waitid`, with WNOWAIT.
  public static func exitedChild() throws(Errno) -> (pid: Int32, status: ExitStatusValue)? {
    var status: CInt = 0
    let pid: Int32
    do {
      pid = try retrying { forkctl_exited_child(0, &status) }
    } catch {
      // ECHILD: no children at all, which is the same as none exited.
      if error == .noChildProcess { return nil }
      throw error
    }
    return pid == 0 ? nil : (pid, ExitStatusValue(waitStatus: status))
  }

  /// Reaps child `pid`, which has exited (`exitedChild`). The corresponding C function is
  /// `waitpid`.
  public static func reapChild(_ pid: Int32) throws(Errno) {
    var status: CInt = 0
    _ = try retrying { waitpid(pid, &status, WNOHANG) }
  }

  /// Whether `pid` is a child of this process that has not been reaped: running, stopped or
  /// exited. The corresponding C function is `waitid`, with WNOWAIT.
  public static func isUnreapedChild(_ pid: Int32) -> Bool {
    var status: CInt = 0
    return pid > 0 && (try? retrying { forkctl_exited_child(pid, &status) }) != nil
  }

  /// Waits for one specific child. The corresponding C function is `waitpid`.
  public static func waitChild(_ pid: Int32) throws(Errno) -> ExitStatusValue {
    var status: CInt = 0
    _ = try retrying { waitpid(pid, &status, 0) }
    return ExitStatusValue(waitStatus: status)
  }

  /// Makes this process the reaper of every orphaned descendant (PR_SET_CHILD_SUBREAPER).
  /// The corresponding C function is `prctl`.
  public static func becomeChildSubreaper() throws(Errno) {
    _ = try retrying { forkctl_set_child_subreaper() }
  }

  /// A descriptor that refers to process `pid` for as long as it is open, even after it
  /// has been reaped (close-on-exec). The corresponding C function is `pidfd_open`.
  public static func openPIDFD(_ pid: Int32) throws(Errno) -> FileDescriptor {
    let fd = try retrying { forkctl_pidfd_open(pid) }
    return FileDescriptor(rawValue: fd)
  }

  /// Sends `signal` to the process `pidfd` refers to, which cannot be another process with
  /// the same pid (pidfd_send_signal(2)); ESRCH once it has exited. The corresponding C
  /// function is `pidfd_send_signal`.
  public static func signal(pidfd: FileDescriptor, _ signal: Signal) throws(Errno) {
    _ = try retrying { forkctl_pidfd_send_signal(pidfd.rawValue, signal.rawValue) }
  }

  /// Whether the process `pidfd` refers to has ended (exited, reaped or not): a pidfd is
  /// readable once it has (pidfd_open(2), NOTES). Does not wait. The corresponding C function
  /// is `poll`.
  public static func hasEnded(pidfd: FileDescriptor) -> Bool {
    var p = pollfd(fd: pidfd.rawValue, events: Int16(POLLIN), revents: 0)
    // A poll that fails on our own descriptor is a bug; 0 ready means alive.
    return (try? retrying { poll(&p, 1, 0) }) ?? 0 > 0
  }

  /// Names this process (the name `ps -o comm` and /proc/PID/stat show, truncated to 15
  /// bytes); a name with a '/' is one no exec gives. The corresponding C function is `prctl`.
  public static func setProcessName(_ name: String) { forkctl_set_process_name(name) }

  /// Whether `pid`, a process whose close-on-exec descriptors reached end of file, exec'd
  /// rather than died first: true when its name no longer has the '/' of `setProcessName`
  /// (execve sets it to the file's base name, proc(5)) or it is not exiting (then it is in
  /// execve); nil when /proc cannot tell (not mounted, or the process reaped).
  public static func hasExecuted(_ pid: Int32) -> Bool? {
    switch forkctl_has_executed(pid) {
    case 1: true
    case 0: false
    default: nil
    }
  }

  /// Makes this process the leader of a new process group. The corresponding C function
  /// is `setpgid`.
  public static func makeProcessGroup() { _ = setpgid(0, 0) }

  /// Stops this process as SIGSTOP does. The corresponding C function is `raise`.
  public static func stopSelf() { _ = raise(SIGSTOP) }

  /// The path of the running executable (/proc/self/exe). The corresponding C function is `readlink`.
  public static func executablePath() throws(Errno) -> String {
    try symbolicLink("/proc/self/exe")
  }

  /// The number of threads of this process (/proc/self/stat).
  public static func threadCount() -> Int { Int(forkctl_thread_count()) }

  /// clone(CLONE_PARENT): returns 0 in the child and the child's pid in the parent.
  /// The corresponding C function is `clone`.
  public static func forkAsSibling() throws(Errno) -> Int32 {
    let pid = try retrying { forkctl_clone_parent() }
    return pid
  }

  /// Forks into the background: returns the child's pid in the parent, 0 in the child,
  /// which starts a new session. Only for a single-threaded process at start-up.
  /// The corresponding C function is `fork`.
  public static func forkIntoBackground() throws(Errno) -> Int32 {
    let pid = try retrying { fork() }
    if pid == 0 { _ = setsid() }
    return pid
  }

  /// Ends the process at once, without running atexit handlers (for a child whose exec failed).
  /// The corresponding C function is `_exit`.
  public static func exitImmediately(_ code: Int32) -> Never { _exit(code) }

  /// Ends the process normally. The corresponding C function is `exit`.
  public static func exitProcess(_ code: Int32) -> Never { exit(code) }
}

/// A raw wait status decoded.
public struct ExitStatusValue: Equatable, Sendable {
  public var exitCode: Int32?
  public var signal: Int32?
  public var coreDumped: Bool

  init(waitStatus s: CInt) {
    if forkctl_wifexited(s) != 0 {
      exitCode = forkctl_wexitstatus(s)
      signal = nil
      coreDumped = false
    } else {
      exitCode = nil
      signal = forkctl_wifsignaled(s) != 0 ? forkctl_wtermsig(s) : 0
      coreDumped = forkctl_wcoredump(s) != 0
    }
  }
}

extension Sys {
  /// The process `pidfd` refers to, and that process's parent: the pid from the pidfd's
  /// /proc/self/fdinfo (its `Pid:` line, -1 once the process has been reaped: proc(5)), the
  /// parent from /proc/PID/stat. Nil when either cannot be read or the process has been reaped.
  /// The corresponding C function is `read`.
  public static func processAndParent(ofPIDFD pidfd: FileDescriptor) -> (pid: Int32, parent: Int32)? {
    guard let info = try? readProcessFile("/proc/self/fdinfo/\(pidfd.rawValue)", limit: 4096) else { return nil }
    let line = info.split(separator: UInt8(ascii: "\n")).first { $0.starts(with: Array("Pid:".utf8)) }
    guard let line,
      let pid = Int32(String(decoding: line.dropFirst(4), as: UTF8.self).filter { $0 != "\t" && $0 != " " }),
      pid > 0,
      let stat = try? readProcessFile("/proc/\(pid)/stat", limit: 4096),
      // The name in parentheses may hold anything: the fields follow its last ')'.
      let close = stat.lastIndex(of: UInt8(ascii: ")"))
    else { return nil }
    let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
    guard fields.count > 1, let parent = Int32(String(decoding: fields[1], as: UTF8.self)) else { return nil }
    return (pid, parent)
  }
}
