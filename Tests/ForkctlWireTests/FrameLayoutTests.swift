import Testing

@testable import ForkctlWire

// The exact bytes of encoded frames, as forkctl-protocol(7) lays them out: version u8, type u8,
// fd count u16 LE, payload length u32 LE, payload; strings are u32 LE length + octets, lists
// u32 LE count + strings, integers little-endian.

@Suite("Frame byte layout")
struct FrameLayoutTests {
  @Test("fork request encodes header and two length-prefixed strings byte for byte")
  func forkRequestBytes() {
    let bytes = Request.fork(ref: b("7"), name: b("ab")).frame().encoded()
    #expect(
      bytes == [
        0x01, 0x04, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00,  // v1, fork, 0 fds, 11 bytes
        0x01, 0x00, 0x00, 0x00, 0x37,  // "7"
        0x02, 0x00, 0x00, 0x00, 0x61, 0x62,  // "ab"
      ])
  }

  @Test("send-fd request carries its fd count in the header and targets as i32 with -1 for next free")
  func sendFDsRequestBytes() {
    let bytes = Request.sendFDs(ref: b("w"), targets: [nil, 5]).frame().encoded()
    #expect(
      bytes == [
        0x01, 0x05, 0x02, 0x00, 0x11, 0x00, 0x00, 0x00,  // v1, send-fd, 2 fds, 17 bytes
        0x01, 0x00, 0x00, 0x00, 0x77,  // "w"
        0x02, 0x00, 0x00, 0x00,  // 2 targets
        0xff, 0xff, 0xff, 0xff,  // -1: next free
        0x05, 0x00, 0x00, 0x00,  // 5
      ])
  }

  @Test("send-arg request encodes a list as a count then strings, empty strings included")
  func sendArgsListBytes() {
    let bytes = Request.sendArgs(ref: b("1"), arguments: [b("x"), []]).frame().encoded()
    #expect(
      bytes == [
        0x01, 0x06, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00,  // 18 bytes
        0x01, 0x00, 0x00, 0x00, 0x31,  // "1"
        0x02, 0x00, 0x00, 0x00,  // 2 strings
        0x01, 0x00, 0x00, 0x00, 0x78,  // "x"
        0x00, 0x00, 0x00, 0x00,  // ""
      ])
  }

  @Test("run request writes flags, program, arguments, then environment only when present")
  func runRequestBytes() {
    let spec = RunSpec(program: b("p"), arguments: [b("a")], environment: [b("K=V")], waitForExit: true)
    let bytes = Request.run(ref: b("1"), spec: spec).frame().encoded()
    #expect(
      bytes == [
        0x01, 0x07, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00,  // 34 bytes
        0x01, 0x00, 0x00, 0x00, 0x31,  // ref "1"
        0x0c, 0x00, 0x00, 0x00,  // flags: environment (4) | wait (8)
        0x01, 0x00, 0x00, 0x00, 0x70,  // "p"
        0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x61,  // ["a"]
        0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x4b, 0x3d, 0x56,  // ["K=V"]
      ])
    let bare = Request.run(ref: b("1"), spec: RunSpec(program: b("p"))).frame().encoded()
    #expect(
      bare == [
        0x01, 0x07, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x31,
        0x00, 0x00, 0x00, 0x00,  // no flags, no environment list
        0x01, 0x00, 0x00, 0x00, 0x70,
        0x00, 0x00, 0x00, 0x00,
      ])
  }

  @Test("created reply encodes u64 id and i32 pid little-endian")
  func createdReplyBytes() {
    let bytes = Reply.created(id: 0x0102_0304_0506_0708, pid: -2).frame().encoded()
    #expect(
      bytes == [
        0x01, 0x41, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        0xfe, 0xff, 0xff, 0xff,
      ])
  }

  @Test("statuses reply tags exited 1, signaled 2, signaled with core 3")
  func statusesReplyBytes() {
    let bytes = Reply.statuses([
      (id: 1, status: .exited(3)), (id: 2, status: .signaled(9, coreDumped: false)),
      (id: 3, status: .signaled(11, coreDumped: true)),
    ]).frame().encoded()
    #expect(
      bytes == [
        0x01, 0x43, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00,  // 4 + 3 * 13 = 43 bytes
        0x03, 0x00, 0x00, 0x00,
        0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x03, 0x00, 0x00, 0x00,
        0x02, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x09, 0x00, 0x00, 0x00,
        0x03, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x0b, 0x00, 0x00, 0x00,
      ])
  }

  @Test("fork command carries one descriptor and the child id")
  func forkCommandBytes() {
    #expect(
      Command.fork(id: 258).frame().encoded() == [
        0x01, 0x80, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00,
        0x02, 0x01, 0, 0, 0, 0, 0, 0,
      ])
  }

  @Test("payload lengths and fd counts above one byte are little-endian")
  func multiByteHeaderFields() {
    let name = [UInt8](repeating: 0x6e, count: 300)
    let bytes = Request.new(name: name).frame().encoded()
    #expect(Array(bytes.prefix(12)) == [0x01, 0x02, 0x00, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x01, 0x00, 0x00])
    #expect(bytes.count == 8 + 304)
    let manyFDs = Frame(type: .sendFDs, payload: [], fdCount: 0x0102).encoded()
    #expect(manyFDs == [0x01, 0x05, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00])
  }

  @Test("requests without fields have an empty payload; hello carries the version")
  func emptyPayloads() {
    #expect(Request.list.frame().encoded() == [0x01, 0x0a, 0, 0, 0, 0, 0, 0])
    #expect(Request.shutdown.frame().encoded() == [0x01, 0x0b, 0, 0, 0, 0, 0, 0])
    #expect(Reply.ok.frame().encoded() == [0x01, 0x40, 0, 0, 0, 0, 0, 0])
    #expect(Request.hello.frame().encoded() == [0x01, 0x01, 0, 0, 1, 0, 0, 0, 0x01])
    #expect(Request.status.frame().encoded() == [0x01, 0x15, 0, 0, 0, 0, 0, 0])
  }

  @Test("the status reply (0x4b): pid, version, protocol, start, uptime, log, then seven u32 counts")
  func statusLayout() throws {
    let status = DaemonStatus(
      pid: 0x0102, version: b("1"), protocolVersion: 1, startedAt: 2, uptime: 3, log: b("L"), starting: 4, ready: 5,
      running: 6, exited: 7, templates: 8, pools: 9, connections: 10)
    let frame = Reply.status(status).frame()
    #expect(frame.type == .daemonStatus && frame.fdCount == 0)
    let counts: [UInt8] = [4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 10, 0, 0, 0]
    #expect(
      frame.payload
        == [0x02, 0x01, 0, 0, 1, 0, 0, 0, 0x31, 1, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x4c]
        + counts)
    #expect(try Reply(frame) == .status(status))
    // Exact: a byte more or less is refused.
    #expect(throws: WireError.self) { try Reply(Frame(type: .daemonStatus, payload: frame.payload + [0], fdCount: 0)) }
    #expect(throws: WireError.self) {
      try Reply(Frame(type: .daemonStatus, payload: Array(frame.payload.dropLast()), fdCount: 0))
    }
  }

  @Test("PayloadWriter writes integers little-endian and strings length-prefixed")
  func payloadWriterPrimitives() throws {
    var w = PayloadWriter()
    w.u8(0xab)
    w.u16(0x1234)
    w.u32(0xdead_beef)
    w.i32(-1)
    w.u64(0x0102_0304_0506_0708)
    w.string([0xff])
    w.list([[0x61], []])
    #expect(
      w.bytes == [
        0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0xff, 0xff, 0xff, 0xff,
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        0x01, 0x00, 0x00, 0x00, 0xff,
        0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x61, 0x00, 0x00, 0x00, 0x00,
      ])
    var r = PayloadReader(w.bytes)
    #expect(try r.u8() == 0xab)
    #expect(try r.u16() == 0x1234)
    #expect(try r.u32() == 0xdead_beef)
    #expect(try r.i32() == -1)
    #expect(try r.u64() == 0x0102_0304_0506_0708)
    #expect(try r.string() == [0xff])
    #expect(try r.list() == [[0x61], []])
    #expect(r.remaining == 0)
    try r.finish()
  }

  @Test("the smallest listing entry is 43 bytes and a status entry 13 (forkctl-protocol(7))")
  func entrySizes() {
    #expect(ProcessEntry.minimumSize == 43 && StatusEntry.size == 13)
    let minimal = ProcessEntry(
      id: 1, name: [], role: .forked, parent: 0, pid: 0, state: .starting, status: nil, fdsSent: 0,
      argumentsSent: 0, program: [])
    #expect(Reply.listing([minimal, minimal]).frame().payload.count == 4 + 2 * ProcessEntry.minimumSize)
    #expect(Reply.statuses([(id: 1, status: .exited(0))]).frame().payload.count == 4 + StatusEntry.size)
  }
}
