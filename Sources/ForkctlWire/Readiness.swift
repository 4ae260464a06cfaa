// The ready descriptor of `forkctl daemon --ready-fd N`: one line of text, then the daemon
// closes N. A client that starts a daemon reads it to end of file to learn whether it may
// connect. Text rather than a frame so that a shell script can start a daemon too.
//
//   ready\n                    the socket accepts connections
//   error running MESSAGE\n    another daemon already serves the socket (exit 3)
//   error failed MESSAGE\n     the daemon could not start (exit 1)

/// What a starting daemon tells the one who started it.
public enum Readiness: Equatable, Sendable {
  case ready
  /// Another daemon already serves the socket: connecting to it is as good as starting one.
  case alreadyRunning(message: [UInt8])
  /// The daemon could not start; the message says why, for a person.
  case failed(message: [UInt8])

  private static let readyLine = Array("ready\n".utf8)
  private static let runningPrefix = Array("error running ".utf8)
  private static let failedPrefix = Array("error failed ".utf8)
  private static let newline = UInt8(ascii: "\n")

  public func encode() -> [UInt8] {
    switch self {
    case .ready: return Self.readyLine
    case .alreadyRunning(let message): return Self.runningPrefix + message + [Self.newline]
    case .failed(let message): return Self.failedPrefix + message + [Self.newline]
    }
  }

  /// Decodes everything read from the descriptor up to end of file: exactly one of the
  /// lines above. The message is the rest of the line, whatever bytes it holds.
  public static func decode(_ bytes: [UInt8]) throws(WireError) -> Readiness {
    guard bytes.last == newline else { throw .truncated }
    if bytes == readyLine { return .ready }
    let line = bytes.dropLast()
    if line.starts(with: runningPrefix) {
      return .alreadyRunning(message: Array(line.dropFirst(runningPrefix.count)))
    }
    if line.starts(with: failedPrefix) {
      return .failed(message: Array(line.dropFirst(failedPrefix.count)))
    }
    throw .invalid("readiness line")
  }
}
