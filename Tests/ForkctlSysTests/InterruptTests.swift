import ForkctlSys
import Glibc
import Testing

/// The one EINTR policy (SystemCall.swift): a call a signal handler interrupts is made again.
@Suite(.serialized) struct InterruptTests {
  @Test("a read interrupted by a handler without SA_RESTART is made again and returns the data")
  func readRetriedAfterInterruption() throws {
    installInterruptingHandler()
    let pipe = try Sys.pipe()
    defer {
      pipe.read.closeQuietly()
      pipe.write.closeQuietly()
    }
    let result = Shared<Result<[UInt8], Errno>?>(nil)
    let before = interruptions
    let reader = PosixThread {
      unblockInterruptingSignal()
      result.value = Result { () throws(Errno) in try pipe.read.readSome(max: 5) }
    }
    interrupt(reader)
    try pipe.write.writeFully(Array("hello".utf8))
    reader.join()
    #expect(interruptions > before, "the handler ran")
    #expect(try result.value?.get() == Array("hello".utf8))
  }

  @Test("a connect interrupted while the listener's queue is full completes once there is room")
  func connectCompletesAfterInterruption() throws {
    installInterruptingHandler()
    let path = temporaryPath("connect.sock")
    defer { try? Sys.removeFile(path) }
    // Backlog 0: Linux queues one connection, and the next connect blocks (unix_recvq_full).
    let listener = try UnixSocket.listen(at: path, backlog: 0)
    defer { listener.closeQuietly() }
    let first = try UnixSocket.connect(to: path)
    defer { first.closeQuietly() }
    let result = Shared<Result<FileDescriptor, Errno>?>(nil)
    let before = interruptions
    let connector = PosixThread {
      unblockInterruptingSignal()
      result.value = Result { () throws(Errno) in try UnixSocket.connect(to: path) }
    }
    interrupt(connector)
    let accepted = try #require(try UnixSocket.accept(listener), "the first connection was queued")
    connector.join()
    accepted.closeQuietly()
    #expect(interruptions > before, "the handler ran")
    let second = try #require(try result.value?.get())
    defer { second.closeQuietly() }
    _ = try Sys.waitReadable([listener])
    let acceptedSecond = try #require(try UnixSocket.accept(listener), "the second connection arrived")
    acceptedSecond.closeQuietly()
  }
}
