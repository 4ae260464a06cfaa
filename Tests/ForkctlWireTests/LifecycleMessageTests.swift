// The requests that end the life of process objects and of the daemon, byte for byte as
// forkctl-protocol(7) documents them: forget, prune, wait --all, run --detach, shutdown --wait.
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

  @Test("wait --all is a wait with no ref and trailing flags 1; a plain wait has no flags, as before")
  func waitAllBytes() throws {
    #expect(Request.waitAll.frame().encoded() == [0x01, 0x08, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    #expect(try Request(throughDecoder(Request.waitAll.frame())) == .waitAll)
    #expect(Request.wait(refs: [b("w")]).frame().payload == [1, 0, 0, 0, 1, 0, 0, 0, 0x77])
  }

  @Test("wait flags other than 1, written-out zero flags, or refs beside --all are refused")
  func badWaitFlagsAreRefused() {
    for (refs, flags): ([[UInt8]], UInt32) in [([], 0), ([], 2), ([], 3), ([b("w")], 1)] {
      let f = frame(.wait) {
        $0.list(refs)
        $0.u32(flags)
      }
      #expect(throws: WireError.self, "refs \(refs) flags \(flags)") { try Request(f) }
    }
  }

  @Test("run --detach is bit 64 of the run request's spec flags, and refused with the wait bit")
  func runDetachFlag() throws {
    let detached = Request.run(ref: b("w"), spec: RunSpec(program: b("true")), detach: true)
    // ref "w", then the spec flags word: 64.
    #expect(Array(detached.frame().payload[5..<9]) == [64, 0, 0, 0])
    #expect(try Request(throughDecoder(detached.frame())) == detached)
    let waiting = frame(.run) {
      $0.string(b("w"))
      RunSpec(program: b("true"), waitForExit: true).write(to: &$0, outerFlags: 64)
    }
    #expect(throws: WireError.self) { try Request(waiting) }
  }

  @Test("shutdown --wait is a shutdown with flags 1; other flags, zero written out included, are refused")
  func drainBytes() throws {
    #expect(Request.drain.frame().encoded() == [0x01, 0x0b, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0])
    #expect(try Request(throughDecoder(Request.drain.frame())) == .drain)
    for flags: UInt32 in [0, 2, 3] {
      #expect(throws: WireError.self, "flags \(flags)") { try Request(frame(.shutdown) { $0.u32(flags) }) }
    }
  }

  @Test("the still-running failure is code 15")
  func stillRunningCode() {
    #expect(ErrorCode.stillRunning.rawValue == 15 && ErrorCode.stillRunning.name == "stillRunning")
  }
}
