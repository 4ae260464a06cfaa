/// The answer to `status` (forkctl-protocol(7), 0x4b): what `forkctl status` shows of a
/// running daemon, asked without starting one.
public struct DaemonStatus: Equatable, Sendable {
  public var pid: Int32
  /// The daemon's forkctl version ("0.1.0"), UTF-8.
  public var version: [UInt8]
  /// The protocol version it speaks (WireLimits.version).
  public var protocolVersion: UInt8
  /// When it started, in milliseconds since the epoch (its wall clock then).
  public var startedAt: UInt64
  /// How long it has run, in milliseconds (its monotonic clock: a clock set meanwhile does
  /// not change it).
  public var uptime: UInt64
  /// Its log: the file's path, or "stderr".
  public var log: [UInt8]
  /// Process objects by state (as `list` shows them), templates among them, pools and open
  /// client connections (this one included).
  public var starting: UInt32
  public var ready: UInt32
  public var running: UInt32
  public var exited: UInt32
  public var templates: UInt32
  public var pools: UInt32
  public var connections: UInt32

  public init(
    pid: Int32, version: [UInt8], protocolVersion: UInt8, startedAt: UInt64, uptime: UInt64, log: [UInt8],
    starting: UInt32 = 0, ready: UInt32 = 0, running: UInt32 = 0, exited: UInt32 = 0, templates: UInt32 = 0,
    pools: UInt32 = 0, connections: UInt32 = 0
  ) {
    self.pid = pid
    self.version = version
    self.protocolVersion = protocolVersion
    self.startedAt = startedAt
    self.uptime = uptime
    self.log = log
    self.starting = starting
    self.ready = ready
    self.running = running
    self.exited = exited
    self.templates = templates
    self.pools = pools
    self.connections = connections
  }

  /// i32 pid, string version, u8 protocol version, u64 start, u64 uptime, string log, then
  /// seven u32 counts: starting, ready, running, exited, templates, pools, connections.
  func write(to w: inout PayloadWriter) {
    w.i32(pid)
    w.string(version)
    w.u8(protocolVersion)
    w.u64(startedAt)
    w.u64(uptime)
    w.string(log)
    for n in [starting, ready, running, exited, templates, pools, connections] { w.u32(n) }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> DaemonStatus {
    let pid = try r.i32()
    let version = try r.string()
    let protocolVersion = try r.u8()
    let startedAt = try r.u64()
    let uptime = try r.u64()
    let log = try r.string()
    var counts: [UInt32] = []
    for _ in 0..<7 { counts.append(try r.u32()) }
    return DaemonStatus(
      pid: pid, version: version, protocolVersion: protocolVersion, startedAt: startedAt, uptime: uptime, log: log,
      starting: counts[0], ready: counts[1], running: counts[2], exited: counts[3], templates: counts[4],
      pools: counts[5], connections: counts[6])
  }
}
