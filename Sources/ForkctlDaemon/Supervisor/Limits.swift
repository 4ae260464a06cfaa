/// Limits of the daemon, each documented under LIMITS in forkctl(1).
public struct SupervisorLimits: Sendable {
  /// Process objects kept at once, live or exited and not yet waited for.
  public var maxProcesses = 4096
  /// Descriptors sent to one process object.
  public var maxFDsPerProcess = 256
  /// Bytes of strings sent to one process object.
  public var maxArgumentBytesPerProcess = 1 << 20
  /// Exited process objects kept after a wait has reported them, for repeated waits.
  public var retainedAfterWait = 1024
  /// Process objects kept at once for one user (by the uid of the connections that made
  /// them), live or exited and not yet waited for; the default template counts for nobody.
  public var maxProcessesPerUser = 1024
  /// Strings sent to one process object (empty ones cost no bytes, so they are counted).
  public var maxArgumentsPerProcess = 65536
  /// Longest process object name.
  public var maxNameLength = 64
  /// How long a spawned program whose client went away has between SIGTERM and SIGKILL.
  public var killGraceMilliseconds: Int64 = 3000
  /// Exits of children reaped before any fork report named their pid, kept while forks are
  /// in flight (a child can exit before its template's report arrives).
  public var maxEarlyExits = 4096

  public init() {}
}
