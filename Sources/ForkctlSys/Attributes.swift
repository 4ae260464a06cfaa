// Process attributes: the C form the exec path applies, and the queries a client makes of its
// own (umask, resource limits, nice value, ignored signals, signal mask) to send with a spawn.
import CForkctlShims
import ForkctlWire
import Glibc

extension ProcessAttributes {
  /// Runs `body` with the C form of `attributes` (NULL for nil), valid during `body`.
  static func withC<R>(_ attributes: ProcessAttributes?, _ body: (UnsafePointer<forkctl_attributes>?) -> R) -> R {
    guard let a = attributes else { return body(nil) }
    let limits = a.limits.map { forkctl_rlimit(resource: CInt($0.resource), soft: $0.soft, hard: $0.hard) }
    return limits.withUnsafeBufferPointer { buffer in
      var c = forkctl_attributes(
        umask: a.umask, nice: a.nice, ignored_signals: a.ignoredSignals, blocked_signals: a.blockedSignals,
        limits: buffer.baseAddress, nlimits: CInt(buffer.count), flags: a.flags.rawValue,
        cap_bounding: a.capabilities.bounding, cap_permitted: a.capabilities.permitted,
        cap_effective: a.capabilities.effective, cap_inheritable: a.capabilities.inheritable,
        cap_ambient: a.capabilities.ambient)
      return withUnsafePointer(to: &c) { body($0) }
    }
  }
}

extension Sys {
  /// This process's file mode creation mask, read without changing it: from the `Umask:`
  /// line of /proc/self/status (Linux 4.7), else with umask(2) set and put back, which is
  /// exact only while no other thread creates files. The corresponding C function is `umask`.
  public static func fileModeMask() -> UInt32 {
    if let fd = try? open("/proc/self/status", .readOnly) {
      defer { fd.closeQuietly() }
      let prefix = Array("Umask:".utf8)
      for line in (try? fd.readAll(limit: 64 * 1024))?.split(separator: UInt8(ascii: "\n")) ?? []
      where line.starts(with: prefix) {
        let digits = line.dropFirst(prefix.count).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        if let mask = UInt32(String(decoding: digits, as: UTF8.self), radix: 8) { return mask }
      }
    }
    let mask = Glibc.umask(0o022)
    Glibc.umask(mask)
    return UInt32(mask)
  }

  /// Every resource limit of this process, RLIMIT_CPU to RLIMIT_RTTIME; one the kernel does
  /// not know is left out. The corresponding C function is `getrlimit`.
  public static func resourceLimits() -> [ProcessAttributes.ResourceLimit] {
    var limits: [ProcessAttributes.ResourceLimit] = []
    for resource in 0..<ProcessAttributes.resourceCount {
      var soft: UInt64 = 0
      var hard: UInt64 = 0
      if forkctl_get_rlimit(CInt(resource), &soft, &hard) == 0 {
        limits.append(.init(resource: resource, soft: soft, hard: hard))
      }
    }
    return limits
  }

  /// Sets one resource limit of this process. The corresponding C function is `setrlimit`.
  public static func setResourceLimit(_ limit: ProcessAttributes.ResourceLimit) throws(Errno) {
    _ = try retrying { forkctl_set_rlimit(CInt(limit.resource), limit.soft, limit.hard) }
  }

  /// Sets this process's soft RLIMIT_CORE to 0, so that it writes no core file when it dies
  /// of a signal. A core_pattern pipe (core(5)) ignores the limit, but its handler is told
  /// it (%c), and systemd-coredump then stores nothing. The corresponding C function is
  /// `setrlimit`.
  public static func disableCoreDumps() {
    var soft: UInt64 = 0
    var hard: UInt64 = 0
    // RLIMIT_CORE is 4 (getrlimit(2)); failing to read it leaves a limit of 0 on both.
    _ = forkctl_get_rlimit(4, &soft, &hard)
    _ = forkctl_set_rlimit(4, 0, hard)
  }

  /// This process's nice value, 0 when it cannot be read. The corresponding C function is
  /// `getpriority`.
  public static func niceValue() -> Int32 {
    var nice: CInt = 0
    return forkctl_get_nice(&nice) == 0 ? nice : 0
  }

  /// The signals this process ignores (SIG_IGN), bit n-1 for signal n. The corresponding C
  /// function is `sigaction`.
  public static func ignoredSignals() -> UInt64 { forkctl_ignored_signals() }

  /// The calling thread's signal mask, bit n-1 for signal n. The corresponding C function is
  /// `sigprocmask`.
  public static func blockedSignals() -> UInt64 { forkctl_blocked_signals() }
}
