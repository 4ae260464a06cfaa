// status: what the daemon is (version, pid, start, log) and how many process objects, pools
// and connections it holds, read without changing anything.
import ForkctlWire

/// What the daemon is, for `status`: the Supervisor does not learn it from events.
public struct DaemonIdentity: Sendable {
  public var version: [UInt8] = []
  /// Its log: a path, or "stderr".
  public var log: [UInt8] = []
  /// When it started: the wall clock (ms since the epoch), and the monotonic clock (ms) that
  /// its uptime is measured from.
  public var startedAt: Int64 = 0
  public var startedMonotonic: Int64 = 0

  public init() {}
}

extension Supervisor {
  /// The answer to `status`: the daemon and how many process objects it holds, by state.
  mutating func status() -> DaemonStatus {
    var s = DaemonStatus(
      pid: daemonPID, version: identity.version, protocolVersion: WireLimits.version,
      startedAt: UInt64(clamping: identity.startedAt),
      uptime: UInt64(clamping: effects.now() - identity.startedMonotonic),
      log: identity.log, pools: UInt32(clamping: pools.count), connections: UInt32(clamping: clientUIDs.count))
    for o in registry.objects.values {
      switch o.phase.listed {
      case .starting: s.starting += 1
      case .ready: s.ready += 1
      case .running: s.running += 1
      case .exited: s.exited += 1
      }
      if (o.origin == .template || o.origin == .defaultTemplate) && o.phase.livePID != nil { s.templates += 1 }
    }
    return s
  }
}
