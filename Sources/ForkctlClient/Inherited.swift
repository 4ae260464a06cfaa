// What a program started "as if directly" takes from the process that asks for it: its open
// standard descriptors, its environment, its working directory and its process attributes.
// `ForkctlClient.spawn` and forkctl's run and spawn both start programs this way, so the
// policy is written here once.
import ForkctlSys
import ForkctlWire

/// The parts of the calling process that a program it starts through the daemon inherits.
public enum Inherited {
  /// This process's descriptors 0, 1 and 2 that are open, then each of `extra` not passed
  /// yet, each at its own number. A closed standard descriptor is not passed: the program
  /// gets /dev/null there instead.
  public static func descriptors(adding extra: [Int32] = []) -> [(fd: FileDescriptor, target: FDTarget)] {
    var passed: [(fd: FileDescriptor, target: FDTarget)] = []
    for n: Int32 in [0, 1, 2] where FileDescriptor(rawValue: n).isOpen {
      passed.append((FileDescriptor(rawValue: n), n))
    }
    for n in extra where !passed.contains(where: { $0.target == n }) {
      passed.append((FileDescriptor(rawValue: n), n))
    }
    return passed
  }

  /// The descriptors a program gets from a caller whose descriptors were recorded in
  /// `caller` before this process opened any of its own: those of 0, 1 and 2 that were
  /// open, then each of `extra`, or with `all` every descriptor that was open, each at its
  /// own number. One of `extra` that was not open throws `badDescriptor`.
  public static func descriptors(
    adding extra: [Int32], openAtStart caller: OpenDescriptors, all: Bool = false
  ) throws(ForkctlError) -> [(fd: FileDescriptor, target: FDTarget)] {
    try caller.requireOpen(extra)
    var numbers = all ? caller.numbers : [0, 1, 2].filter(caller.contains)
    for n in extra where !numbers.contains(n) { numbers.append(n) }
    return numbers.map { (FileDescriptor(rawValue: $0), $0) }
  }

  /// This process's environment, or an empty one when `clear`; then each `NAME=VALUE` of
  /// `settings`, in order, replaces NAME's entry or is added.
  public static func environment(clear: Bool = false, setting settings: [[UInt8]] = []) -> [[UInt8]] {
    var environment = clear ? [] : Sys.environment()
    for setting in settings {
      let name = setting.prefix { $0 != UInt8(ascii: "=") } + [UInt8(ascii: "=")]
      environment.removeAll { $0.starts(with: name) }
      environment.append(setting)
    }
    return environment
  }

  /// This process's attributes that a direct child inherits across fork(2) and execve(2):
  /// the umask, every resource limit (RLIMIT_CORE included), the nice value and, with
  /// `signals`, the signals it ignores and the calling thread's signal mask (else every
  /// action default and an empty mask, as posix_spawn's SETSIGDEF and SETSIGMASK give).
  /// Call it before `SignalForwarding` blocks signals of its own. The Swift runtime changes
  /// none of these at start: it catches SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE and
  /// SIGSEGV for its backtracer, but leaves one the caller ignores ignored, and a caught
  /// signal is SIG_DFL after exec anyway. Signals 32 and 33 are glibc's own (SIGCANCEL and
  /// SIGSETXID, nptl(7)), below SIGRTMIN: however a runtime set them, no program uses them,
  /// so they are not passed on.
  public static func attributes(signals: Bool = true) -> ProcessAttributes {
    let glibcOwn: UInt64 = 1 << (32 - 1) | 1 << (33 - 1)
    return ProcessAttributes(
      umask: Sys.fileModeMask(), nice: Sys.niceValue(),
      ignoredSignals: signals ? Sys.ignoredSignals() & ~glibcOwn : 0,
      blockedSignals: signals ? Sys.blockedSignals() & ~glibcOwn : 0, limits: Sys.resourceLimits())
  }

  /// This process's working directory as a descriptor: the directory itself, so that one
  /// renamed or deleted before the program starts still works.
  public static func workingDirectory() throws(ForkctlError) -> FileDescriptor {
    do {
      return try Sys.openCurrentDirectory()
    } catch {
      throw ForkctlError(
        .badDescriptor, "cannot open the current directory: \(Sys.describe(error))", underlying: error)
    }
  }
}
