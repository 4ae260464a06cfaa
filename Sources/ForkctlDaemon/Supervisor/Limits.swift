/// Limits of the daemon, each documented under LIMITS in forkctl(1); the defaults are
/// `DaemonDefaults`, written once.
public struct SupervisorLimits: Sendable {
  /// Process objects kept at once, live or exited and not yet waited for.
  public var maxProcesses = DaemonDefaults.maxProcesses
  /// Descriptors sent to one process object.
  public var maxFDsPerProcess = DaemonDefaults.maxFDsPerProcess
  /// Bytes of strings sent to one process object.
  public var maxArgumentBytesPerProcess = DaemonDefaults.maxArgumentBytesPerProcess
  /// Exited process objects kept after a wait has reported them, for repeated waits.
  public var retainedAfterWait = DaemonDefaults.retainedAfterWait
  /// Process objects kept at once for one user (by the uid of the connections that made
  /// them), live or exited and not yet waited for; the default template counts for nobody.
  public var maxProcessesPerUser = DaemonDefaults.maxProcessesPerUser
  /// Strings sent to one process object (empty ones cost no bytes, so they are counted).
  public var maxArgumentsPerProcess = DaemonDefaults.maxArgumentsPerProcess
  /// Longest process object name.
  public var maxNameLength = DaemonDefaults.maxNameLength
  /// How long a spawned program whose client went away has between SIGTERM and SIGKILL.
  public var killGraceMilliseconds = DaemonDefaults.killGraceMilliseconds
  /// How long a template asked to fork may take to answer before it is killed.
  public var templateTimeoutMilliseconds = DaemonDefaults.templateTimeoutMilliseconds
  /// Exits of children reaped before any fork report named their pid, kept while forks are
  /// in flight (a child can exit before its template's report arrives).
  public var maxEarlyExits = DaemonDefaults.maxEarlyExits

  public init() {}
}
