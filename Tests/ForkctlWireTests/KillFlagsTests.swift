// kill's optional trailing flags (--group): absent unless set, so that a kill without them
// is byte for byte what an older daemon reads.
import Testing

@testable import ForkctlWire

@Suite struct KillFlagsTests {
  @Test("kill with group set round-trips; without it the frame has no flags, as before they existed")
  func groupFlagIsOptionalAndTrailing() throws {
    let grouped = Request.kill(signal: 9, refs: [b("w")], group: true)
    #expect(try Request(throughDecoder(grouped.frame())) == grouped)
    let plain = Request.kill(signal: 9, refs: [b("w")])
    let old = frame(.kill) {
      $0.i32(9)
      $0.list([b("w")])
    }
    #expect(plain.frame() == old)
    #expect(try Request(old) == plain)
    #expect(grouped.frame().payload == old.payload + [1, 0, 0, 0])
  }

  @Test("kill flags other than the group bit, written-out zero flags among them, are refused")
  func unknownOrZeroKillFlagsAreRefused() {
    for flags: UInt32 in [0, 2, 3, 0x8000_0000] {
      let f = frame(.kill) {
        $0.i32(15)
        $0.list([b("w")])
        $0.u32(flags)
      }
      #expect(throws: WireError.self, "flags \(flags)") { try Request(f) }
    }
  }
}
