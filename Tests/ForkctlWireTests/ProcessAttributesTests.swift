import Testing

@testable import ForkctlWire

// The attributes block (forkctl-protocol(7), PROCESS ATTRIBUTES): its exact bytes, where it
// goes in each message, that a message without it is byte for byte what it was before the
// block existed, and every value the decoder refuses.

private func spawnWith(_ attributes: ProcessAttributes) -> Frame {
  Request.spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("p")), attributes: attributes)).frame()
}

/// A spawn request whose attributes block is `block`.
private func spawnWithBlock(_ block: [UInt8]) -> Frame {
  frame(.spawn) { w in
    w.string([])
    w.string([])
    w.u32(SpawnRequest.attributesFlag)
    w.u32(0)
    RunSpec(program: b("p")).write(to: &w)
    for byte in block { w.u8(byte) }
  }
}

/// A valid block with the defaults, then `limits`, `flags` and `capabilities` as given.
private func block(
  umask: UInt32 = 0o022, nice: Int32 = 0, ignored: UInt64 = 0, blocked: UInt64 = 0,
  limits: [(UInt32, UInt64, UInt64)] = [], flags: UInt32 = 0, capabilities: [UInt64] = [0, 0, 0, 0, 0]
) -> [UInt8] {
  var w = PayloadWriter()
  w.u32(umask)
  w.i32(nice)
  w.u64(ignored)
  w.u64(blocked)
  w.u32(UInt32(limits.count))
  for (r, soft, hard) in limits {
    w.u32(r)
    w.u64(soft)
    w.u64(hard)
  }
  w.u32(flags)
  for c in capabilities { w.u64(c) }
  return w.bytes
}

@Suite("Process attributes on the wire")
struct ProcessAttributesTests {
  @Test("the attributes block follows the spec, every integer little-endian, limits as resource, soft, hard")
  func blockBytes() {
    let a = ProcessAttributes(
      umask: 0o077, nice: -3, ignoredSignals: 1, blockedSignals: 1 << 63,
      limits: [.init(resource: 7, soft: 200, hard: .max)], flags: [.noNewPrivileges])
    let payload = spawnWith(a).payload
    let bare = Request.spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("p")))).frame().payload
    // from "", name "", then the flags word: attributes (4).
    #expect(payload[8..<12] == [4, 0, 0, 0])
    #expect(Array(payload[12..<bare.count]) == Array(bare[12...]))
    #expect(
      Array(payload[bare.count...]) == [
        0x3f, 0, 0, 0,  // umask 077
        0xfd, 0xff, 0xff, 0xff,  // nice -3
        1, 0, 0, 0, 0, 0, 0, 0,  // ignored: SIGHUP (bit 0)
        0, 0, 0, 0, 0, 0, 0, 0x80,  // blocked: signal 64 (bit 63)
        1, 0, 0, 0,  // one limit
        7, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0,  // RLIMIT_NOFILE, soft 200
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // hard RLIM_INFINITY
        1, 0, 0, 0,  // flags: noNewPrivileges
      ] + [UInt8](repeating: 0, count: 40))  // five capability masks
    #expect(payload.count - bare.count == ProcessAttributes.fixedSize + ProcessAttributes.ResourceLimit.size)
  }

  @Test("a spawn without attributes is byte for byte the request of a client older than the block")
  func spawnWithoutAttributesUnchanged() {
    let bytes = Request.spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("p")), detach: true)).frame()
      .encoded()
    #expect(
      bytes == [
        0x01, 0x0c, 0x00, 0x00, 0x1d, 0x00, 0x00, 0x00,  // spawn, 29 bytes
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // from "", name ""
        0x01, 0x00, 0x00, 0x00,  // flags: detach only
        0x00, 0x00, 0x00, 0x00,  // no targets
        0x00, 0x00, 0x00, 0x00,  // run flags
        0x01, 0x00, 0x00, 0x00, 0x70,  // "p"
        0x00, 0x00, 0x00, 0x00,  // no arguments
      ])
  }

  @Test("the run and spawn commands flag the block with bit 32 of the spec's flags word")
  func commandFlag() throws {
    let a = ProcessAttributes(umask: 0)
    let run = Command.run(RunSpec(program: b("p")), statusPipe: true, attributes: a).frame()
    #expect(run.payload[0..<4] == [16 | 32, 0, 0, 0])
    #expect(run.fdCount == 1)
    let spawn = Command.spawn(id: 1, targets: [], spec: RunSpec(program: b("p")), attributes: a).frame()
    #expect(spawn.payload[12..<16] == [32, 0, 0, 0])
    let request = Request.run(ref: b("w"), spec: RunSpec(program: b("p")), attributes: a).frame()
    #expect(request.payload[5..<9] == [32, 0, 0, 0])
    #expect(throws: WireError.invalid("run flags 48")) {
      try Request(
        frame(.run) { w in
          w.string(b("w"))
          w.u32(48)
        })
    }
  }

  @Test("the attributes flag without its block is a truncated message")
  func flagWithoutBlock() {
    #expect(throws: WireError.truncated) { try Request(spawnWithBlock([])) }
    #expect(throws: WireError.truncated) { try Request(spawnWithBlock(block().dropLast())) }
  }

  @Test("a block with trailing bytes is refused")
  func trailing() {
    #expect(throws: WireError.trailingBytes(1)) { try Request(spawnWithBlock(block() + [0])) }
  }

  @Test(
    "values no process can have are refused",
    arguments: [
      (block(umask: 0o1000), "umask 512"),
      (block(nice: 20), "nice value 20"),
      (block(nice: -21), "nice value -21"),
      (block(ignored: 1 << 8), "SIGKILL or SIGSTOP ignored or blocked"),
      (block(blocked: 1 << 18), "SIGKILL or SIGSTOP ignored or blocked"),
      (block(limits: [(16, 0, 0)]), "resource 16"),
      (block(limits: [(7, 1, 2), (7, 1, 2)]), "resource 7 twice"),
      (block(limits: [(4, 2, 1)]), "resource 4: soft limit above the hard limit"),
      (block(flags: 8), "attribute flags 8"),
      (block(capabilities: [0, 0, 1, 0, 0]), "capability masks without dropCapabilities"),
    ])
  func refused(_ written: [UInt8], _ reason: String) {
    #expect(throws: WireError.invalid(reason)) { try Request(spawnWithBlock(written)) }
  }

  @Test("the limit count is checked against the bytes left before anything is read")
  func limitCountTruncated() {
    let f = spawnWithBlock(Array(block().prefix(24)) + [0xe8, 0x03, 0, 0] + block().suffix(44))
    #expect(throws: WireError.truncated) { try Request(f) }
  }

  @Test("a failure word packs the step over the errno, and a bare errno is an exec failure")
  func failureWord() {
    #expect(ExecFailure(rawValue: 2) == ExecFailure(step: .exec, errno: 2))
    let limit = ExecFailure(step: .limit(7), errno: 1)
    #expect(limit.rawValue == 0x0107_0001)
    #expect(ExecFailure(rawValue: limit.rawValue) == limit)
    #expect(limit.step.resource == 7)
    #expect(limit.step.failedAction == "cannot apply the caller's RLIMIT_NOFILE")
    #expect(ExecFailure.Step.nice.resource == nil)
    #expect(ExecFailure.Step.exec.failedAction == nil)
  }
}
