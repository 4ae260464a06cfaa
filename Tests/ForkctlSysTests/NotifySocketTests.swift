// Pool workers' notify sockets (issue 13): the daemon's bound NOTIFY_SOCKET, which tells who
// sent each datagram, and the sending side a worker's helper uses.
import ForkctlSys
import Glibc
import Testing

@Suite struct NotifySocketTests {
  @Test("a datagram sent to @NAME arrives whole, with the sender's uid; nothing waiting is EAGAIN")
  func abstractAddress() throws {
    let name = Array("forkctl-test/notify/\(Sys.processID)/abstract".utf8)
    let fd = try UnixSocket.notifySocket(name)
    defer { fd.closeQuietly() }
    #expect(throws: Errno.wouldBlock) { try UnixSocket.receiveDatagram(fd, maxBytes: 64) }
    try UnixSocket.sendDatagram(Array("READY=1\nSTATUS=up".utf8), to: [UInt8(ascii: "@")] + name)
    try UnixSocket.sendDatagram(Array("BUSY=1".utf8), to: [UInt8(ascii: "@")] + name)
    let first = try UnixSocket.receiveDatagram(fd, maxBytes: 64)
    #expect(first.bytes == Array("READY=1\nSTATUS=up".utf8))
    #expect(first.uid == getuid())
    #expect(try UnixSocket.receiveDatagram(fd, maxBytes: 64).bytes == Array("BUSY=1".utf8))
  }

  @Test("a datagram longer than the buffer is cut to it, and the next one is whole")
  func longDatagram() throws {
    let name = Array("forkctl-test/notify/\(Sys.processID)/long".utf8)
    let fd = try UnixSocket.notifySocket(name)
    defer { fd.closeQuietly() }
    try UnixSocket.sendDatagram([UInt8](repeating: 0x41, count: 100), to: [UInt8(ascii: "@")] + name)
    try UnixSocket.sendDatagram(Array("IDLE=1".utf8), to: [UInt8(ascii: "@")] + name)
    #expect(try UnixSocket.receiveDatagram(fd, maxBytes: 10).bytes == [UInt8](repeating: 0x41, count: 10))
    #expect(try UnixSocket.receiveDatagram(fd, maxBytes: 10).bytes == Array("IDLE=1".utf8))
  }

  @Test("sendDatagram to a path, as NOTIFY_SOCKET may name one; to nothing, ECONNREFUSED or ENOENT")
  func pathAddress() throws {
    let path = temporaryPath("notify.sock")
    defer { try? Sys.removeFile(path) }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    #expect(fd >= 0)
    defer { close(fd) }
    var a = sockaddr_un()
    a.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &a.sun_path) { buf in
      for (i, c) in path.utf8.enumerated() { buf[i] = c }
    }
    let bound = withUnsafePointer(to: &a) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    #expect(bound == 0)
    try UnixSocket.sendDatagram(Array("WATCHDOG=1".utf8), to: Array(path.utf8))
    var buf = [UInt8](repeating: 0, count: 32)
    let n = recv(fd, &buf, buf.count, 0)
    #expect(Array(buf.prefix(max(n, 0))) == Array("WATCHDOG=1".utf8))
    #expect(throws: Errno.self) { try UnixSocket.sendDatagram(Array("X=1".utf8), to: Array((path + ".none").utf8)) }
  }

  @Test("receiveDatagrams takes up to a batch in one call, each in its slot, a long one cut; then EAGAIN")
  func batches() throws {
    let (ours, theirs) = try Sys.socketPair(datagram: true)
    defer {
      ours.closeQuietly()
      theirs.closeQuietly()
    }
    for i in 0..<5 { _ = try UnixSocket.send(theirs, Array("BUSY=\(i)".utf8)[...]) }
    _ = try UnixSocket.send(theirs, [UInt8](repeating: 0x42, count: 40)[...])
    var buffer = [UInt8](repeating: 0, count: 4 * 16)
    var lengths = [Int](repeating: 0, count: 4)
    #expect(try UnixSocket.receiveDatagrams(ours, into: &buffer, slot: 16, lengths: &lengths) == 4)
    for i in 0..<4 {
      let got = Array(buffer[i * 16..<i * 16 + lengths[i]])
      #expect(got == Array("BUSY=\(i)".utf8))
    }
    #expect(try UnixSocket.receiveDatagrams(ours, into: &buffer, slot: 16, lengths: &lengths) == 2)
    #expect(Array(buffer[16..<16 + min(lengths[1], 16)]) == [UInt8](repeating: 0x42, count: 16))
    #expect(throws: Errno.wouldBlock) {
      try UnixSocket.receiveDatagrams(ours, into: &buffer, slot: 16, lengths: &lengths)
    }
  }
}
