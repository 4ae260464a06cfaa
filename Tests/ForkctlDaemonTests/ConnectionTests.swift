// The event loop's Connection on its own, over real socket pairs: the write queue with its
// descriptors and backpressure, bounded reads that give each frame exactly its descriptors,
// and closing that leaves nothing open.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@testable import ForkctlDaemon

/// Whether `fd` is open in this process.
private func isOpen(_ fd: FileDescriptor) -> Bool { fcntl(fd.rawValue, F_GETFD) >= 0 }

/// Whether `fd`, which was the file `identity` (an `inode`), was closed: tests run in
/// parallel in this process, so another may have opened its number again since.
private func isClosed(_ fd: FileDescriptor, was identity: (UInt, UInt)) -> Bool {
  !isOpen(fd) || inode(fd) != identity
}

/// Identity of what a descriptor refers to.
private func inode(_ fd: FileDescriptor) -> (UInt, UInt) {
  var st = stat()
  _ = fstat(fd.rawValue, &st)
  return (UInt(st.st_dev), UInt(st.st_ino))
}

private func nonblockingPair() throws -> (Connection, FileDescriptor) {
  let (a, b) = try Sys.socketPair()
  try a.setNonblocking(true)
  return (Connection(fd: a), b)
}

@Suite("event loop: Connection over socket pairs")
struct ConnectionTests {
  @Test("a queued frame goes out with its descriptors, which are closed here once sent")
  func sendsFrameWithDescriptors() throws {
    let (c, peer) = try nonblockingPair()
    defer {
      c.close()
      peer.closeQuietly()
    }
    let (r, w) = try Sys.pipe()
    defer { r.closeQuietly() }
    let identity = inode(w)
    var frame = Reply.ok.frame()
    frame.fdCount = 1
    #expect(c.enqueue(frame, fds: [w]) == .flushed)
    #expect(isClosed(w, was: identity) && c.queue.isEmpty && !c.wantsWrite)
    var channel = FrameChannel(peer)
    guard case .frame(let got, let fds) = try channel.receive() else {
      Issue.record("no frame")
      return
    }
    #expect(got.type == frame.type && fds.count == 1)
    #expect(inode(fds[0]) == identity)
    for f in fds { f.closeQuietly() }
  }

  @Test("a full socket blocks the queue, which goes out in order once the peer reads")
  func backpressure() throws {
    let (c, peer) = try nonblockingPair()
    defer {
      c.close()
      peer.closeQuietly()
    }
    let message = String(repeating: "x", count: 60_000)
    var sent = 0
    while c.enqueue(Reply.failure(.internalError, "\(sent) \(message)").frame(), fds: []) == .flushed {
      sent += 1
      try #require(sent < 10_000, "the socket never filled")
    }
    sent += 1
    #expect(c.wantsWrite && !c.queue.isEmpty)
    // A second frame queues behind the blocked one, not interleaved with it.
    c.enqueue(Reply.failure(.internalError, "\(sent) \(message)").frame(), fds: [])
    sent += 1
    var channel = FrameChannel(peer)
    var received = 0
    while received < sent {
      if c.wantsWrite { _ = c.flush() }
      guard case .frame(let frame, _) = try channel.receive() else {
        Issue.record("no frame")
        return
      }
      guard case .failure(_, let text) = try Reply(frame) else {
        Issue.record("not a failure reply")
        return
      }
      #expect(String(decoding: text.prefix(while: { $0 != 0x20 }), as: UTF8.self) == String(received))
      received += 1
    }
    #expect(c.flush() == .flushed && !c.wantsWrite && c.queue.isEmpty)
  }

  @Test("a peer that has gone breaks the queue, and queued descriptors are closed")
  func brokenPeer() throws {
    let (c, peer) = try nonblockingPair()
    defer { c.close() }
    peer.closeQuietly()
    let (r, w) = try Sys.pipe()
    defer { r.closeQuietly() }
    let identity = inode(w)
    var frame = Reply.ok.frame()
    frame.fdCount = 1
    #expect(c.enqueue(frame, fds: [w]) == .broken)
    #expect(isClosed(w, was: identity) && c.queue.isEmpty)
  }

  @Test("two frames sent at once are read one at a time, each with exactly its descriptors")
  func boundedReads() throws {
    let (c, peer) = try nonblockingPair()
    defer { c.close() }
    let (r1, w1) = try Sys.pipe()
    let (r2, w2) = try Sys.pipe()
    defer { for f in [r1, w1, r2, w2] { f.closeQuietly() } }
    let channel = FrameChannel(peer)
    var first = Request.sendFDs(ref: Array("7".utf8), targets: [nil]).frame()
    first.fdCount = 1
    var second = Request.sendFDs(ref: Array("8".utf8), targets: [nil, nil]).frame()
    second.fdCount = 2
    try channel.send(first, fds: [r1])
    try channel.send(second, fds: [r2, w2])
    #expect(c.readAvailable() == .open)
    let one = try #require(try c.nextFrame())
    #expect(one.0 == first && one.1.count == 1 && inode(one.1[0]) == inode(r1))
    #expect(c.receivedFDs.isEmpty, "the second frame's descriptors were read with the first")
    #expect(try c.nextFrame() == nil)
    #expect(c.readAvailable() == .open)
    let two = try #require(try c.nextFrame())
    #expect(two.0 == second && two.1.count == 2)
    #expect(inode(two.1[0]) == inode(r2) && inode(two.1[1]) == inode(w2))
    for f in one.1 + two.1 { f.closeQuietly() }
    peer.closeQuietly()
    #expect(c.readAvailable() == .closed)
  }

  @Test("closing a connection closes the descriptors it received and those it queued")
  func closeReleasesEverything() throws {
    let (c, peer) = try nonblockingPair()
    defer { peer.closeQuietly() }
    let (r, w) = try Sys.pipe()
    // Half a frame's header with a descriptor: read and held, its frame not complete.
    _ = try UnixSocket.send(peer, Request.list.frame().encoded().prefix(3), fds: [r])
    #expect(c.readAvailable() == .open)
    #expect(c.receivedFDs.count == 1)
    let received = c.receivedFDs[0]
    // Fill the socket so that a frame with a descriptor stays queued.
    while c.enqueue(Reply.failure(.internalError, String(repeating: "y", count: 60_000)).frame(), fds: []) == .flushed {
    }
    var frame = Reply.ok.frame()
    frame.fdCount = 1
    c.enqueue(frame, fds: [w])
    #expect(isOpen(w) && isOpen(received))
    let socket = c.fd
    let identities = [w, received, socket].map(inode)
    c.close()
    #expect(zip([w, received, socket], identities).allSatisfy { isClosed($0, was: $1) })
    r.closeQuietly()
  }
}
