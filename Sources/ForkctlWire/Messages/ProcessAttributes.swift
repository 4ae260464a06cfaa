// The caller's process attributes, which a program run directly would inherit across fork and
// exec (fork(2), execve(2)) and which a worker forked by the daemon would otherwise take from
// whoever started the daemon: umask, nice value, ignored signals, signal mask, resource
// limits, and the session and privilege settings of the flags word. forkctl-protocol(7),
// PROCESS ATTRIBUTES.

/// What the worker is given before exec, in the order it is applied: session or process
/// group, resource limits, nice value, umask, no_new_privs, capabilities, signal
/// dispositions, signal mask.
public struct ProcessAttributes: Equatable, Sendable {
  /// The file mode creation mask (umask(2)), 0 to 0o777.
  public var umask: UInt32
  /// The nice value (setpriority(2) for the process), -20 to 19.
  public var nice: Int32
  /// Signals set to SIG_IGN in the worker, bit n-1 for signal n (1 to 64).
  public var ignoredSignals: UInt64
  /// The worker's signal mask, bit n-1 for signal n.
  public var blockedSignals: UInt64
  /// Resource limits to set (setrlimit(2)); a resource not listed keeps the template's.
  public var limits: [ResourceLimit]
  public var flags: Flags
  /// With `dropCapabilities`: each capability set of the worker limited to these masks (bit
  /// n for capability n, capabilities(7)); zero otherwise.
  public var capabilities: CapabilityMasks

  public init(
    umask: UInt32 = 0o022, nice: Int32 = 0, ignoredSignals: UInt64 = 0, blockedSignals: UInt64 = 0,
    limits: [ResourceLimit] = [], flags: Flags = [], capabilities: CapabilityMasks = CapabilityMasks()
  ) {
    self.umask = umask
    self.nice = nice
    self.ignoredSignals = ignoredSignals
    self.blockedSignals = blockedSignals
    self.limits = limits
    self.flags = flags
    self.capabilities = capabilities
  }

  public struct Flags: OptionSet, Equatable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// prctl(PR_SET_NO_NEW_PRIVS, 1) before exec.
    public static let noNewPrivileges = Flags(rawValue: 1)
    /// setsid(2) instead of a new process group, then the terminal on the worker's
    /// descriptor 0 made its controlling terminal (ioctl TIOCSCTTY, tty_ioctl(4)).
    public static let newSessionWithControllingTerminal = Flags(rawValue: 2)
    /// Limit the capability sets to `capabilities` (capabilities(7)).
    public static let dropCapabilities = Flags(rawValue: 4)

    static let known: Flags = [.noNewPrivileges, .newSessionWithControllingTerminal, .dropCapabilities]
  }

  /// One resource limit (getrlimit(2)); `ResourceLimit.infinity` is RLIM_INFINITY.
  public struct ResourceLimit: Equatable, Sendable {
    public var resource: UInt32
    public var soft: UInt64
    public var hard: UInt64

    public init(resource: UInt32, soft: UInt64, hard: UInt64) {
      self.resource = resource
      self.soft = soft
      self.hard = hard
    }

    public static let infinity = UInt64.max
    /// Bytes on the wire: resource u32, soft u64, hard u64.
    static let size = 4 + 8 + 8
  }

  /// The five capability sets a worker may be limited to (capabilities(7)).
  public struct CapabilityMasks: Equatable, Sendable {
    public var bounding: UInt64
    public var permitted: UInt64
    public var effective: UInt64
    public var inheritable: UInt64
    public var ambient: UInt64

    public init(
      bounding: UInt64 = 0, permitted: UInt64 = 0, effective: UInt64 = 0, inheritable: UInt64 = 0,
      ambient: UInt64 = 0
    ) {
      self.bounding = bounding
      self.permitted = permitted
      self.effective = effective
      self.inheritable = inheritable
      self.ambient = ambient
    }

    var isZero: Bool { self == CapabilityMasks() }
  }

  /// Linux's resources, RLIMIT_CPU (0) to RLIMIT_RTTIME (15): RLIM_NLIMITS is 16
  /// (include/uapi/asm-generic/resource.h).
  public static let resourceCount: UInt32 = 16
  /// The umask's bits.
  public static let umaskBits: UInt32 = 0o777
  /// Nice values (setpriority(2)).
  public static let niceRange: ClosedRange<Int32> = -20...19
  /// SIGKILL and SIGSTOP, which cannot be ignored or blocked (signal(7)).
  static let unmaskable: UInt64 = 1 << (9 - 1) | 1 << (19 - 1)

  /// Bytes on the wire besides the limits (`ResourceLimit.size` each): umask, nice, ignored,
  /// blocked, the limit count, flags and the five capability masks.
  static let fixedSize = 4 + 4 + 8 + 8 + 4 + 4 + 5 * 8

  func write(to w: inout PayloadWriter) {
    w.u32(umask)
    w.i32(nice)
    w.u64(ignoredSignals)
    w.u64(blockedSignals)
    w.u32(UInt32(limits.count))
    for l in limits {
      w.u32(l.resource)
      w.u64(l.soft)
      w.u64(l.hard)
    }
    w.u32(flags.rawValue)
    w.u64(capabilities.bounding)
    w.u64(capabilities.permitted)
    w.u64(capabilities.effective)
    w.u64(capabilities.inheritable)
    w.u64(capabilities.ambient)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> ProcessAttributes {
    let umask = try r.u32()
    if umask & ~umaskBits != 0 { throw .invalid("umask \(umask)") }
    let nice = try r.i32()
    if !niceRange.contains(nice) { throw .invalid("nice value \(nice)") }
    let ignored = try r.u64()
    let blocked = try r.u64()
    if (ignored | blocked) & unmaskable != 0 { throw .invalid("SIGKILL or SIGSTOP ignored or blocked") }
    let n = try r.count(itemSize: ResourceLimit.size)
    var limits: [ResourceLimit] = []
    for _ in 0..<n {
      let l = ResourceLimit(resource: try r.u32(), soft: try r.u64(), hard: try r.u64())
      if l.resource >= resourceCount { throw .invalid("resource \(l.resource)") }
      if limits.contains(where: { $0.resource == l.resource }) { throw .invalid("resource \(l.resource) twice") }
      if l.soft > l.hard { throw .invalid("resource \(l.resource): soft limit above the hard limit") }
      limits.append(l)
    }
    let flags = Flags(rawValue: try r.u32())
    if !Flags.known.isSuperset(of: flags) { throw .invalid("attribute flags \(flags.rawValue)") }
    let capabilities = CapabilityMasks(
      bounding: try r.u64(), permitted: try r.u64(), effective: try r.u64(), inheritable: try r.u64(),
      ambient: try r.u64())
    if !flags.contains(.dropCapabilities) && !capabilities.isZero {
      throw .invalid("capability masks without dropCapabilities")
    }
    return ProcessAttributes(
      umask: umask, nice: nice, ignoredSignals: ignored, blockedSignals: blocked, limits: limits, flags: flags,
      capabilities: capabilities)
  }
}
