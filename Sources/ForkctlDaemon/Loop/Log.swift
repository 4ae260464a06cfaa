// The daemon's log: one line per event, `2026-11-28T15:40:01.123Z notice message`, on
// standard error (the foreground, where journald or a terminal reads it) or in a file
// (`--log-file`, which an auto-started daemon gets), bounded by renaming it to PATH.1.
//
// A log must never stop the event loop: a full pipe to a dead journald, a terminal stopped
// with ^S. Standard error is a file description shared with whoever started the daemon, so
// O_NONBLOCK is not set on it (that would change it for them too); instead each line is
// written only when poll(2) says the descriptor can take it now, and dropped otherwise. A
// write of at most PIPE_BUF bytes to a pipe with room does not block and is not split
// (pipe(7)); lines are cut to that. The lines dropped are counted and the count is written
// before the next line that goes out.
import ForkctlSys
import ForkctlWire

/// Where the daemon's log goes and what it keeps.
public struct LogConfiguration: Sendable {
  /// Lines below this level are not written.
  public var level = LogLevel.defaultLevel
  /// The log file; nil for standard error.
  public var path: String?
  /// The size past which the file is renamed to PATH.1 (the older generation replaced) and
  /// a new one begun.
  public var maxBytes = DaemonDefaults.logMaxBytes

  public init() {}

  /// Where the lines go, as `status` reports it.
  public var destination: String { path ?? "stderr" }
}

final class DaemonLog {
  let configuration: LogConfiguration
  /// Lines not written since the last one that was: the descriptor could not take them.
  private var dropped = 0
  /// The longest line written, PIPE_BUF (pipe(7)): longer ones are cut.
  static let maxLineBytes = 4096

  /// Opens the log file, if any, and puts it on standard error, so that what the daemon's
  /// runtime prints there (a trap's message) and what templates print (they get the
  /// daemon's standard error) land in it too.
  init(_ configuration: LogConfiguration) throws(Errno) {
    self.configuration = configuration
    if let path = configuration.path { try Self.open(path) }
  }

  /// Opens `path` for appending and moves it onto standard error, close-on-exec: templates
  /// get standard error by an explicit dup2 (Sys.posixSpawn), nothing else inherits it.
  private static func open(_ path: String) throws(Errno) {
    let fd = try Sys.openForAppending(path)
    defer { fd.closeQuietly() }
    try FileDescriptor.move(fd, to: FileDescriptor.standardError.rawValue)
  }

  func wants(_ level: LogLevel) -> Bool { level <= configuration.level }

  /// Writes one line at `level`, if the level is kept and the descriptor can take it now.
  func write(_ level: LogLevel, _ message: String) {
    guard wants(level) else { return }
    let out = FileDescriptor.standardError
    guard Sys.isWritableNow(out) else {
      dropped += 1
      return
    }
    let now = Sys.realtimeMilliseconds()
    if dropped > 0 {
      let notice = "\(dropped) log line\(dropped == 1 ? " was" : "s were") dropped: the log's reader did not keep up"
      dropped = 0
      append(Self.line(at: now, .warning, notice), to: out)
    }
    append(Self.line(at: now, level, message), to: out)
  }

  private func append(_ line: [UInt8], to out: FileDescriptor) {
    rotateIfFull(adding: line.count)
    // Best effort: a log that cannot be written must not stop the daemon.
    try? out.writeFully(line)
  }

  /// Renames a log file that `adding` bytes would take past its bound to PATH.1 and begins a
  /// new one. Sized with fstat each time, so that what templates wrote counts too.
  private func rotateIfFull(adding: Int) {
    guard let path = configuration.path,
      let size = try? Sys.fileSize(FileDescriptor.standardError),
      size > 0, size + Int64(adding) > configuration.maxBytes
    else { return }
    // Best effort: when either fails, the lines go on to the file as it is.
    try? Sys.rename(path, path + ".1")
    try? Self.open(path)
  }

  /// `message` as one line: its time, its level, and no control character (a name a client
  /// chose must not forge a line).
  static func line(at milliseconds: Int64, _ level: LogLevel, _ message: String) -> [UInt8] {
    var out = Array(timestamp(milliseconds).utf8)
    out.append(UInt8(ascii: " "))
    out += level.name.utf8
    out.append(UInt8(ascii: " "))
    for byte in message.utf8 {
      if byte < 0x20 || byte == 0x7f {
        out += "\\x".utf8
        out.append(hexDigit(byte >> 4))
        out.append(hexDigit(byte & 0xf))
      } else {
        out.append(byte)
      }
    }
    if out.count >= maxLineBytes { out.removeLast(out.count - maxLineBytes + 1) }
    out.append(UInt8(ascii: "\n"))
    return out
  }

  /// ISO 8601 in UTC with milliseconds: `2026-11-28T15:40:01.123Z`.
  static func timestamp(_ milliseconds: Int64) -> String { Sys.utcTime(milliseconds: milliseconds).iso8601 }

  private static func hexDigit(_ n: UInt8) -> UInt8 { n < 10 ? 0x30 + n : 0x57 + n }
}

extension EventLoop {
  /// The start line: what runs, where, and within which bounds.
  func logStart() {
    let limits = config.limits
    let descriptors = Sys.descriptorLimit().map(String.init) ?? "unlimited"
    log(
      .notice,
      "started forkctl \(config.version) (protocol \(WireLimits.version)), pid \(Sys.processID), socket "
        + "\(config.socketPath), log \(config.log.destination) at \(config.log.level.name); limits: "
        + "\(limits.maxProcesses) process objects (\(limits.maxProcessesPerUser) per user), "
        + "\(config.maxConnections) connections, \(descriptors) descriptors (RLIMIT_NOFILE)")
    let needed = config.maxConnections + Daemon.ownDescriptors + Daemon.minimumClientDescriptors
    if let limit = Sys.descriptorLimit(), limit < needed {
      // Enough to start (Daemon.descriptorRoomProblem), not for every connection allowed: the
      // rest are refused for want of descriptors, which an operator should hear of first. A
      // notice, not a warning: the soft limit is often 1024, as systemd sets it.
      log(
        .notice,
        "the descriptor limit (RLIMIT_NOFILE) of \(limit) is below the \(needed) that \(config.maxConnections) "
          + "connections may need; raise it (ulimit -n, LimitNOFILE=) or lower --max-connections")
    }
    if let share = userShare {
      log(.info, "other users admitted: each user may hold \(share) of the \(config.maxConnections) connections")
    }
  }
}
