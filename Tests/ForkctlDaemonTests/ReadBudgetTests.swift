// Connections sharing a ReadBudget over real socket pairs (issue 11, item 12b): the first
// 64 KiB of each frame are read whatever the budget says, the rest only while it lasts, and
// what a frame took comes back when it is taken or its connection closes.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@testable import ForkctlDaemon

/// A connection on one end of a non-blocking socket pair, with the peer's end.
private func pair(_ budget: ReadBudget) throws -> (Connection, FileDescriptor) {
  let (a, b) = try Sys.socketPair()
  try a.setNonblocking(true)
  try b.setNonblocking(true)
  return (Connection(fd: a, budget: budget), b)
}

/// Writes the header of a frame of `length` bytes of payload and as much of the payload as
/// the socket takes now, up to `bytes` of it.
private func sendPartialFrame(_ fd: FileDescriptor, length: Int, bytes: Int) {
  let header = [
    WireLimits.version, MessageType.list.rawValue, 0, 0, UInt8(length & 0xff), UInt8(length >> 8 & 0xff),
    UInt8(length >> 16 & 0xff), UInt8(length >> 24),
  ]
  _ = try? UnixSocket.send(fd, header[...], nonblocking: true)
  let chunk = [UInt8](repeating: 0, count: bytes)
  _ = try? UnixSocket.send(fd, chunk[...], nonblocking: true)
}

@Suite struct ReadBudgetTests {
  @Test("a frame beyond what the shared budget has left is refused; a small one is read; the budget comes back")
  func sharedBudget() throws {
    let budget = ReadBudget(limit: 100 * 1024)
    let (big, bigPeer) = try pair(budget)
    let (small, smallPeer) = try pair(budget)
    defer {
      bigPeer.closeQuietly()
      smallPeer.closeQuietly()
    }
    // 64 KiB free plus the 100 KiB budget: more than that of one frame is refused.
    sendPartialFrame(bigPeer, length: 1 << 20, bytes: 200 * 1024)
    var outcome = Connection.ReadOutcome.open
    for _ in 0..<100 where outcome == .open {
      outcome = big.readAvailable()
      if outcome == .open { usleep(1000) }
    }
    #expect(outcome == .overBudget)
    #expect(budget.remaining == 0)
    // A small request of another connection is read in full all the same.
    _ = try UnixSocket.send(smallPeer, Request.list.frame().encoded()[...], nonblocking: true)
    #expect(small.readAvailable() == .open)
    #expect(try small.nextFrame()?.0.type == .list)
    #expect(small.bufferedBytes == 0 && small.frameStartedAt == nil)
    big.close()
    #expect(budget.used == 0)
    small.close()
  }
}
