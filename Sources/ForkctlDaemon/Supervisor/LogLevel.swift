/// How much a line of the daemon's log matters, most first; `--log-level` keeps the lines at
/// or above one (forkctl(1), daemon). The names are syslog's (syslog(3)), which journald
/// and operators already know.
public enum LogLevel: Int, Comparable, CaseIterable, Sendable {
  /// The daemon cannot go on, or lost something it was responsible for.
  case error
  /// Something went wrong that an operator may have to act on: a template died, a limit was
  /// reached, a peer broke the protocol.
  case warning
  /// The daemon's own lifecycle, refusals and the processes it killed by policy.
  case notice
  /// What happened to process objects and connections that is worth a line.
  case info
  /// Every request, for debugging.
  case debug

  /// The default of `--log-level`.
  public static let defaultLevel = LogLevel.notice

  public var name: String {
    switch self {
    case .error: "error"
    case .warning: "warning"
    case .notice: "notice"
    case .info: "info"
    case .debug: "debug"
    }
  }

  public init?(name: String) {
    guard let level = Self.allCases.first(where: { $0.name == name }) else { return nil }
    self = level
  }

  public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}
