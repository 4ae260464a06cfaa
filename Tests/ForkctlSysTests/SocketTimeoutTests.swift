import ForkctlSys
import Glibc
import Testing

@Suite struct SocketTimeoutTests {
  @Test("a receive on a socket with a timeout fails with EAGAIN once it runs out")
  func receiveTimesOut() throws {
    let (a, b) = try Sys.socketPair()
    defer {
      a.closeQuietly()
      b.closeQuietly()
    }
    try UnixSocket.setTimeouts(a, milliseconds: 100)
    let started = Sys.monotonicMilliseconds()
    #expect(throws: Errno.wouldBlock) { try UnixSocket.receive(a, maxBytes: 1, maxFDs: 0) }
    let took = Sys.monotonicMilliseconds() - started
    #expect(took >= 90 && took < 2000, "took \(took) ms")
  }

  @Test("a connect to a listener whose backlog is full fails with EAGAIN once the timeout runs out")
  func connectTimesOut() throws {
    let dir = String(cString: mkdtemp(strdup("/tmp/forkctl-sys-XXXXXX"))!)
    defer { _ = system("rm -rf '\(dir)'") }
    let listener = try UnixSocket.listen(at: dir + "/sock", backlog: 0)
    defer { listener.closeQuietly() }
    // A backlog of 0 holds one connection (unix_recvq_full: more than the backlog).
    let first = try UnixSocket.connect(to: dir + "/sock")
    defer { first.closeQuietly() }
    let started = Sys.monotonicMilliseconds()
    #expect(throws: Errno.wouldBlock) { try UnixSocket.connect(to: dir + "/sock", timeoutMilliseconds: 100) }
    let took = Sys.monotonicMilliseconds() - started
    #expect(took >= 90 && took < 2000, "took \(took) ms")
  }
}
