// What a template says when it cannot create a process (issue 11, item 16a): the step that
// failed, not the program, which never came into it. fork(2), clone(2): EAGAIN is a limit on
// processes (the user's RLIMIT_NPROC, a pids cgroup, kernel.pid_max or threads-max), ENOMEM
// the kernel's memory.
import ForkctlSys

extension Template {
  /// "cannot create a process: ..." with the limit that EAGAIN means named.
  static func cannotCreateProcess(_ error: Errno) -> [UInt8] {
    let hint =
      error == .resourceTemporarilyUnavailable
      ? " (a limit on processes is reached: the user's RLIMIT_NPROC, a pids cgroup, or kernel.pid_max)" : ""
    return Array("the template cannot create a process: \(Sys.describe(error))\(hint)".utf8)
  }
}
