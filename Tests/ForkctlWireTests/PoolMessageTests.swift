// Issue 13's messages byte for byte, as Sources/ForkctlWire/Messages/Pool.swift lays them
// out: the pool request (0x13) and its six operations, the pools reply (0x49), the
// poolEvent reply (0x4a), and every refusal the codec makes before the daemon sees them.
import Testing

@testable import ForkctlWire

/// A workers pool with every field away from its default.
private let webPool = PoolSpec(
  name: b("web"), from: b("tpl"),
  kind: .workers(
    PoolWorkers(
      spec: RunSpec(program: b("./handler"), arguments: [b("-v"), notUTF8], environment: [b("PATH=/bin"), b("E=")]),
      maxRequests: 1000, jitter: 100, timeoutMilliseconds: 30_000, notifyFD: 1023, notifySocket: true)),
  sizes: PoolSizes(start: 4, minIdle: 2, maxIdle: 6, max: 32))

/// A function worker pool, quick exit, the lowest notify descriptor allowed.
private let callPool = PoolSpec(
  name: notUTF8, from: b("loaded"),
  kind: .workers(
    PoolWorkers(spec: RunSpec(program: b("serve"), environment: [], entry: .call(quickExit: true)), notifyFD: 3)),
  sizes: PoolSizes(start: 0, minIdle: 0, maxIdle: 0, max: 0))

private let readyPool = PoolSpec(
  name: b("fast"), from: b("default"), kind: .ready, sizes: PoolSizes(start: 1, minIdle: 1, maxIdle: 9, max: 4))

private let poolRequests: [PoolRequest] = [
  .create(webPool), .create(callPool), .create(readyPool),
  // Every default: 1 worker, no retirement, no timeout, descriptor 9.
  .create(
    PoolSpec(name: b("d"), from: b("t"), kind: .workers(PoolWorkers(spec: RunSpec(program: b("p"), environment: []))))),
  .status(name: []), .status(name: b("web")),
  .resize(name: b("web"), PoolResize()), .resize(name: b("web"), PoolResize(max: 64, minIdle: 1, maxIdle: 8, delta: 3)),
  .reload(name: b("web"), from: []), .reload(name: b("web"), from: b("tpl2")),
  .stop(name: b("web"), graceful: false), .stop(name: b("web"), graceful: true),
  .events(name: b("web")),
]

private let fullSummary = PoolSummary(
  name: b("web"), ready: false, template: UInt64.max, generation: 3, target: 5,
  sizes: PoolSizes(start: 4, minIdle: 2, maxIdle: 6, max: 32), requests: 1234, restarts: 2,
  workers: PoolWorkerEntry.State.allCases.enumerated().map { i, state in
    PoolWorkerEntry(
      id: UInt64(10 + i), pid: Int32(700 + i), state: state, requests: UInt32(i), generation: 3,
      status: i == 0 ? [] : b("serving /\(i)"))
  },
  history: PoolDeparture.Reason.allCases.enumerated().map { i, reason in
    PoolDeparture(
      id: UInt64(i + 1), pid: Int32(600 + i),
      status: i % 3 == 0 ? .exited(Int32(i)) : .signaled(Int32(i + 1), coreDumped: i % 3 == 2), reason: reason)
  })

private let readySummary = PoolSummary(
  name: b("fast"), ready: true, template: 1, generation: 1, target: 4,
  sizes: PoolSizes(start: 1, minIdle: 1, maxIdle: UInt32.max, max: 4), requests: 0, restarts: 0, workers: [],
  history: [])

/// A pool request's payload written by hand: the operation byte, then `write`.
private func poolFrame(_ operation: UInt8, fds: Int = 0, _ write: (inout PayloadWriter) -> Void = { _ in }) -> Frame {
  frame(.pool, fds: fds) {
    $0.u8(operation)
    write(&$0)
  }
}

/// A create of a workers pool, by hand: every field a parameter with a valid default.
private func createFrame(
  kind: UInt8 = 0, sizes: (UInt32, UInt32, UInt32, UInt32) = (1, 0, 1, 1), notifyFD: Int32 = 9,
  flags: UInt32 = 0, spec: RunSpec? = RunSpec(program: b("p"), environment: [b("A=1")]),
  specFlags: UInt32? = nil
) -> Frame {
  poolFrame(0) {
    $0.string(b("p"))
    $0.string(b("t"))
    $0.u8(kind)
    for v in [sizes.0, sizes.1, sizes.2, sizes.3] { $0.u32(v) }
    guard kind == 0 else { return }
    $0.u32(0)
    $0.u32(0)
    $0.u32(0)
    $0.i32(notifyFD)
    $0.u32(flags)
    if let specFlags {
      // A run spec whose flags word is given raw: its program, arguments and environment.
      $0.u32(specFlags)
      $0.string(b("p"))
      $0.list([])
      if specFlags & 4 != 0 { $0.list([b("A=1")]) }
    } else if let spec {
      spec.write(to: &$0)
    }
  }
}

@Suite struct PoolMessageTests {
  @Test("pool is type 0x13: a u8 operation (1 status) and a name")
  func statusBytes() throws {
    let status = Request.pool(.status(name: b("w")))
    #expect(status.frame().encoded() == [0x01, 0x13, 0, 0, 6, 0, 0, 0, 1, 1, 0, 0, 0, 0x77])
    #expect(try Request(throughDecoder(status.frame())) == status)
  }

  @Test("create (operation 0): name, from, u8 kind 0, four u32 sizes, the workers' five words, the run spec")
  func createBytes() throws {
    let create = Request.pool(
      .create(
        PoolSpec(
          name: b("p"), from: b("t"),
          kind: .workers(
            PoolWorkers(
              spec: RunSpec(program: b("h"), environment: [b("A=1")]), maxRequests: 1000, jitter: 100,
              timeoutMilliseconds: 30_000, notifyFD: 9, notifySocket: true)),
          sizes: PoolSizes(start: 4, minIdle: 2, maxIdle: 6, max: 32))))
    #expect(
      create.frame().encoded() == [
        0x01, 0x13, 0, 0, 72, 0, 0, 0,
        0,
        1, 0, 0, 0, 0x70,
        1, 0, 0, 0, 0x74,
        0,
        4, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0, 32, 0, 0, 0,
        0xe8, 0x03, 0, 0, 100, 0, 0, 0, 0x30, 0x75, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0,
        4, 0, 0, 0, 1, 0, 0, 0, 0x68, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0x41, 0x3d, 0x31,
      ])
    #expect(try Request(throughDecoder(create.frame())) == create)
  }

  @Test("a ready pool is kind 1 and ends after its sizes")
  func readyBytes() throws {
    let ready = Request.pool(.create(readyPool))
    #expect(
      ready.frame().payload == [0, 4, 0, 0, 0] + b("fast") + [7, 0, 0, 0] + b("default")
        + [1, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0])
    #expect(try Request(throughDecoder(ready.frame())) == ready)
    // A ready pool followed by the fields of a workers pool: they are not read, so refused.
    var longer = ready.frame()
    longer.payload += [0, 0, 0, 0]
    #expect(throws: WireError.trailingBytes(4)) { try Request(longer) }
  }

  @Test("resize (2), reload (3), stop (4) and events (5) byte for byte")
  func otherOperationBytes() {
    let resize = Request.pool(.resize(name: b("w"), PoolResize(max: 64, maxIdle: 3, delta: -1)))
    #expect(
      resize.frame().payload == [2, 1, 0, 0, 0, 0x77, 5, 0, 0, 0, 64, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
    let reload = Request.pool(.reload(name: b("w"), from: b("t")))
    #expect(reload.frame().payload == [3, 1, 0, 0, 0, 0x77, 1, 0, 0, 0, 0x74])
    #expect(Request.pool(.stop(name: b("w"), graceful: true)).frame().payload == [4, 1, 0, 0, 0, 0x77, 1])
    #expect(Request.pool(.stop(name: b("w"), graceful: false)).frame().payload == [4, 1, 0, 0, 0, 0x77, 0])
    #expect(Request.pool(.events(name: b("w"))).frame().payload == [5, 1, 0, 0, 0, 0x77])
  }

  @Test("every pool operation round-trips, both kinds of spec included", arguments: poolRequests)
  func roundTrips(_ request: PoolRequest) throws {
    let f = Request.pool(request).frame()
    #expect(f.type.rawValue == 0x13 && f.fdCount == 0)
    #expect(try Request(throughDecoder(f)) == .pool(request))
  }

  @Test("a resize carries each of max, min idle and max idle only when set, in that order")
  func resizeFields() throws {
    for bits in 0..<8 {
      for delta: Int32 in [0, 1, -1, .min, .max] {
        let resize = PoolResize(
          max: bits & 1 != 0 ? 100 : nil, minIdle: bits & 2 != 0 ? 200 : nil, maxIdle: bits & 4 != 0 ? 300 : nil,
          delta: delta)
        let f = Request.pool(.resize(name: b("w"), resize)).frame()
        let present = [(1, 100), (2, 200), (4, 300)].filter { bits & $0.0 != 0 }.map { UInt8($0.1 & 0xff) }
        // operation, name, flags, the words present, delta.
        #expect(f.payload.count == 1 + 5 + 4 + 4 * present.count + 4)
        #expect(Array(f.payload[6..<10]) == [UInt8(bits), 0, 0, 0])
        #expect(stride(from: 10, to: 10 + 4 * present.count, by: 4).map { f.payload[$0] } == present)
        #expect(try Request(throughDecoder(f)) == .pool(.resize(name: b("w"), resize)), "bits \(bits)")
      }
    }
  }

  @Test("pools (0x49): a count, then summaries with their workers and history; poolEvent (0x4a) is one string")
  func replies() throws {
    for list: [PoolSummary] in [[], [fullSummary], [readySummary, fullSummary]] {
      let reply = Reply.pools(list)
      #expect(reply.frame().type.rawValue == 0x49 && reply.frame().fdCount == 0)
      #expect(try Reply(throughDecoder(reply.frame())) == reply)
    }
    #expect(Reply.pools([]).frame().payload == [0, 0, 0, 0])
    let line = b(#"{"event":"exited","pool":"web","id":7,"pid":1234,"status":"signal 15","reason":"retired"}"#)
    for event in [Reply.poolEvent(line), .poolEvent([]), .poolEvent(notUTF8)] {
      #expect(event.frame().type.rawValue == 0x4a)
      #expect(try Reply(throughDecoder(event.frame())) == event)
    }
    #expect(Reply.poolEvent(b("ab")).frame().payload == [2, 0, 0, 0, 0x61, 0x62])
  }

  @Test("a summary's worker and departure have fixed layouts: 25 bytes plus the status text, and 18 bytes")
  func summaryLayout() {
    let worker = PoolWorkerEntry(id: 0x0102, pid: 0x0304, state: .busy, requests: 5, generation: 6, status: b("s"))
    let departure = PoolDeparture(id: 9, pid: 8, status: .signaled(9, coreDumped: true), reason: .timedOut)
    let summary = PoolSummary(
      name: b("p"), ready: false, template: 3, generation: 1, target: 2,
      sizes: PoolSizes(start: 2, minIdle: 1, maxIdle: 3, max: 4), requests: 7, restarts: 1, workers: [worker],
      history: [departure])
    let head: [UInt8] =
      [1, 0, 0, 0] + [1, 0, 0, 0, 0x70] + [0] + [3, 0, 0, 0, 0, 0, 0, 0] + [1, 0, 0, 0] + [2, 0, 0, 0]
      + [2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0] + [7, 0, 0, 0, 0, 0, 0, 0] + [1, 0, 0, 0]
    let workers: [UInt8] =
      [1, 0, 0, 0] + [2, 1, 0, 0, 0, 0, 0, 0] + [4, 3, 0, 0] + [2] + [5, 0, 0, 0] + [6, 0, 0, 0] + [1, 0, 0, 0, 0x73]
    let history: [UInt8] = [1, 0, 0, 0] + [9, 0, 0, 0, 0, 0, 0, 0] + [8, 0, 0, 0] + [3, 9, 0, 0, 0] + [3]
    #expect(Reply.pools([summary]).frame().payload == head + workers + history)
    #expect(PoolWorkerEntry.minimumSize == 25 && PoolDeparture.size == 18)
  }

  @Test("state and reason numbers and the words status --json shows")
  func words() {
    #expect(PoolWorkerEntry.State.allCases.map(\.rawValue) == [0, 1, 2, 3])
    #expect(PoolWorkerEntry.State.allCases.map(\.word) == ["starting", "idle", "busy", "stopping"])
    #expect(PoolDeparture.Reason.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6])
    #expect(
      PoolDeparture.Reason.allCases.map(\.word) == [
        "died", "retired", "shrunk", "timed out", "reloaded", "stopped", "failed to start",
      ])
    #expect(ErrorCode.unknownPool.rawValue == 18 && ErrorCode.unknownPool.name == "unknownPool")
  }

  @Test("unknown operations are refused", arguments: [UInt8(6), 7, 0x80, 0xff])
  func unknownOperation(_ operation: UInt8) {
    #expect(throws: WireError.invalid("pool operation \(operation)")) {
      try Request(poolFrame(operation) { $0.string(b("w")) })
    }
  }

  @Test("a kind other than 0 (workers) or 1 (ready) is refused", arguments: [UInt8(2), 3, 0xff])
  func unknownKind(_ kind: UInt8) {
    #expect(throws: WireError.invalid("pool kind \(kind)")) { try Request(createFrame(kind: kind)) }
  }

  @Test("unknown bits in the notify flags, the resize flags, or a stop flag other than 0 or 1 are refused")
  func badFlags() throws {
    for flags: UInt32 in [2, 3, 0x8000_0000] {
      #expect(throws: WireError.invalid("pool flags \(flags)")) { try Request(createFrame(flags: flags)) }
    }
    _ = try Request(createFrame(flags: 1))
    for flags: UInt32 in [8, 15, 0x8000_0000] {
      let f = poolFrame(2) {
        $0.string(b("w"))
        $0.u32(flags)
        for _ in 0..<4 { $0.u32(1) }
        $0.i32(0)
      }
      #expect(throws: WireError.invalid("resize flags \(flags)")) { try Request(f) }
    }
    for graceful: UInt8 in [2, 0xff] {
      let f = poolFrame(4) {
        $0.string(b("w"))
        $0.u8(graceful)
      }
      #expect(throws: WireError.invalid("pool stop flag \(graceful)")) { try Request(f) }
    }
    // The run spec's own flags: an unknown bit, quick exit without call.
    for specFlags: UInt32 in [4 | 64, 4 | 256, 4 | 0x8000_0000] {
      #expect(throws: WireError.self, "run flags \(specFlags)") { try Request(createFrame(specFlags: specFlags)) }
    }
  }

  @Test("the notify descriptor is 3 to 1023", arguments: [Int32.min, -1, 0, 1, 2, 1024, .max])
  func notifyDescriptorOutOfRange(_ fd: Int32) throws {
    #expect(throws: WireError.invalid("notify descriptor \(fd)")) { try Request(createFrame(notifyFD: fd)) }
  }

  @Test("notify descriptors 3 and 1023 are accepted")
  func notifyDescriptorBounds() throws {
    for fd: Int32 in [3, 9, 1023] {
      guard case .pool(.create(let spec)) = try Request(createFrame(notifyFD: fd)),
        case .workers(let workers) = spec.kind
      else {
        Issue.record("fd \(fd): not a workers create")
        continue
      }
      #expect(workers.notifyFD == fd)
    }
  }

  @Test("sizes: start above max, or min idle above max idle, are refused for both kinds")
  func badSizes() throws {
    let refused: [(UInt32, UInt32, UInt32, UInt32)] = [
      (5, 0, 10, 4), (1, 0, 0, 0), (UInt32.max, 0, 1, UInt32.max - 1), (1, 7, 6, 32), (1, UInt32.max, 0, 1),
    ]
    for kind: UInt8 in [0, 1] {
      for s in refused {
        #expect(throws: WireError.self, "kind \(kind) sizes \(s)") { try Request(createFrame(kind: kind, sizes: s)) }
      }
    }
    // Equal is fine: start == max, min idle == max idle.
    _ = try Request(createFrame(sizes: (4, 3, 3, 4)))
    _ = try Request(createFrame(sizes: (0, 0, 0, 0)))
  }

  @Test("a ready pool needs a max of at least 1 and its min (the refill threshold) not above it")
  func badReadySizes() throws {
    for s: (UInt32, UInt32, UInt32, UInt32) in [(0, 0, 0, 0), (1, 5, 9, 4)] {
      #expect(throws: WireError.self, "sizes \(s)") { try Request(createFrame(kind: 1, sizes: s)) }
    }
    _ = try Request(createFrame(kind: 1, sizes: (1, 4, 9, 4)))
  }

  @Test("a workers spec must carry its environment, and cannot wait, keep control or change directory")
  func badRunSpecs() throws {
    #expect(throws: WireError.invalid("a pool's run spec carries its environment")) {
      try Request(createFrame(spec: RunSpec(program: b("p"))))
    }
    let cannot = WireError.invalid("a pool's run spec cannot wait, keep its control socket or carry a directory")
    for spec in [
      RunSpec(program: b("p"), environment: [], waitForExit: true),
      RunSpec(program: b("p"), environment: [], keepControl: true),
      RunSpec(program: b("p"), environment: [], hasWorkingDirectory: true),
    ] {
      #expect(throws: cannot) { try Request(createFrame(spec: spec)) }
    }
    // An empty environment is an environment.
    _ = try Request(createFrame(spec: RunSpec(program: b("p"), environment: [])))
  }

  @Test("every proper prefix of each pool request and reply is refused, never accepted or crashing")
  func everyPrefixIsRefused() {
    let frames =
      poolRequests.map { Request.pool($0).frame() }
      + [Reply.pools([fullSummary, readySummary]).frame(), Reply.poolEvent(b("{}")).frame()]
    for f in frames {
      for cut in 0..<f.payload.count {
        var g = f
        g.payload = Array(f.payload.prefix(cut))
        let threw = f.type == .pool ? (try? Request(g)) == nil : (try? Reply(g)) == nil
        #expect(threw, "prefix of \(cut) bytes of \(f.type) was accepted")
      }
    }
  }

  @Test("a pool frame with a descriptor is refused, whatever the operation")
  func descriptorRefused() {
    for request in poolRequests {
      let f = Request.pool(request).frame()
      for fds in [1, 2] {
        #expect(throws: WireError.self, "\(request) with \(fds) fds") {
          try Request(Frame(type: .pool, payload: f.payload, fdCount: fds))
        }
      }
    }
  }

  @Test("pool frames fed one byte at a time decode as they do whole, and several share one buffer")
  func incremental() throws {
    let frames = poolRequests.map { Request.pool($0).frame() }
    var oneByOne = FrameDecoder()
    var decoded: [Request] = []
    for byte in frames.flatMap({ $0.encoded() }) {
      oneByOne.append([byte])
      while let f = try oneByOne.next() { decoded.append(try Request(f)) }
    }
    #expect(decoded == poolRequests.map { .pool($0) })
    var whole = FrameDecoder()
    whole.append(frames.flatMap { $0.encoded() })
    var all: [Request] = []
    while let f = try whole.next() { all.append(try Request(f)) }
    #expect(all == decoded && whole.isAtFrameBoundary)
  }

  @Test("a summary's kind byte, a worker's state and a departure's reason are checked; a departure may have no status")
  func badSummaries() {
    let good = Reply.pools([fullSummary]).frame().payload
    // Offsets in `good`: the count (4), the name "web" (7), then the kind byte.
    let kindAt = 4 + 7
    var kind = good
    kind[kindAt] = 2
    #expect(throws: WireError.invalid("pool kind 2")) { try Reply(Frame(type: .pools, payload: kind, fdCount: 0)) }
    // The first worker's state: after kind (1), template (8), generation (4), target (4),
    // sizes (16), requests (8), restarts (4), the worker count (4), its id (8) and pid (4).
    let stateAt = kindAt + 1 + 8 + 4 + 4 + 16 + 8 + 4 + 4 + 8 + 4
    #expect(good[stateAt] == PoolWorkerEntry.State.starting.rawValue)
    var state = good
    state[stateAt] = 4
    #expect(throws: WireError.invalid("pool worker state 4")) {
      try Reply(Frame(type: .pools, payload: state, fdCount: 0))
    }
    // The last departure ends the payload: its status tag and value, then its reason.
    var reason = good
    reason[reason.count - 1] = 7
    #expect(throws: WireError.invalid("pool departure reason 7")) {
      try Reply(Frame(type: .pools, payload: reason, fdCount: 0))
    }
    // Tag 0: a worker never born has no status (the value after the tag is then 0).
    var missing = good
    missing[missing.count - 6] = 0
    for i in missing.count - 5..<missing.count - 1 { missing[i] = 0 }
    guard case .pools(let read)? = try? Reply(Frame(type: .pools, payload: missing, fdCount: 0)) else {
      Issue.record("a departure without a status was refused")
      return
    }
    #expect(read.first?.history.last?.status == nil)
    #expect(Reply.pools(read).frame().payload == missing)
    // One encoding: after tag 0, only the value 0.
    var stray = missing
    stray[stray.count - 2] = 1
    #expect(throws: WireError.invalid("exit status tag 0 with the value 16777216")) {
      try Reply(Frame(type: .pools, payload: stray, fdCount: 0))
    }
    var trailing = good
    trailing.append(0)
    #expect(throws: WireError.trailingBytes(1)) { try Reply(Frame(type: .pools, payload: trailing, fdCount: 0)) }
    #expect(throws: WireError.self) { try Reply(Frame(type: .pools, payload: good, fdCount: 1)) }
  }

  @Test("counts of summaries, workers and departures larger than the bytes left are truncated")
  func countsBeyondBytes() {
    #expect(throws: WireError.truncated) { try Reply(frame(.pools) { $0.u32(1) }) }
    #expect(throws: WireError.listTooLong(Int(UInt32.max))) { try Reply(frame(.pools) { $0.u32(UInt32.max) }) }
    var p = Reply.pools([readySummary]).frame().payload
    // The worker count, then the history count, end the only summary.
    p.replaceSubrange((p.count - 8)..<(p.count - 4), with: [1, 0, 0, 0])
    #expect(throws: WireError.truncated) { try Reply(Frame(type: .pools, payload: p, fdCount: 0)) }
    var h = Reply.pools([readySummary]).frame().payload
    h.replaceSubrange((h.count - 4)..<h.count, with: [1, 0, 0, 0])
    #expect(throws: WireError.truncated) { try Reply(Frame(type: .pools, payload: h, fdCount: 0)) }
  }
}
