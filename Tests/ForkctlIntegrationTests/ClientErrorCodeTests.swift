// ForkctlClient against a fake daemon on a socket pair: what a client makes of a refusal code
// it does not know, as from a newer daemon.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Testing

@Suite struct ClientErrorCodeTests {
  /// A socket pair whose daemon end has already sent `reply`: (client end, daemon end).
  private func pair(replying reply: Reply) throws -> (client: FileDescriptor, daemon: FileDescriptor) {
    let (client, daemon) = try Sys.socketPair()
    try FrameChannel(daemon).send(reply.frame())
    return (client, daemon)
  }

  private func isRefusal(_ error: any Error, _ raw: UInt16, _ message: String) -> Bool {
    guard let e = error as? ForkctlError else { return false }
    return e.code == .refused && e.refusal?.rawValue == raw && e.message == message
  }

  @Test("a refusal with an unknown code is thrown as refused, with the daemon's message and code")
  func unknownCodeIsARefusal() throws {
    let fds = try pair(replying: .failure(ErrorCode(rawValue: 999), "no pool named p"))
    defer { fds.daemon.closeQuietly() }
    var c = ForkctlConnection(adopting: fds.client, socketPath: "fake")
    #expect { _ = try c.list() } throws: { isRefusal($0, 999, "no pool named p") }
  }

  @Test("a connection turned away with an unknown code before its request reports it as refused")
  func unknownCodeBeforeTheRequest() throws {
    let fds = try pair(replying: .failure(ErrorCode(rawValue: 999), "not now"))
    // The daemon has closed: the request meets EPIPE, and the refusal waits to be read.
    fds.daemon.closeQuietly()
    var c = ForkctlConnection(adopting: fds.client, socketPath: "fake")
    #expect { _ = try c.list() } throws: { isRefusal($0, 999, "not now") }
  }
}
