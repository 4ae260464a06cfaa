import Testing

@testable import ForkctlWire

@Suite("Payload decoding errors")
struct PayloadDecodingErrorTests {
  // MARK: PayloadReader

  @Test("bytes after the last field are refused as trailing bytes")
  func trailingBytes() {
    var f = Request.new(name: b("x")).frame()
    f.payload += [0, 0]
    #expect(throws: WireError.trailingBytes(2)) { try Request(f) }
    var r = Reply.created(id: 1, pid: 2).frame()
    r.payload.append(9)
    #expect(throws: WireError.trailingBytes(1)) { try Reply(r) }
    var c = Command.fork(id: 1).frame()
    c.payload.append(9)
    #expect(throws: WireError.trailingBytes(1)) { try Command(c) }
    var p = Report.forked(pid: 1).frame()
    p.payload.append(9)
    #expect(throws: WireError.trailingBytes(1)) { try Report(p) }
    var list = Request.list.frame()
    list.payload = [0]
    #expect(throws: WireError.trailingBytes(1)) { try Request(list) }
  }

  @Test("a string length cut short is truncated")
  func truncatedStringLength() {
    #expect(throws: WireError.truncated) { try Request(Frame(type: .new, payload: [1, 0, 0], fdCount: 0)) }
    #expect(throws: WireError.truncated) { try Request(Frame(type: .new, payload: [], fdCount: 0)) }
  }

  @Test("a string longer than the bytes left is truncated")
  func truncatedStringBody() {
    let f = frame(.exec) { w in
      w.u32(10)
      w.u8(0x61)
    }
    #expect(throws: WireError.truncated) { try Request(f) }
    #expect(throws: WireError.truncated) {
      try Request(Frame(type: .new, payload: [0xff, 0xff, 0xff, 0xff], fdCount: 0))
    }
  }

  @Test("every proper prefix of a valid payload is refused, never accepted or crashing")
  func everyPrefixIsRefused() {
    let samples: [Frame] = [
      Request.run(
        ref: b("w"), spec: RunSpec(program: b("p"), arguments: [b("a")], environment: [b("K=V")])
      ).frame(),
      Reply.listing([
        ProcessEntry(
          id: 1, name: b("n"), role: .forked, parent: 0, pid: 1, state: .exited, status: .exited(1), fdsSent: 1,
          argumentsSent: 1, program: b("p"))
      ]).frame(),
      Reply.statuses([(id: 1, status: .exited(0))]).frame(),
      Command.fds(targets: [nil, 3]).frame(),
    ]
    for f in samples {
      for cut in 0..<f.payload.count {
        var g = f
        g.payload = Array(f.payload.prefix(cut))
        let threw: Bool
        switch f.type {
        case .run: threw = (try? Request(g)) == nil
        case .listing, .statuses: threw = (try? Reply(g)) == nil
        default: threw = (try? Command(g)) == nil
        }
        #expect(threw, "prefix of \(cut) bytes of \(f.type) was accepted")
      }
    }
  }

  @Test("a list count larger than the bytes left is truncated before anything is allocated")
  func listCountBeyondBytes() {
    // The largest allowed count with nothing behind it: refused on arithmetic alone.
    var r = PayloadReader(PayloadWriter.with { $0.u32(UInt32(WireLimits.maxListCount)) })
    #expect(throws: WireError.truncated) { try r.list() }
    // A count that needs 4 bytes per item more than what is left.
    var r2 = PayloadReader(
      PayloadWriter.with { w in
        w.u32(3)
        w.string([])
        w.string([])
      })
    #expect(throws: WireError.truncated) { try r2.list() }
    let wait = frame(.wait) { $0.u32(1000) }
    #expect(throws: WireError.truncated) { try Request(wait) }
  }

  @Test("a list count over maxListCount is refused as too long")
  func listCountOverLimit() {
    let n = WireLimits.maxListCount + 1
    var r = PayloadReader(PayloadWriter.with { $0.u32(UInt32(n)) })
    #expect(throws: WireError.listTooLong(n)) { try r.list() }
    var huge = PayloadReader(PayloadWriter.with { $0.u32(UInt32.max) })
    #expect(throws: WireError.listTooLong(Int(UInt32.max))) { try huge.list() }
    #expect(throws: WireError.listTooLong(n)) {
      try Request(
        frame(.sendArgs) { w in
          w.string(b("w"))
          w.u32(UInt32(n))
        })
    }
  }

  @Test("fixed-size item counts are checked against the limit and the bytes left")
  func itemCounts() throws {
    var over = PayloadReader(PayloadWriter.with { $0.u32(UInt32(WireLimits.maxListCount + 1)) })
    #expect(throws: WireError.listTooLong(WireLimits.maxListCount + 1)) { try over.count(itemSize: 1) }
    var short = PayloadReader(
      PayloadWriter.with { w in
        w.u32(2)
        w.u32(0)
      })
    #expect(throws: WireError.truncated) { try short.count(itemSize: 4) }
    var fits = PayloadReader(
      PayloadWriter.with { w in
        w.u32(2)
        w.u64(0)
      })
    #expect(try fits.count(itemSize: 4) == 2)
    // Statuses (13 bytes each) and listings (at least 43 each) check their counts the same way.
    #expect(throws: WireError.truncated) {
      try Reply(
        frame(.statuses) {
          $0.u32(2)
          $0.u64(1)
        })
    }
    #expect(throws: WireError.truncated) { try Reply(frame(.listing) { $0.u32(1000) }) }
    #expect(throws: WireError.truncated) {
      try Request(
        frame(.sendFDs, fds: 2) { w in
          w.string(b("w"))
          w.u32(2)
          w.i32(-1)
        })
    }
  }

  // MARK: Requests

  @Test("send-fd declaring 2 targets in a frame with 1 descriptor is a count mismatch")
  func sendFDsWrongFDCount() {
    var f = Request.sendFDs(ref: b("w"), targets: [nil, 3]).frame()
    f.fdCount = 1
    #expect(throws: WireError.fdCountMismatch(type: MessageType.sendFDs.rawValue, declared: 2, received: 1)) {
      try Request(f)
    }
    f.fdCount = 3
    #expect(throws: WireError.fdCountMismatch(type: MessageType.sendFDs.rawValue, declared: 2, received: 3)) {
      try Request(f)
    }
  }

  @Test("spawn counts its descriptors as targets plus the working directory")
  func spawnWrongFDCount() {
    let spec = RunSpec(program: b("p"), hasWorkingDirectory: true)
    var f = Request.spawn(SpawnRequest(targets: [0, 1, 2], spec: spec)).frame()
    #expect(f.fdCount == 4)
    f.fdCount = 3
    #expect(throws: WireError.fdCountMismatch(type: MessageType.spawn.rawValue, declared: 4, received: 3)) {
      try Request(f)
    }
  }

  @Test("spawn with unknown flags, or with waitForExit set, is refused")
  func spawnFlags() {
    let unknown = frame(.spawn) { w in
      w.string([])
      w.string([])
      w.u32(8)
      w.u32(0)
      w.u32(0)
      w.string(b("p"))
      w.u32(0)
    }
    #expect(throws: WireError.invalid("spawn flags 8")) { try Request(unknown) }
    var spec = RunSpec(program: b("p"))
    spec.waitForExit = true
    var w = PayloadWriter()
    w.string([])
    w.string([])
    w.u32(0)
    w.u32(0)
    spec.write(to: &w)
    #expect(throws: WireError.invalid("run flags")) { try Request(Frame(type: .spawn, payload: w.bytes, fdCount: 0)) }
  }

  @Test("signal numbers outside 1...64 are refused", arguments: [Int32(0), -1, 65, Int32.max])
  func badSignal(_ n: Int32) {
    let f = frame(.signal) { w in w.i32(n) }
    #expect(throws: WireError.invalid("signal \(n)")) { try Request(f) }
  }

  @Test("send-fd without any target is refused")
  func sendFDsEmpty() {
    let f = frame(.sendFDs) { w in
      w.string(b("w"))
      w.u32(0)
    }
    #expect(throws: WireError.invalid("send-fd without descriptors")) { try Request(f) }
  }

  @Test(
    "descriptor targets outside -1...WireLimits.maxTargetFD are refused",
    arguments: [Int32(-2), Int32.min, WireLimits.maxTargetFD + 1, Int32.max])
  func badTargets(_ target: Int32) {
    let f = frame(.sendFDs, fds: 1) { w in
      w.string(b("w"))
      w.u32(1)
      w.i32(target)
    }
    #expect(throws: WireError.invalid("descriptor target \(target)")) { try Request(f) }
    let c = frame(.commandFDs, fds: 1) { w in
      w.u32(1)
      w.i32(target)
    }
    #expect(throws: WireError.invalid("descriptor target \(target)")) { try Command(c) }
  }

  @Test("run with a working-directory flag but no descriptor is a count mismatch")
  func runCwdWithoutFD() {
    var f = Request.run(ref: b("w"), spec: RunSpec(program: b("x"), hasWorkingDirectory: true)).frame()
    #expect(f.fdCount == 1)
    f.fdCount = 0
    #expect(throws: WireError.fdCountMismatch(type: MessageType.run.rawValue, declared: 1, received: 0)) {
      try Request(f)
    }
    var g = Request.run(ref: b("w"), spec: RunSpec(program: b("x"))).frame()
    g.fdCount = 1
    #expect(throws: WireError.fdCountMismatch(type: MessageType.run.rawValue, declared: 0, received: 1)) {
      try Request(g)
    }
  }

  @Test("run with an empty program is refused")
  func runEmptyProgram() {
    let f = Request.run(ref: b("w"), spec: RunSpec(program: [])).frame()
    #expect(throws: WireError.invalid("empty program name")) { try Request(f) }
    #expect(throws: WireError.invalid("empty program name")) {
      try Command(Command.run(RunSpec(program: []), statusPipe: false).frame())
    }
  }

  @Test("run with NUL in the program or an argument is refused")
  func runNUL() {
    let f = Request.run(ref: b("w"), spec: RunSpec(program: [0x61, 0, 0x62])).frame()
    #expect(throws: WireError.invalid("program name holds a NUL byte")) { try Request(f) }
    let g = Request.run(ref: b("w"), spec: RunSpec(program: b("p"), arguments: [b("ok"), [0x61, 0]])).frame()
    #expect(throws: WireError.invalid("argument holds a NUL byte")) { try Request(g) }
  }

  @Test(
    "run with an environment string that is not NAME=VALUE without NUL is refused",
    arguments: [b("NOEQUALS"), [], [0x41, 0x3d, 0x00]])
  func runBadEnvironment(_ entry: [UInt8]) {
    let f = Request.run(ref: b("w"), spec: RunSpec(program: b("p"), environment: [b("OK=1"), entry])).frame()
    #expect(throws: WireError.invalid("environment string is not NAME=VALUE without NUL")) { try Request(f) }
  }

  @Test("run with unknown flag bits is refused", arguments: [UInt32(512), 1024, 1 << 31, 0xffff_fe7f])
  func runUnknownFlags(_ flags: UInt32) {
    let f = frame(.run) { w in
      w.string(b("w"))
      w.u32(flags)
      w.string(b("p"))
      w.list([])
    }
    #expect(throws: WireError.invalid("run flags \(flags)")) { try Request(f) }
  }

  @Test("a client run request may not set the status-pipe flag, with or without a descriptor", arguments: [0, 1])
  func runStatusPipeFromClient(_ fds: Int) throws {
    let f = frame(.run, fds: fds) { w in
      w.string(b("w"))
      w.u32(16)
      w.string(b("p"))
      w.list([])
    }
    #expect(throws: WireError.invalid("run flags 16")) { try Request(f) }
    // The same run spec is fine as a daemon command.
    let c = frame(.commandRun, fds: 1) { w in
      w.u32(16)
      w.string(b("p"))
      w.list([])
    }
    #expect(try Command(c) == .run(RunSpec(program: b("p")), statusPipe: true))
  }

  @Test("the status-pipe flag belongs to the run command alone: a spawn command may not set it")
  func spawnCommandStatusPipe() {
    let f = frame(.commandSpawn) { w in
      w.u64(1)
      w.u32(0)
      RunSpec(program: b("p")).write(to: &w, outerFlags: Command.statusPipeFlag)
    }
    #expect(throws: WireError.invalid("run flags 16")) { try Command(f) }
  }

  @Test("a command run with a status pipe but no descriptor is a count mismatch")
  func commandRunStatusPipeCount() {
    var f = Command.run(RunSpec(program: b("p"), hasWorkingDirectory: true), statusPipe: true).frame()
    f.fdCount = 1
    #expect(throws: WireError.fdCountMismatch(type: MessageType.commandRun.rawValue, declared: 2, received: 1)) {
      try Command(f)
    }
  }

  @Test("requests other than send-fd and run refuse descriptors")
  func descriptorsOnPlainRequests() {
    for r in [
      Request.hello, .new(name: []), .exec(name: []), .fork(ref: b("1"), name: []),
      .sendArgs(ref: b("1"), arguments: []), .wait(refs: [b("1")]), .kill(signal: 9, refs: [b("1")]),
      .list, .shutdown,
    ] {
      var f = r.frame()
      f.fdCount = 1
      #expect(throws: WireError.fdCountMismatch(type: f.type.rawValue, declared: 0, received: 1)) { try Request(f) }
    }
  }

  @Test("replies, commands and reports decoded as a Request are unexpected")
  func wrongDirectionAsRequest() {
    for f in replySamples.map({ $0.frame() }) + commandSamples.map({ $0.frame() })
      + reportSamples.map({ $0.frame() })
    {
      #expect(throws: WireError.unexpected(f.type)) { try Request(f) }
    }
  }

  @Test("requests decoded as a Reply, Command or Report are unexpected")
  func wrongDirectionOthers() {
    for f in requestSamples.map({ $0.frame() }) where f.fdCount == 0 {
      #expect(throws: WireError.unexpected(f.type)) { try Reply(f) }
      #expect(throws: WireError.unexpected(f.type)) { try Report(f) }
    }
    for f in requestSamples.map({ $0.frame() }) {
      #expect(throws: WireError.unexpected(f.type)) { try Command(f) }
    }
    for f in commandSamples.map({ $0.frame() }) where f.fdCount == 0 {
      #expect(throws: WireError.unexpected(f.type)) { try Reply(f) }
    }
  }

  // MARK: Replies and reports

  @Test("replies and reports may not carry descriptors")
  func repliesCarryNoDescriptors() {
    var f = Reply.ok.frame()
    f.fdCount = 1
    #expect(throws: WireError.fdCountMismatch(type: MessageType.ok.rawValue, declared: 0, received: 1)) { try Reply(f) }
    var g = Report.forked(pid: 3).frame()
    g.fdCount = 2
    #expect(throws: WireError.fdCountMismatch(type: MessageType.forked.rawValue, declared: 0, received: 2)) {
      try Report(g)
    }
  }

  // Unknown error codes decode (ErrorCodeTests.swift): a newer daemon may add them.
  @Test("unknown exit status tags, roles and states are refused")
  func unknownEnumValues() {
    let badTag = frame(.statuses) { w in
      w.u32(1)
      w.u64(1)
      w.u8(4)
      w.i32(0)
    }
    #expect(throws: WireError.invalid("exit status tag 4")) { try Reply(badTag) }
    let noStatus = frame(.statuses) { w in
      w.u32(1)
      w.u64(1)
      w.u8(0)
      w.i32(0)
    }
    #expect(throws: WireError.invalid("missing exit status")) { try Reply(noStatus) }

    func listing(role: UInt8, state: UInt8) -> Frame {
      frame(.listing) { w in
        w.u32(1)
        w.u64(1)
        w.string([])
        w.u8(role)
        w.u64(0)
        w.i32(1)
        w.u8(state)
        w.u8(0)
        w.i32(0)
        w.u32(0)
        w.u32(0)
        w.string([])
      }
    }
    #expect(throws: Never.self) { try Reply(listing(role: 2, state: 3)) }
    #expect(throws: Never.self) { try Reply(listing(role: 4, state: 0)) }
    #expect(throws: WireError.invalid("role 5")) { try Reply(listing(role: 5, state: 0)) }
    #expect(throws: WireError.invalid("state 4")) { try Reply(listing(role: 0, state: 4)) }
  }

  @Test("every WireError has a description that names the problem")
  func descriptions() {
    let all: [WireError] = [
      .unsupportedVersion(2), .unknownType(0xee), .payloadTooLarge(5 << 20), .tooManyFDs(65),
      .fdCountMismatch(type: 5, declared: 2, received: 1), .truncated, .trailingBytes(3), .listTooLong(70000),
      .invalid("x"), .unexpected(.ok),
    ]
    for e in all { #expect(!e.description.isEmpty) }
    #expect(WireError.unsupportedVersion(2).description.contains("2"))
    #expect(WireError.fdCountMismatch(type: 5, declared: 2, received: 1).description.contains("1 descriptors where 2"))
  }
}

extension PayloadWriter {
  static func with(_ body: (inout PayloadWriter) -> Void) -> [UInt8] {
    var w = PayloadWriter()
    body(&w)
    return w.bytes
  }
}
