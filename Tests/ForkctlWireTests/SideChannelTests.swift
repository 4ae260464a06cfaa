import Testing

@testable import ForkctlWire

// The two protocols that travel outside frames: the exec-failure report on a worker's status
// pipe, and the readiness line of `forkctl daemon --ready-fd`.
@Suite("Status pipe and readiness line")
struct SideChannelTests {
  @Test(
    "an exec failure report is the errno in four little-endian bytes, and decodes back",
    arguments: [Int32(2), 13, 0, -1, .max, .min])
  func execFailureRoundTrips(_ errno: Int32) throws {
    let bytes = ExecFailureReport(errno: errno).encode()
    let u = UInt32(bitPattern: errno)
    #expect(bytes == [UInt8(u & 0xff), UInt8(u >> 8 & 0xff), UInt8(u >> 16 & 0xff), UInt8(u >> 24)])
    #expect(bytes.count == ExecFailureReport.size)
    #expect(try ExecFailureReport.decode(bytes) == ExecFailureReport(errno: errno))
  }

  @Test("ENOENT is written as 02 00 00 00")
  func execFailureLayout() {
    #expect(ExecFailureReport(errno: 2).encode() == [2, 0, 0, 0])
  }

  @Test("a failed fchdir is reported as its errno plus 65536, apart from a failed execve's errno")
  func execFailureStep() {
    #expect(ExecFailure(rawValue: 13) == ExecFailure(step: .exec, errno: 13))
    #expect(ExecFailure(rawValue: 65536 + 13) == ExecFailure(step: .workingDirectory, errno: 13))
    #expect(ExecFailure(step: .workingDirectory, errno: 2).rawValue == 65538)
    #expect(ExecFailure(step: .exec, errno: 2).rawValue == 2)
  }

  @Test("nothing on the status pipe means exec succeeded")
  func emptyStatusPipe() throws {
    #expect(try ExecFailureReport.decode([]) == nil)
  }

  @Test("a status pipe holding other than 0 or 4 bytes is refused", arguments: [1, 2, 3, 5, 8])
  func execFailureWrongLength(_ count: Int) {
    let bytes = Array(repeating: UInt8(7), count: count)
    let expected: WireError = count < 4 ? .truncated : .trailingBytes(count - 4)
    #expect(throws: expected) { try ExecFailureReport.decode(bytes) }
  }

  @Test("the readiness lines are the bytes a shell script expects")
  func readinessLayout() {
    #expect(Readiness.ready.encode() == b("ready\n"))
    #expect(Readiness.alreadyRunning(message: b("pid 7")).encode() == b("error running pid 7\n"))
    #expect(Readiness.failed(message: b("cannot listen")).encode() == b("error failed cannot listen\n"))
  }

  @Test(
    "every readiness line decodes to what it was made from",
    arguments: [
      Readiness.ready, .alreadyRunning(message: b("a daemon is already running on /s (pid 9)")),
      .failed(message: b("cannot listen on /s: Permission denied")), .failed(message: []),
      .failed(message: notUTF8), .alreadyRunning(message: b("two\nlines")),
    ])
  func readinessRoundTrips(_ readiness: Readiness) throws {
    #expect(try Readiness.decode(readiness.encode()) == readiness)
  }

  @Test(
    "a readiness answer that is not exactly one of the lines is refused",
    arguments: [
      ([UInt8](), WireError.truncated), (b("ready"), .truncated), (b("error failed no newline"), .truncated),
      (b("ready\nready\n"), .invalid("readiness line")), (b("readyish\n"), .invalid("readiness line")),
      (b("error failed\n"), .invalid("readiness line")), (b("error gone x\n"), .invalid("readiness line")),
      (b("\n"), .invalid("readiness line")),
    ])
  func readinessMalformed(_ bytes: [UInt8], _ error: WireError) {
    #expect(throws: error) { try Readiness.decode(bytes) }
  }
}
