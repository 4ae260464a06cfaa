// The requests that end the life of process objects and of the daemon, byte for byte as
// forkctl-protocol(7) documents them: forget, prune.
import Testing

@testable import ForkctlWire

@Suite struct LifecycleMessageTests {
  @Test("forget is type 0x0e with a list of refs; prune is type 0x0f with an empty payload")
  func forgetAndPruneBytes() throws {
    let forget = Request.forget(refs: [b("7"), b("w")])
    #expect(
      forget.frame().encoded() == [
        0x01, 0x0e, 0, 0, 14, 0, 0, 0,
        2, 0, 0, 0, 1, 0, 0, 0, 0x37, 1, 0, 0, 0, 0x77,
      ])
    #expect(try Request(throughDecoder(forget.frame())) == forget)
    #expect(Request.prune.frame().encoded() == [0x01, 0x0f, 0, 0, 0, 0, 0, 0])
    #expect(try Request(throughDecoder(Request.prune.frame())) == .prune)
  }

  @Test("forget and prune carry no descriptor and prune no payload")
  func forgetAndPruneRefuseExtras() {
    #expect(throws: WireError.self) { try Request(Frame(type: .prune, payload: [0], fdCount: 0)) }
    #expect(throws: WireError.self) { try Request(Frame(type: .prune, payload: [], fdCount: 1)) }
    #expect(throws: WireError.self) { try Request(Frame(type: .forget, payload: [0, 0, 0, 0], fdCount: 1)) }
  }
}
