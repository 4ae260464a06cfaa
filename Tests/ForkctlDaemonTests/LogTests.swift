import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Daemon log: lines and the events that make them")
struct LogTests {
  @Test("a line is the UTC time with milliseconds, the level and the message, ended by one newline")
  func lineFormat() {
    // 2026-11-28T15:40:01.123Z
    let ms: Int64 = 1_795_880_401_123
    #expect(DaemonLog.timestamp(ms) == "2026-11-28T15:40:01.123Z")
    #expect(DaemonLog.timestamp(0) == "1970-01-01T00:00:00.000Z")
    #expect(DaemonLog.timestamp(-1) == "1969-12-31T23:59:59.999Z")
    let line = String(decoding: DaemonLog.line(at: ms, .warning, "template died"), as: UTF8.self)
    #expect(line == "2026-11-28T15:40:01.123Z warning template died\n")
  }

  @Test("a control character in a message cannot start a forged line, and a line fits one PIPE_BUF write")
  func lineIsOneLine() {
    let forged = DaemonLog.line(at: 0, .notice, "name\n1970-01-01T00:00:00.000Z error forged\u{7f}")
    #expect(forged.filter { $0 == UInt8(ascii: "\n") }.count == 1)
    #expect(String(decoding: forged, as: UTF8.self).contains("name\\x0a1970"))
    #expect(String(decoding: forged, as: UTF8.self).hasSuffix("forged\\x7f\n"))
    let long = DaemonLog.line(at: 0, .notice, String(repeating: "x", count: 10_000))
    #expect(long.count == DaemonLog.maxLineBytes && long.last == UInt8(ascii: "\n"))
  }

  @Test("levels are parsed by their syslog names and ordered most severe first")
  func levels() {
    #expect(LogLevel.allCases.map(\.name) == ["error", "warning", "notice", "info", "debug"])
    #expect(LogLevel(name: "info") == .info && LogLevel(name: "INFO") == nil)
    #expect(LogLevel.error < LogLevel.debug)
  }

  @Test("a template that dies while the daemon serves is logged as a warning with its status")
  func templateDeathIsLogged() throws {
    var s = makeSupervisor()
    _ = try s.newWorker(pid: 2001)
    s.childExited(pid: 1001, status: .signaled(9, coreDumped: false))
    let lines = s.effects.logged.filter { $0.level == .warning }.map(\.message)
    #expect(lines == ["process 1, a template (pid 1001), was killed by SIGKILL"], "\(lines)")
  }

  @Test("a worker killed because its client went away is logged as a notice")
  func killOnDisconnectIsLogged() throws {
    var s = makeSupervisor()
    _ = try s.runningSpawn(pid: 2001)
    s.clientGone(1)
    let lines = s.effects.logged.filter { $0.level == .notice }.map(\.message)
    #expect(lines.contains { $0.contains("kill-on-disconnect") && $0.contains("pid 2001") }, "\(lines)")
  }
}
