// The daemon's default limits, written once: `SupervisorLimits`, `DaemonConfiguration`, the
// `forkctl daemon` options and their help text all read them. forkctl(1) (OPTIONS of daemon,
// and LIMITS) states the same numbers in prose and must be updated with them.

/// The default of every limit the daemon has, each documented in forkctl(1).
public enum DaemonDefaults {
  /// Process objects kept at once, live or exited and not yet waited for (`--max-processes`).
  public static let maxProcesses = 4096
  /// Process objects kept at once for one user (`--max-processes-per-user`).
  public static let maxProcessesPerUser = 1024
  /// Client connections open at once (`--max-connections`).
  public static let maxConnections = 1024
  /// How long a spawned program whose client went away has between SIGTERM and SIGKILL
  /// (`--kill-grace`, which takes seconds).
  public static let killGraceMilliseconds: Int64 = 3000
  /// How long a template asked to fork may take to answer before it is killed and the
  /// requests queued on it fail (`--template-timeout`, which takes seconds).
  public static let templateTimeoutMilliseconds: Int64 = 10_000
  /// Descriptors sent to one process object.
  public static let maxFDsPerProcess = 256
  /// Strings sent to one process object (empty ones cost no bytes, so they are counted).
  public static let maxArgumentsPerProcess = 65536
  /// Bytes of strings sent to one process object.
  public static let maxArgumentBytesPerProcess = 1 << 20
  /// Exited process objects kept after a wait has reported them, for repeated waits.
  public static let retainedAfterWait = 1024
  /// Longest process object name, in bytes.
  public static let maxNameLength = 64
}

extension DaemonDefaults {
  /// Exits of children reaped before any fork report named their pid, kept while forks are
  /// in flight; not an option.
  public static let maxEarlyExits = 4096
}
