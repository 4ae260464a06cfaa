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
  /// The size past which the log file is renamed to PATH.1 and a new one begun
  /// (`--log-max-bytes`): 1 MiB, two generations of it on disk at most.
  public static let logMaxBytes: Int64 = 1 << 20
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
  /// Bytes of a program string kept for `list` and messages (PATH_MAX): the template gets it
  /// whole, the daemon keeps only this much of it.
  public static let maxProgramBytesKept = 4096
  /// Process objects one `wait` or `kill` may name: the work one request causes is bounded.
  public static let maxRefsPerRequest = 1024
  /// How long a connection may stay idle (no request begun, none being answered), in
  /// milliseconds; FORKCTL_DAEMON_IDLE_TIMEOUT_MS overrides it.
  public static let idleTimeoutMilliseconds: Int64 = 60_000
  /// How long a connection may take to send one whole frame once its first byte came, in
  /// milliseconds; FORKCTL_DAEMON_FRAME_TIMEOUT_MS overrides it.
  public static let frameTimeoutMilliseconds: Int64 = 10_000
  /// Bytes of incomplete frames buffered from all connections together, beyond the first
  /// 64 KiB of each (so small requests are always read); each holds at most one frame
  /// (4 MiB), so this bounds what connections that never finish one can take.
  public static let maxBufferedBytes = 32 << 20
}

extension DaemonDefaults {
  /// Exits of children reaped before any fork report named their pid, kept while forks are
  /// in flight; not an option.
  public static let maxEarlyExits = 4096
}
