// The telemetry messages byte for byte, as forkctl-protocol(7) documents them: memory (0x11,
// reply 0x47) and audit (0x12, reply 0x48).
import Testing

@testable import ForkctlWire

private func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

@Suite struct TelemetryMessageTests {
  static let figures = MemoryFigures(
    resident: 1, proportional: 2, sharedClean: 3, sharedDirty: 4, privateClean: 5, privateDirty: 6, anonymous: 7,
    swap: UInt64.max)

  @Test("memory is type 0x11 with a list of refs; audit 0x12 with one ref")
  func requestBytes() throws {
    let memory = Request.memory(refs: [b("7")])
    #expect(memory.frame().encoded() == [0x01, 0x11, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x37])
    let all = Request.memory(refs: [])
    #expect(all.frame().encoded() == [0x01, 0x11, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0])
    let audit = Request.audit(ref: b("w"))
    #expect(audit.frame().encoded() == [0x01, 0x12, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0x77])
    for r in [memory, all, audit] { #expect(try Request(throughDecoder(r.frame())) == r) }
  }

  @Test("the memory reply 0x47: a count, then 89-byte entries: id, parent, pid, reading, errno, eight u64")
  func memoryReplyBytes() throws {
    let reply = Reply.memory([
      MemoryEntry(id: 2, parent: 1, pid: 0x0102, reading: .measured(Self.figures)),
      MemoryEntry(id: 3, parent: 1, pid: 0, reading: .noProcess),
      MemoryEntry(id: 4, parent: 0, pid: 9, reading: .unreadable(errno: 13)),
    ])
    let zero = [UInt8](repeating: 0, count: 64)
    let expected: [UInt8] =
      [3, 0, 0, 0]
      + le64(2) + le64(1) + [0x02, 0x01, 0, 0] + [0] + [0, 0, 0, 0] + [1, 2, 3, 4, 5, 6, 7].flatMap(le64) + le64(.max)
      + le64(3) + le64(1) + [0, 0, 0, 0] + [1] + [0, 0, 0, 0] + zero
      + le64(4) + le64(0) + [9, 0, 0, 0] + [2] + [13, 0, 0, 0] + zero
    let frame = reply.frame()
    #expect(frame.type.rawValue == 0x47)
    #expect(frame.payload == expected)
    #expect(MemoryEntry.size == 89)
    #expect(try Reply(throughDecoder(frame)) == reply)
    #expect(Self.figures.shared == 7 && Self.figures.unshared == 11)
  }

  @Test("47,126 entries fill one memory reply, as forkctl-protocol(7) says; one more does not fit")
  func memoryReplyRoom() {
    let entry = MemoryEntry(id: 1, parent: 0, pid: 1, reading: .noProcess)
    let room = (WireLimits.maxPayload - 4) / MemoryEntry.size
    #expect(room == 47126)
    #expect(Reply.memory(Array(repeating: entry, count: room)).frame().payload.count <= WireLimits.maxPayload)
    #expect(Reply.memory(Array(repeating: entry, count: room + 1)).frame().payload.count > WireLimits.maxPayload)
  }

  @Test("the mappings reply 0x48 is a list of paths, then the list of modules imported after the fork")
  func mappingsReplyBytes() throws {
    let reply = Reply.mappings([b("/a"), notUTF8])
    #expect(reply.frame().encoded().prefix(2) == [0x01, 0x48])
    #expect(reply.frame().payload == [2, 0, 0, 0, 2, 0, 0, 0, 0x2f, 0x61, 6, 0, 0, 0] + notUTF8 + [0, 0, 0, 0])
    #expect(try Reply(throughDecoder(reply.frame())) == reply)
    #expect(try Reply(throughDecoder(Reply.mappings([]).frame())) == .mappings([]))
  }

  @Test("an entry has one encoding: an errno only when unreadable, figures only when measured")
  func badEntries() {
    let cases: [(UInt8, Int32, UInt64)] = [
      (0, 13, 0), (1, 0, 1), (1, 5, 0), (2, 0, 0), (2, -1, 0), (2, 13, 1), (3, 0, 0),
    ]
    for (tag, errno, resident) in cases {
      let f = frame(.memoryReport) {
        $0.u32(1)
        $0.u64(1)
        $0.u64(0)
        $0.i32(5)
        $0.u8(tag)
        $0.i32(errno)
        $0.u64(resident)
        for _ in 0..<7 { $0.u64(0) }
      }
      #expect(throws: WireError.self, "tag \(tag) errno \(errno) rss \(resident)") { try Reply(f) }
    }
    // A count larger than the entries that follow.
    let short = frame(.memoryReport) { $0.u32(2) }
    #expect(throws: WireError.self) { try Reply(short) }
    let withFD = Request.audit(ref: b("w")).frame()
    #expect(throws: WireError.self) { try Request(Frame(type: .audit, payload: withFD.payload, fdCount: 1)) }
  }
}
