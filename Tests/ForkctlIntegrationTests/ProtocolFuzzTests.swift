// Protocol-level fuzzing of a live daemon (issue 5, "Bad input"): random, truncated,
// oversized and mutated frames of every request type, wrong descriptor counts, requests out
// of order, and thousands of connections dropped mid-frame. Afterwards the daemon (the same
// process) still serves with exact statuses, its descriptors and memory are back to their
// baseline, and garbage created no process object and no process. A second run sends real
// requests while a chaos actor (Chaos.swift) kills and stops templates and process objects.
//
// The generator is seeded: FORKCTL_FUZZ_SEED=N reproduces a run exactly; without it every
// run draws a new seed. Every failure message names the seed. FORKCTL_FUZZ_CASES=N sends N
// garbage connections instead of 10,000, for a longer run.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

// MARK: Deterministic randomness

/// SplitMix64. Every number the fuzzer uses is drawn through these methods, not through the
/// standard library's sampling (whose algorithms are unspecified), so a seed gives the same
/// cases everywhere.
struct FuzzRandom {
  private var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// 0..<n.
  mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
  mutating func within(_ r: ClosedRange<Int>) -> Int { r.lowerBound + below(r.count) }
  mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }
  mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
  mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
  mutating func printable(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(0x21 + below(94)) } }
}

/// $FORKCTL_FUZZ_SEED, else a new seed for this run.
let fuzzSeed: UInt64 = {
  if let s = Sys.environmentValue("FORKCTL_FUZZ_SEED"), let n = UInt64(s) { return n }
  var t = timespec()
  clock_gettime(CLOCK_REALTIME, &t)
  return UInt64(t.tv_sec) &* 1_000_000_007 ^ UInt64(t.tv_nsec) ^ UInt64(getpid()) << 40
}()

// MARK: The daemon seen from outside

/// VmRSS of a process in KiB (/proc/PID/status).
func residentKiB(_ pid: Int32) -> Int {
  for line in readFile("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix("VmRSS:") {
    return Int(String(line.filter { $0.isNumber })) ?? 0
  }
  return 0
}

/// The last lines of the log of a daemon the client library started (SOCKET.log).
func daemonLogTail(_ w: World, lines: Int = 15) -> String {
  readFile(w.socket + ".log").split(separator: "\n", omittingEmptySubsequences: false).suffix(lines)
    .joined(separator: "\n")
}

/// What differs between two descriptor tables, for failure messages.
func descriptorDifference(_ before: [Int32: String], _ after: [Int32: String]) -> String {
  let added = after.filter { before[$0.key] != $0.value }.sorted { $0.key < $1.key }.map { "+\($0.key)=\($0.value)" }
  let gone = before.filter { after[$0.key] != $0.value }.sorted { $0.key < $1.key }.map { "-\($0.key)=\($0.value)" }
  return (added + gone).prefix(20).joined(separator: " ")
}

// MARK: Talking to the daemon byte by byte

/// A reply that does not come within `seconds` fails the check instead of hanging the test.
func setTimeouts(_ fd: FileDescriptor, seconds: Int = 5) {
  var tv = timeval(tv_sec: seconds, tv_usec: 0)
  let size = socklen_t(MemoryLayout<timeval>.size)
  _ = setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &tv, size)
  _ = setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDTIMEO, &tv, size)
}

/// Sends all of `bytes`, `fds` attached to the first sendmsg. Stops at the first error: the
/// daemon may refuse a frame by its header and close before the rest is written.
@discardableResult
func sendQuietly(_ fd: FileDescriptor, _ bytes: [UInt8], fds: [FileDescriptor] = []) -> Errno? {
  var sent = 0
  var attach = fds
  repeat {
    do {
      sent += try UnixSocket.send(fd, bytes[sent...], fds: attach)
      attach = []
    } catch {
      return error
    }
  } while sent < bytes.count
  return nil
}

/// How a connection ended after its replies.
enum Ending: Equatable, CustomStringConvertible {
  case endOfFile
  case reset
  case timedOut
  case broken(String)

  var description: String {
    switch self {
    case .endOfFile: return "end of file"
    case .reset: return "ECONNRESET"
    case .timedOut: return "no reply within the timeout"
    case .broken(let s): return s
    }
  }
}

/// Reads replies until the daemon ends the connection (or `limit` replies, or the timeout).
/// Descriptors that come with replies are closed.
func readReplies(_ fd: FileDescriptor, limit: Int = 16) -> (replies: [Reply], ending: Ending) {
  var channel = FrameChannel(fd)
  var replies: [Reply] = []
  while replies.count < limit {
    let incoming: FrameChannel.Incoming
    do {
      incoming = try channel.receive()
    } catch {
      if error == .connectionReset { return (replies, .reset) }
      if error == .resourceTemporarilyUnavailable || error == .wouldBlock { return (replies, .timedOut) }
      return (replies, .broken("recvmsg: \(Sys.describe(error))"))
    }
    switch incoming {
    case .endOfFile: return (replies, .endOfFile)
    case .violation(let e): return (replies, .broken("the daemon's reply breaks the protocol: \(e.description)"))
    case .frame(let frame, let fds):
      for f in fds { f.closeQuietly() }
      do {
        replies.append(try Reply(frame))
      } catch {
        return (replies, .broken("undecodable reply: \(error.description)"))
      }
    }
  }
  return (replies, .broken("more than \(limit) replies"))
}

/// One connection for the scripted scenarios: one request at a time, replies read with a
/// timeout.
final class RawConnection {
  let fd: FileDescriptor
  private var channel: FrameChannel

  init(_ w: World) throws {
    fd = try UnixSocket.connect(to: w.socket)
    setTimeouts(fd)
    channel = FrameChannel(fd)
  }

  deinit { fd.closeQuietly() }

  func send(_ request: Request, fds: [FileDescriptor] = []) {
    sendQuietly(fd, request.frame().encoded(), fds: fds)
  }

  func sendBytes(_ bytes: [UInt8], fds: [FileDescriptor] = []) {
    sendQuietly(fd, bytes, fds: fds)
  }

  /// The next reply, or how the connection ended instead.
  func reply() -> Result<Reply, FuzzFailure> {
    let incoming: FrameChannel.Incoming
    do {
      incoming = try channel.receive()
    } catch {
      if error == .connectionReset { return .failure(FuzzFailure(ending: .reset)) }
      if error == .resourceTemporarilyUnavailable || error == .wouldBlock {
        return .failure(FuzzFailure(ending: .timedOut))
      }
      return .failure(FuzzFailure(ending: .broken(Sys.describe(error))))
    }
    switch incoming {
    case .endOfFile: return .failure(FuzzFailure(ending: .endOfFile))
    case .violation(let e): return .failure(FuzzFailure(ending: .broken(e.description)))
    case .frame(let frame, let fds):
      for f in fds { f.closeQuietly() }
      guard let r = try? Reply(frame) else { return .failure(FuzzFailure(ending: .broken("undecodable reply"))) }
      return .success(r)
    }
  }

  func ask(_ request: Request, fds: [FileDescriptor] = []) -> Result<Reply, FuzzFailure> {
    send(request, fds: fds)
    return reply()
  }

  /// True when the daemon has closed the connection (end of file or reset, no reply).
  func isClosed() -> Bool {
    switch reply() {
    case .failure(let f): return f.ending == .endOfFile || f.ending == .reset
    case .success: return false
    }
  }
}

struct FuzzFailure: Error, Equatable, CustomStringConvertible {
  var ending: Ending
  var description: String { "no reply: \(ending)" }
}

func describe(_ r: Result<Reply, FuzzFailure>) -> String {
  switch r {
  case .success(let reply):
    if case .failure(let code, let message) = reply {
      return "failure \(code.rawValue) \"\(String(decoding: message, as: UTF8.self))\""
    }
    return "\(reply)"
  case .failure(let f): return f.description
  }
}

extension Reply {
  /// The reply's type, and a failure's code.
  var kind: String {
    switch self {
    case .ok: return "ok"
    case .created: return "created"
    case .failure(let c, _): return "failure \(c.rawValue)"
    case .statuses: return "statuses"
    case .listing: return "listing"
    case .welcome: return "welcome"
    case .loaded: return "loaded"
    case .memory: return "memory"
    case .mappings: return "mappings"
    case .pools: return "pools"
    case .poolEvent: return "pool event"
    case .status: return "status"
    }
  }
}

func isFailure(_ r: Result<Reply, FuzzFailure>, _ code: ErrorCode) -> Bool {
  if case .success(.failure(let c, let message)) = r {
    return c == code
      && (code != .protocolError || String(decoding: message, as: UTF8.self).hasPrefix("protocol error: "))
  }
  return false
}

// MARK: The oracle

/// What the daemon must answer to one frame, by forkctl-protocol(7).
enum Answer: Equatable, CustomStringConvertible {
  case protocolError
  case refused(ErrorCode)
  case ok
  case listing
  case welcome
  case pools
  case status

  func matches(_ r: Reply) -> Bool {
    switch (self, r) {
    case (.protocolError, .failure(.protocolError, let m)):
      return String(decoding: m, as: UTF8.self).hasPrefix("protocol error: ")
    case (.refused(let c), .failure(let d, _)): return c == d
    case (.ok, .ok), (.listing, .listing), (.welcome, .welcome), (.pools, .pools), (.status, .status): return true
    default: return false
    }
  }

  var description: String {
    switch self {
    case .protocolError: return "failure 11"
    case .refused(let c): return "failure \(c.rawValue)"
    case .ok: return "ok"
    case .listing: return "listing"
    case .welcome: return "welcome"
    case .pools: return "pools"
    case .status: return "status"
    }
  }
}

/// A ref that names nothing in the fuzzed daemon, which makes fewer than 1,000 process
/// objects and names none of them.
func namesNothing(_ ref: [UInt8]) -> Bool {
  if ref.isEmpty { return true }
  if ref.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
    guard let id = UInt64(String(decoding: ref, as: UTF8.self)) else { return true }
    return id == 0 || id >= 1000
  }
  return ref != Array("default".utf8)
}

/// The answer to a well-formed request; nil for one that would do something real (create,
/// run, wait for, signal or stop something), which the fuzzer then does not send; .some(nil)
/// for a signal frame, which gets no reply.
func answer(to request: Request) -> Answer?? {
  switch request {
  case .hello: return .welcome
  case .status: return .status
  case .list: return .listing
  case .signal: return .some(nil)
  case .wait(let refs), .forget(let refs):
    if refs.isEmpty { return .refused(.badRequest) }
    return refs.contains(where: namesNothing) ? .refused(.unknownProcess) : nil
  case .memory(let refs):
    // None named: the caller's objects, measured for real.
    return refs.contains(where: namesNothing) ? .refused(.unknownProcess) : nil
  case .kill(_, let refs, _):
    if refs.isEmpty { return .ok }
    return namesNothing(refs[0]) ? .refused(.unknownProcess) : nil
  case .fork(let ref, _), .sendFDs(let ref, _), .sendArgs(let ref, _), .run(let ref, _, _, _), .load(let ref, _),
    .audit(let ref), .eval(let ref, _):
    return namesNothing(ref) ? .refused(.unknownProcess) : nil
  case .spawn(let s):
    return !s.from.isEmpty && namesNothing(s.from) ? .refused(.unknownProcess) : nil
  case .pool(.status(let name)), .pool(.resize(let name, _)), .pool(.reload(let name, _)),
    .pool(.stop(let name, _)), .pool(.events(let name)):
    // The fuzzed daemon has no pool: an empty status lists none, anything named is unknown.
    return name.isEmpty
      ? (request == .pool(.status(name: [])) ? .pools : .refused(.unknownPool)) : .refused(.unknownPool)
  case .new, .exec, .shutdown, .drain, .prune, .waitAll, .pool(.create):
    return nil
  }
}

/// The replies the daemon must send to `bytes` written with `fds` descriptors attached to
/// the first sendmsg, and the connection then shut down for writing: decoded here with the
/// same codec, frame by frame. After the last answer the daemon ends the connection (a
/// protocol error, or end of file in or after a frame). Nil when a frame in it is a real
/// request.
func expectedAnswers(_ bytes: [UInt8], fds: Int) -> [Answer]? {
  var decoder = FrameDecoder()
  decoder.append(bytes, fdCount: fds)
  var out: [Answer] = []
  while true {
    let frame: Frame?
    do {
      frame = try decoder.next()
    } catch {
      return out + [.protocolError]
    }
    guard let frame else { return out }
    let request: Request
    do {
      request = try Request(frame)
    } catch {
      return out + [.protocolError]
    }
    guard let a = answer(to: request) else { return nil }
    if let a { out.append(a) }
  }
}

// MARK: The generator

/// One garbage connection: bytes, how many descriptors go with the first sendmsg, and what
/// it is, for messages.
struct FuzzCase {
  var bytes: [UInt8]
  var fds: Int
  var kind: String

  var summary: String {
    let hex = bytes.prefix(40).map { b in
      String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16)
    }
    return "\(kind), \(bytes.count) bytes [\(hex.joined(separator: " "))\(bytes.count > 40 ? " ..." : "")] + \(fds) fds"
  }
}

struct FuzzGenerator {
  var rng: FuzzRandom

  static let requestTypes: [UInt8] = (0x01...0x0f).map { $0 }

  mutating func unknownRef() -> [UInt8] {
    switch rng.below(5) {
    case 0: return Array(String(rng.within(1000...9_999_999)).utf8)
    case 1: return Array("184467440737095516160".utf8)  // does not fit a u64
    case 2: return Array("nosuch-".utf8) + rng.printable(rng.within(1...8))
    case 3: return []
    default: return Array(String(rng.within(100_000...999_999_999)).utf8)
    }
  }

  mutating func name() -> [UInt8] { rng.oneIn(2) ? [] : rng.printable(rng.within(1...70)) }

  mutating func strings(max: Int) -> [[UInt8]] {
    (0..<rng.below(max + 1)).map { _ in rng.oneIn(8) ? [] : rng.printable(rng.within(1...12)) }
  }

  mutating func targets() -> [FDTarget] {
    (0..<rng.within(1...3)).map { _ in rng.oneIn(2) ? nil : Int32(rng.below(1024)) }
  }

  mutating func spec(forSpawn: Bool) -> RunSpec {
    RunSpec(
      program: Array(rng.pick(["/bin/true", "sh", "/no/such/program"]).utf8), arguments: strings(max: 3),
      environment: rng.oneIn(2) ? ["PATH=/bin:/usr/bin", "A=b"].map { Array($0.utf8) } : nil,
      keepControl: rng.oneIn(4), hasWorkingDirectory: rng.oneIn(3), waitForExit: !forSpawn && rng.oneIn(2))
  }

  /// A well-formed request of any type, mostly naming nothing that exists.
  mutating func validRequest() -> Request {
    switch rng.below(15) {
    case 0: return .hello
    case 1: return .new(name: name())
    case 2: return .exec(name: name())
    case 3: return .fork(ref: unknownRef(), name: name())
    case 4: return .sendFDs(ref: unknownRef(), targets: targets())
    case 5: return .sendArgs(ref: unknownRef(), arguments: strings(max: 4))
    case 6:
      let s = spec(forSpawn: false)
      return .run(ref: unknownRef(), spec: s, detach: !s.waitForExit && rng.oneIn(3))
    case 7: return rng.oneIn(8) ? .waitAll : .wait(refs: (0..<rng.within(1...3)).map { _ in unknownRef() })
    case 8: return .kill(signal: Int32(rng.within(0...70)), refs: (0..<rng.below(3)).map { _ in unknownRef() })
    case 9: return .list
    case 10: return rng.oneIn(2) ? .shutdown : .drain
    case 11:
      return .spawn(
        SpawnRequest(
          from: rng.oneIn(3) ? [] : unknownRef(), name: name(), targets: rng.oneIn(2) ? [] : targets(),
          spec: spec(forSpawn: true), detach: rng.oneIn(2), wantsPIDFD: rng.oneIn(2)))
    case 12: return .forget(refs: (0..<rng.below(3)).map { _ in unknownRef() })
    case 13: return .prune
    default: return .signal(Int32(rng.within(1...64)))
    }
  }

  mutating func validFrame() -> (bytes: [UInt8], fds: Int, type: String) {
    let r = validRequest()
    let f = r.frame()
    return (f.encoded(), f.fdCount, "\(f.type)")
  }

  mutating func header(version: UInt8 = 1, type: UInt8, fds: Int, length: UInt32) -> [UInt8] {
    [version, type, UInt8(fds & 0xff), UInt8(fds >> 8 & 0xff)]
      + (0..<4).map { UInt8(truncatingIfNeeded: length >> UInt32(8 * $0)) }
  }

  /// Mutates a frame in place: bit flips, bytes, lengths, types, counts, insertions, cuts.
  mutating func mutate(_ bytes: inout [UInt8], _ fds: inout Int) -> String {
    var what: [String] = []
    for _ in 0..<rng.within(1...3) {
      if bytes.isEmpty { bytes = [1] }
      switch rng.below(10) {
      case 0, 1:
        let i = rng.below(bytes.count)
        bytes[i] ^= UInt8(1 << rng.below(8))
        what.append("bit flip at \(i)")
      case 2:
        let i = rng.below(bytes.count)
        bytes[i] = UInt8(truncatingIfNeeded: rng.next())
        what.append("byte \(i) set")
      case 3 where bytes.count >= 8:
        let payload = bytes.count - 8
        let length: Int = rng.pick([
          0, max(0, payload - 1), payload + 1, payload + rng.within(2...64), rng.below(payload + 1),
        ])
        for k in 0..<4 { bytes[4 + k] = UInt8(truncatingIfNeeded: length >> (8 * k)) }
        what.append("length \(length)")
      case 4 where bytes.count >= 2:
        let t: UInt8 = rng.oneIn(3) ? UInt8(truncatingIfNeeded: rng.next()) : rng.pick(MessageType.allCases).rawValue
        bytes[1] = t
        what.append("type \(t)")
      case 5 where bytes.count >= 4:
        let n = rng.pick([0, 1, 2, 3, 63, 64, 65, 255, 65535, rng.below(8)])
        bytes[2] = UInt8(n & 0xff)
        bytes[3] = UInt8(n >> 8)
        what.append("declared fds \(n)")
      case 6:
        fds = max(0, fds + rng.pick([-1, 1, 2]))
        what.append("\(fds) fds attached")
      case 7 where bytes.count >= 12:
        // A u32 inside the payload: string lengths, list counts, flags, targets.
        let i = 8 + rng.below(bytes.count - 11)
        let v: UInt32 = rng.pick([
          0, 1, 2, 0xffff_ffff, 0x10000, 0x10001, 0x7fff_ffff, UInt32(truncatingIfNeeded: rng.next()),
        ])
        for k in 0..<4 { bytes[i + k] = UInt8(truncatingIfNeeded: v >> UInt32(8 * k)) }
        what.append("u32 \(v) at \(i)")
      case 8 where bytes.count > 1:
        let i = rng.below(bytes.count)
        let n = min(bytes.count - i, rng.within(1...8))
        bytes.removeSubrange(i..<(i + n))
        what.append("\(n) bytes cut at \(i)")
      default:
        let i = rng.below(bytes.count + 1)
        bytes.insert(contentsOf: rng.bytes(rng.within(1...8)), at: i)
        what.append("bytes inserted at \(i)")
      }
    }
    return what.joined(separator: ", ")
  }

  /// The next garbage connection.
  mutating func next() -> FuzzCase {
    switch rng.below(20) {
    case 0, 1:
      // Random bytes; sometimes a right version byte, to get one check further.
      var b = rng.bytes(rng.within(1...48))
      if rng.oneIn(2) { b[0] = 1 }
      return FuzzCase(bytes: b, fds: rng.oneIn(5) ? rng.within(1...3) : 0, kind: "random bytes")
    case 2, 3:
      // A right header of a request type, a random payload of the declared size, the
      // declared descriptors attached: the payload decoder's turn.
      let type = rng.pick(Self.requestTypes)
      let fds = rng.oneIn(3) ? rng.within(1...3) : 0
      let payload = rng.bytes(rng.below(64))
      return FuzzCase(
        bytes: header(type: type, fds: fds, length: UInt32(payload.count)) + payload, fds: fds,
        kind: "random payload of type \(type)")
    case 4, 5:
      let (b, fds, type) = validFrame()
      let cut = rng.within(1...max(1, b.count - 1))
      return FuzzCase(bytes: Array(b.prefix(cut)), fds: fds, kind: "\(type) truncated to \(cut)")
    case 6:
      // Oversized: a payload length over 4 MiB, or a descriptor count over 64.
      let type = rng.pick(Self.requestTypes)
      let big = rng.oneIn(2)
      let length =
        big
        ? UInt32(WireLimits.maxPayload + 1)
          + UInt32(truncatingIfNeeded: rng.next() % UInt64(UInt32.max - UInt32(WireLimits.maxPayload + 1)))
        : UInt32(rng.below(32))
      let declared = big ? rng.below(4) : rng.within(65...65535)
      return FuzzCase(
        bytes: header(type: type, fds: declared, length: length) + rng.bytes(rng.below(32)), fds: rng.oneIn(3) ? 1 : 0,
        kind: big ? "payload length \(length)" : "\(declared) fds declared")
    case 7:
      // A stream: 1 to 5 well-formed frames the daemon answers without doing anything, then
      // a mutated one behind them (its descriptors, if any, would go with the first frame).
      var stream: [UInt8] = []
      var types: [String] = []
      for _ in 0..<rng.within(1...5) {
        var (b, fds, type) = validFrame()
        while fds != 0 || expectedAnswers(b, fds: 0) == nil { (b, fds, type) = validFrame() }
        stream += b
        types.append(type)
      }
      var (b, fds, type) = validFrame()
      let m = mutate(&b, &fds)
      return FuzzCase(
        bytes: stream + b, fds: 0, kind: "\(types.joined(separator: ", ")), then \(type) mutated (\(m)) without its fds"
      )
    default:
      var (b, fds, type) = validFrame()
      let m = mutate(&b, &fds)
      return FuzzCase(bytes: b, fds: fds, kind: "\(type) mutated: \(m)")
    }
  }
}

// MARK: The test

@Suite struct ProtocolFuzzTests {
  /// Headroom over the baseline VmRSS after the fuzzing: malloc keeps some freed memory
  /// and the tables keep their capacity; a leak of a few hundred bytes per connection
  /// (6,000 of them) would exceed it.
  static let rssMarginKiB = 2048
  /// Garbage connections whose answers are checked ($FORKCTL_FUZZ_CASES for a longer
  /// run), and connections dropped mid-frame.
  static let garbageCases = Sys.environmentValue("FORKCTL_FUZZ_CASES").flatMap { Int($0) } ?? 10_000
  static let droppedConnections = 3_000

  @Test(
    """
    fuzzing a live daemon: garbage gets code 11, wrong requests 1/2/3; afterwards it serves, fds and RSS are back, no \
    process was made
    """
  )
  func fuzzLiveDaemon() throws {
    let seed = fuzzSeed
    let tag = "FORKCTL_FUZZ_SEED=\(seed)"
    let started = Sys.monotonicMilliseconds()
    let w = World()
    // Warm-up: the daemon and its default template exist, and the code paths of garbage
    // have run once (their pages are resident, the tables and malloc arenas have grown,
    // 4 MiB frames included), so that what remains above the baseline afterwards is what
    // the fuzzing left.
    w.ok(["spawn", "true"])
    let daemon = w.daemonPID
    try #require(daemon > 0, "no daemon")
    let devNull = try Sys.open("/dev/null", .readOnly)
    defer { devNull.closeQuietly() }
    var warmUp = FuzzGenerator(rng: FuzzRandom(seed: seed ^ 0x5eed))
    let warmUpFailures = runGarbage(w, &warmUp, count: 300, devNull: devNull).failures
    dropMidFrame(w, FuzzRandom(seed: seed ^ 0xd0), count: 300, devNull: devNull)
    try bigFrames(w, devNull: devNull, tag: tag)
    try wrongDescriptors(w, devNull: devNull)
    let defaultTemplate = try #require(w.entries().first?.pid)
    // The baseline once the daemon has closed every connection, `list`'s too.
    #expect(eventually("warm-up connections closed") { clientConnections(of: daemon).isEmpty })
    let baselineFDs = openDescriptors(daemon)
    let baselineRSS = residentKiB(daemon)

    // 1. Garbage, with every answer checked against the codec's verdict.
    var generator = FuzzGenerator(rng: FuzzRandom(seed: seed))
    var (failures, skipped, answers) = runGarbage(w, &generator, count: Self.garbageCases, devNull: devNull)
    failures = warmUpFailures + failures
    #expect(
      failures.isEmpty,
      """
      \(tag): \(failures.count) of \(Self.garbageCases) garbage connections (and 300 of the warm-up) answered \
      wrongly, e.g.:\n\(failures.prefix(8).joined(separator: "\n"))\ndaemon log:\n\(daemonLogTail(w))
      """
    )
    #expect(skipped < Self.garbageCases / 5, "\(tag): \(skipped) cases were real requests, not sent")

    // 2. Frames of 1 to 4 MiB, refused after they have been read in full.
    try bigFrames(w, devNull: devNull, tag: tag)

    // 3. Out of order, and wrong descriptor counts, each with its documented answer.
    var legitimate: Set<UInt64> = []
    try outOfOrder(w, devNull: devNull, legitimate: &legitimate)
    try wrongDescriptors(w, devNull: devNull)

    // 4. Connections dropped mid-frame, in batches of 200.
    dropMidFrame(w, FuzzRandom(seed: seed ^ 0xdead), count: Self.droppedConnections, devNull: devNull)

    // Afterwards: the same daemon serves, with exact statuses.
    #expect(w.daemonPID == daemon && isAlive(daemon), "\(tag): the daemon died; log:\n\(daemonLogTail(w))")
    do {
      let client = ForkctlClient(socketPath: w.socket, autoStart: false)
      let path = ["PATH=/bin:/usr/bin"].map { Array($0.utf8) }
      let p = try client.spawn(
        program: Array("/bin/sh".utf8), arguments: ["-c", "exit 42"].map { Array($0.utf8) }, fds: [], environment: path)
      #expect(try p.wait() == .exited(42), "\(tag)")
      p.pidfd?.closeQuietly()
      let n = try client.new()
      legitimate.insert(n.id)
      let spec = RunSpec(
        program: Array("/bin/sh".utf8), arguments: ["-c", "kill -USR2 $$"].map { Array($0.utf8) }, environment: path,
        waitForExit: true)
      #expect(try client.run(String(n.id), spec) == .signaled(SIGUSR2, coreDumped: false), "\(tag)")
    }
    // Its descriptors are back to the baseline, exactly.
    let fdsBack = eventually("daemon fds back to baseline") { openDescriptors(daemon) == baselineFDs }
    #expect(
      fdsBack,
      """
      \(tag): daemon descriptors \(baselineFDs.count) before, \(openDescriptors(daemon).count) after: \
      \(descriptorDifference(baselineFDs, openDescriptors(daemon)))\ndaemon log:\n\(daemonLogTail(w))
      """
    )
    // Its memory is back within the margin.
    let rss = residentKiB(daemon)
    #expect(
      rss <= baselineRSS + Self.rssMarginKiB,
      "\(tag): daemon VmRSS \(baselineRSS) KiB at the baseline, \(rss) KiB after (margin \(Self.rssMarginKiB) KiB)")
    // No process object but the default template and the scenarios' own, all ended; no
    // process but the default template; no zombie.
    let entries = w.entries()
    #expect(entries.first?.pid == defaultTemplate && entries.first?.state == "ready", "\(tag): \(entries)")
    let strays = entries.dropFirst().filter { !legitimate.contains(UInt64($0.id)) || $0.state != "exited" }
    #expect(strays.isEmpty, "\(tag): process objects made by garbage, or still alive: \(strays)")
    let onlyTemplate = eventually("only the default template is left") {
      childProcesses(of: daemon) == [defaultTemplate]
    }
    #expect(
      onlyTemplate, "\(tag): children of the daemon: \(childProcesses(of: daemon).map { "\($0) \(commandLine($0))" })")
    #expect(zombieChildren(of: daemon).isEmpty)
    let elapsed = Sys.monotonicMilliseconds() - started
    print(
      """
      protocol fuzz (\(tag)): \(Self.garbageCases) garbage connections (\(skipped) real requests not sent; replies: \
      \(answers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))), \
      \(Self.droppedConnections) dropped mid-frame, \(elapsed) ms; daemon fds \(baselineFDs.count), \
      VmRSS \(baselineRSS) -> \(rss) KiB
      """
    )
  }

  @Test(
    """
    a complete new whose client hangs up at once leaves nothing behind: no process, no process object, no descriptor, \
    no slot of --max-processes
    """
  )
  func abandonedNew() throws {
    let w = World()
    let d = startForegroundDaemon(w, extra: ["--max-processes", "8"])
    try #require(d.ready == "ready\n")
    defer {
      _ = w.run(["shutdown"])
      _ = try? Sys.waitChild(d.pid)
    }
    w.ok(["spawn", "true"])
    let template = try #require(w.entries().first?.pid)
    #expect(eventually("warm-up connection closed") { clientConnections(of: d.pid).isEmpty })
    let baseline = openDescriptors(d.pid)
    // 20 clients each send a whole `new` and hang up without reading the reply, more than
    // --max-processes allows at once.
    let frame = Request.new(name: []).frame().encoded()
    for _ in 0..<20 {
      let fd = try UnixSocket.connect(to: w.socket)
      sendQuietly(fd, frame)
      fd.closeQuietly()
    }
    // forkctl-protocol(7), ORDERING: such a client "is dropped and its request forgotten:
    // ... a process being forked for it is killed with SIGKILL, since nobody can learn its
    // id."
    // Both at once: between a fork command and its report the child is neither a process
    // nor gone from the list, so the process table alone can look settled too early.
    let killed = eventually("the abandoned processes are gone", timeout: 3) {
      childProcesses(of: d.pid) == [template] && w.entries().count == 1
    }
    #expect(
      killed,
      """
      children of the daemon besides the template: \
      \(childProcesses(of: d.pid).subtracting([template]).sorted().map { "\($0) \(commandLine($0))" })
      """
    )
    // Nobody can learn their ids, so nothing should stay listed for them ...
    let listed = w.entries().dropFirst()
    #expect(
      listed.isEmpty,
      """
      \(listed.count) process objects left by abandoned requests: \
      \(listed.map { "\($0.id) \($0.state) \($0.status.map(String.init) ?? "-")" })
      """
    )
    // ... nor hold a descriptor ...
    let fdsBack = eventually("daemon fds back to baseline", timeout: 3) { openDescriptors(d.pid) == baseline }
    #expect(
      fdsBack,
      """
      daemon descriptors \(baseline.count) before, \(openDescriptors(d.pid).count) after: \
      \(descriptorDifference(baseline, openDescriptors(d.pid)))
      """
    )
    // ... nor count against --max-processes: the next client is served.
    let next = w.run(["spawn", "true"])
    #expect(next.code == 0, "spawn after 20 abandoned new requests: exit \(next.code): \(next.stderr)")
  }

  /// Sends `count` generated cases, in batches of 100 connections at once: each connects,
  /// writes, shuts down its sending side, and then its replies are read and compared with
  /// the oracle's. Returns the cases answered wrongly, and how many cases were real
  /// requests and so not sent.
  func runGarbage(_ w: World, _ generator: inout FuzzGenerator, count: Int, devNull: FileDescriptor)
    -> (failures: [String], skipped: Int, answers: [String: Int])
  {
    var failures: [String] = []
    var answers: [String: Int] = [:]
    var done = 0
    var notSent = 0
    while done < count {
      var batch: [(FuzzCase, [Answer], FileDescriptor)] = []
      while batch.count < 100 && done < count {
        done += 1
        let c = generator.next()
        guard let expected = expectedAnswers(c.bytes, fds: c.fds) else {
          notSent += 1
          continue
        }
        guard let fd = try? UnixSocket.connect(to: w.socket) else {
          failures.append("cannot connect for case \(done)")
          continue
        }
        setTimeouts(fd)
        // One case in four is written in 2 to 5 pieces (the descriptors with the first), which
        // the daemon may read at any boundary.
        var pieces: [ArraySlice<UInt8>] = [c.bytes[...]]
        if c.bytes.count > 1 && generator.rng.oneIn(4) {
          let cuts = (0..<generator.rng.within(1...4)).map { _ in generator.rng.within(1...(c.bytes.count - 1)) }
          let bounds = [0] + Set(cuts).sorted() + [c.bytes.count]
          pieces = zip(bounds, bounds.dropFirst()).map { c.bytes[$0..<$1] }
        }
        for (k, piece) in pieces.enumerated() {
          if sendQuietly(fd, Array(piece), fds: k == 0 ? Array(repeating: devNull, count: c.fds) : []) != nil { break }
        }
        _ = Glibc.shutdown(fd.rawValue, Int32(SHUT_WR))
        batch.append((c, expected, fd))
      }
      for (c, expected, fd) in batch {
        let (replies, ending) = readReplies(fd)
        fd.closeQuietly()
        for r in replies { answers[r.kind, default: 0] += 1 }
        if replies.isEmpty { answers["no reply", default: 0] += 1 }
        let right = replies.count == expected.count && zip(expected, replies).allSatisfy { $0.matches($1) }
        if !right || (ending != .endOfFile && ending != .reset) {
          let got = replies.map { describe(.success($0)) }.joined(separator: ", ")
          failures.append(
            """
            \(c.summary): expected [\(expected.map(\.description).joined(separator: ", "))] then the end, \
            got [\(got)] then \(ending)
            """
          )
        }
      }
    }
    return (failures, notSent, answers)
  }

  /// Frames of 1 to 4 MiB written in full: a send-args of 1 MiB to nobody (code 1, the
  /// connection stays), a 4 MiB payload that is no list (code 11), and 3 MiB promised and
  /// 2 MiB sent before a hang-up.
  func bigFrames(_ w: World, devNull: FileDescriptor, tag: String) throws {
    let args = (0..<1024).map { _ in [UInt8](repeating: 0x61, count: 1023) }
    let c1 = try RawConnection(w)
    let r1 = c1.ask(.sendArgs(ref: Array("4711000".utf8), arguments: args))
    #expect(isFailure(r1, .unknownProcess), "\(tag): 1 MiB send-args to nobody: \(describe(r1))")
    let r1b = c1.ask(.hello)
    #expect(
      r1b == .success(.welcome(version: 1, daemonPID: w.daemonPID)),
      "\(tag): hello after a refused 1 MiB frame: \(describe(r1b))")
    let junk = [UInt8](repeating: 0xff, count: WireLimits.maxPayload)
    let c2 = try RawConnection(w)
    c2.sendBytes([1, MessageType.sendArgs.rawValue, 0, 0, 0, 0, 0x40, 0] + junk)
    let r2 = c2.reply()
    #expect(isFailure(r2, .protocolError), "\(tag): 4 MiB of junk: \(describe(r2))")
    let c3 = try RawConnection(w)
    c3.sendBytes([1, MessageType.sendArgs.rawValue, 1, 0, 0, 0, 0x30, 0] + junk.prefix(2 << 20), fds: [devNull])
  }

  /// Requests in an order the protocol refuses or answers with a refusal.
  func outOfOrder(_ w: World, devNull: FileDescriptor, legitimate: inout Set<UInt64>) throws {
    let path = [Array("PATH=/bin:/usr/bin".utf8)]
    func sh(_ script: String, wait: Bool = false) -> RunSpec {
      RunSpec(
        program: Array("/bin/sh".utf8), arguments: ["-c", script].map { Array($0.utf8) }, environment: path,
        waitForExit: wait)
    }
    let c = try RawConnection(w)
    // hello first is optional; it names the daemon.
    let hello = c.ask(.hello)
    #expect(hello == .success(.welcome(version: 1, daemonPID: w.daemonPID)), "\(describe(hello))")

    // send-args before the process object exists, then to it once `new` has made it.
    guard case .success(.created(let a, _, _)) = c.ask(.new(name: [])) else {
      Issue.record("new failed")
      return
    }
    legitimate.insert(a)
    let early = c.ask(.sendArgs(ref: Array(String(a + 1).utf8), arguments: [Array("-c".utf8)]))
    #expect(isFailure(early, .unknownProcess), "send-args before new: \(describe(early))")
    guard case .success(.created(let b, _, _)) = c.ask(.new(name: [])) else {
      Issue.record("new failed")
      return
    }
    legitimate.insert(b)
    #expect(
      c.ask(.sendArgs(ref: Array(String(b).utf8), arguments: ["-c", "exit 5"].map { Array($0.utf8) })) == .success(.ok))
    let five = c.ask(
      .run(
        ref: Array(String(b).utf8), spec: RunSpec(program: Array("/bin/sh".utf8), environment: path, waitForExit: true))
    )
    #expect(five == .success(.statuses([(b, .exited(5))])), "\(describe(five))")

    // run twice; then every input to a running or exited process object is refused.
    let ra = Array(String(a).utf8)
    #expect(c.ask(.run(ref: ra, spec: sh("exit 7"))) == .success(.ok))
    let again = c.ask(.run(ref: ra, spec: sh("exit 8")))
    #expect(isFailure(again, .wrongState), "run twice: \(describe(again))")
    let late = c.ask(.sendFDs(ref: ra, targets: [nil]), fds: [devNull])
    #expect(isFailure(late, .wrongState), "send-fd after run: \(describe(late))")
    #expect(isFailure(c.ask(.fork(ref: ra, name: [])), .wrongState))
    #expect(c.ask(.wait(refs: [ra])) == .success(.statuses([(a, .exited(7))])))
    #expect(isFailure(c.ask(.sendArgs(ref: ra, arguments: [])), .wrongState))
    #expect(isFailure(c.ask(.kill(signal: SIGTERM, refs: [ra])), .wrongState), "kill after exit")
    #expect(isFailure(c.ask(.run(ref: ra, spec: sh("exit 9"))), .wrongState), "run after exit")

    // The default template takes nothing and runs nothing.
    let dflt = Array("default".utf8)
    #expect(isFailure(c.ask(.sendArgs(ref: dflt, arguments: [Array("x".utf8)])), .wrongState))
    #expect(isFailure(c.ask(.run(ref: dflt, spec: sh("exit 1"))), .wrongState))
    #expect(isFailure(c.ask(.sendFDs(ref: dflt, targets: [3]), fds: [devNull]), .wrongState))
    // kill(2) refuses signal 1000: code 3, and nothing is signalled.
    #expect(isFailure(c.ask(.kill(signal: 1000, refs: [dflt])), .badRequest))

    // wait on unknown ids and on nothing.
    #expect(isFailure(c.ask(.wait(refs: [Array("4711000".utf8)])), .unknownProcess))
    #expect(isFailure(c.ask(.wait(refs: [ra, Array("4711000".utf8)])), .unknownProcess))
    #expect(isFailure(c.ask(.wait(refs: [])), .badRequest))
    #expect(isFailure(c.ask(.kill(signal: 0, refs: [Array("99999999".utf8)])), .unknownProcess))
    #expect(isFailure(c.ask(.fork(ref: [], name: [])), .unknownProcess), "the empty ref names nothing")

    // signal frames on a connection attached to nothing: no reply, nothing signalled, and
    // the next request is answered.
    let template = w.entries().first!.pid
    c.send(.signal(SIGKILL))
    c.send(.signal(SIGTERM))
    let after = c.ask(.list)
    if case .success(.listing) = after {} else { Issue.record("list after stray signal frames: \(describe(after))") }
    #expect(isAlive(template), "a stray signal frame reached the default template")
    // ... but a signal number outside 1 to 64 is a violation.
    for bad: Int32 in [0, 65, -9] {
      let s = try RawConnection(w)
      var payload = PayloadWriter()
      payload.i32(bad)
      s.sendBytes(Frame(type: .signal, payload: payload.bytes, fdCount: 0).encoded())
      #expect(isFailure(s.reply(), .protocolError), "signal \(bad)")
      #expect(s.isClosed())
    }

    // A second request while a spawn is attached: code 11, the connection closes, and the
    // program (tied to it) is terminated and reaped, leaving nothing listed.
    let spawner = try RawConnection(w)
    let sleeper = Request.spawn(
      SpawnRequest(
        targets: [], spec: RunSpec(program: Array("/bin/sleep".utf8), arguments: [Array("60".utf8)], environment: path))
    )
    guard case .success(.created(let sid, let spid, _)) = spawner.ask(sleeper) else {
      Issue.record("spawn failed")
      return
    }
    let second = spawner.ask(.list)
    #expect(isFailure(second, .protocolError), "list while attached: \(describe(second))")
    #expect(spawner.isClosed())
    #expect(eventually("the abandoned program ended") { !isAlive(spid) && statFields(spid) == nil })
    #expect(!w.entries().contains { $0.id == Int(sid) }, "the abandoned spawn is still listed")

    // An attached spawn that gets a signal frame: its program's status, then the connection
    // serves the next request.
    let signalled = try RawConnection(w)
    guard case .success(.created(let tid, _, _)) = signalled.ask(sleeper) else {
      Issue.record("spawn failed")
      return
    }
    signalled.send(.signal(SIGUSR1))
    let status = signalled.reply()
    #expect(status == .success(.statuses([(tid, .signaled(SIGUSR1, coreDumped: false))])), "\(describe(status))")
    if case .success(.listing) = signalled.ask(.list) {} else { Issue.record("no listing after a spawn's status") }

    // A request while a run with flag 8 is attached: code 11; the program runs on (a run is
    // not tied to its connection) until killed from another connection.
    guard case .success(.created(let r, let rpid, _)) = c.ask(.new(name: [])) else {
      Issue.record("new failed")
      return
    }
    legitimate.insert(r)
    let runner = try RawConnection(w)
    runner.send(
      .run(
        ref: Array(String(r).utf8),
        spec: RunSpec(
          program: Array("/bin/sleep".utf8), arguments: [Array("60".utf8)], environment: path, waitForExit: true)))
    runner.send(.wait(refs: [Array(String(r).utf8)]))
    let refused = runner.reply()
    #expect(isFailure(refused, .protocolError), "wait while a run is attached: \(describe(refused))")
    #expect(isAlive(rpid))
    #expect(c.ask(.kill(signal: SIGKILL, refs: [Array(String(r).utf8)])) == .success(.ok))
    #expect(
      c.ask(.wait(refs: [Array(String(r).utf8)])) == .success(.statuses([(r, .signaled(SIGKILL, coreDumped: false))])))
  }

  /// Descriptors where none are allowed, missing where required, and too many.
  func wrongDescriptors(_ w: World, devNull: FileDescriptor) throws {
    let nobody = Array("4711000".utf8)
    let three = [devNull, devNull, devNull]
    func frame(_ r: Request, declaring n: Int? = nil) -> [UInt8] {
      var f = r.frame()
      if let n { f.fdCount = n }
      return f.encoded()
    }
    let cwdSpec = RunSpec(program: Array("/bin/true".utf8), hasWorkingDirectory: true)
    let refusals: [(String, [UInt8], [FileDescriptor])] = [
      ("list with 1 fd", frame(.list), [devNull]),
      ("list with 3 fds", frame(.list), three),
      ("list declaring 1 fd, with it", frame(.list, declaring: 1), [devNull]),
      ("hello with 1 fd", frame(.hello), [devNull]),
      ("wait with 2 fds", frame(.wait(refs: [nobody])), [devNull, devNull]),
      ("send-fds declaring 2, 1 attached", frame(.sendFDs(ref: nobody, targets: [nil, nil])), [devNull]),
      ("send-fds declaring 2, none attached", frame(.sendFDs(ref: nobody, targets: [nil, 4])), []),
      (
        "send-fds of 2 targets declaring 1, 1 attached", frame(.sendFDs(ref: nobody, targets: [nil, 4]), declaring: 1),
        [devNull]
      ),
      ("send-fds of 0 targets", frame(.sendFDs(ref: nobody, targets: [])), []),
      ("run with a working directory, no fd", frame(.run(ref: nobody, spec: cwdSpec), declaring: 0), []),
      (
        "run without a working directory, 1 fd",
        frame(.run(ref: nobody, spec: RunSpec(program: Array("/bin/true".utf8))), declaring: 1), [devNull]
      ),
      (
        "spawn of 3 targets, 2 attached",
        frame(.spawn(SpawnRequest(from: nobody, targets: [0, 1, 2], spec: RunSpec(program: Array("/bin/true".utf8))))),
        [devNull, devNull]
      ),
      (
        "spawn of 1 target and a directory, 1 attached",
        frame(.spawn(SpawnRequest(from: nobody, targets: [0], spec: cwdSpec))), [devNull]
      ),
      ("64 fds declared, none attached", frame(.list, declaring: 64), []),
      ("65 fds declared", frame(.list, declaring: 65), []),
    ]
    for (what, bytes, fds) in refusals {
      let c = try RawConnection(w)
      c.sendBytes(bytes, fds: fds)
      let r = c.reply()
      #expect(isFailure(r, .protocolError), "\(what): \(describe(r))")
      #expect(c.isClosed(), "\(what): the connection stayed open")
    }
    // Well-formed requests with their descriptors, to nobody: code 1, fds closed.
    let c = try RawConnection(w)
    #expect(isFailure(c.ask(.sendFDs(ref: nobody, targets: [nil, 7, nil]), fds: three), .unknownProcess))
    #expect(isFailure(c.ask(.run(ref: nobody, spec: cwdSpec), fds: [devNull]), .unknownProcess))
    // The descriptors may come with the payload rather than the header.
    let split = frame(.sendFDs(ref: nobody, targets: [nil, nil]))
    c.sendBytes(Array(split.prefix(8)))
    c.sendBytes(Array(split.dropFirst(8)), fds: [devNull, devNull])
    #expect(isFailure(c.reply(), .unknownProcess), "send-fds with its fds on the payload")
    // 65 descriptors in one sendmsg: more than the daemon takes; the connection ends
    // without a reply, and none of them stays open in the daemon.
    let flood = try RawConnection(w)
    flood.sendBytes(
      frame(.sendFDs(ref: nobody, targets: Array(repeating: nil, count: 64))), fds: Array(repeating: devNull, count: 65)
    )
    #expect(flood.isClosed(), "65 descriptors in one sendmsg")
  }

  /// `count` connections, `batch` at a time, each dropped mid-frame: at once, after part of
  /// a header, after a header that promises a payload, in the middle of a payload, with
  /// descriptors in flight, or after a request whose reply it never reads.
  func dropMidFrame(_ w: World, _ seed: FuzzRandom, count: Int, devNull: FileDescriptor, batch: Int = 200) {
    var rng = seed
    var g = FuzzGenerator(rng: FuzzRandom(seed: rng.next()))
    var done = 0
    while done < count {
      var open: [FileDescriptor] = []
      while open.count < batch && done < count {
        done += 1
        guard let fd = try? UnixSocket.connect(to: w.socket) else { continue }
        setTimeouts(fd, seconds: 2)
        // Sent whole only when harmless; else never complete.
        var (frame, fds, _) = g.validFrame()
        while done % 8 == 7 && expectedAnswers(frame, fds: fds) == nil { (frame, fds, _) = g.validFrame() }
        switch done % 8 {
        case 0: break
        case 1: sendQuietly(fd, Array(frame.prefix(rng.within(1...7))))
        case 2:
          sendQuietly(
            fd,
            g.header(
              type: rng.pick(FuzzGenerator.requestTypes), fds: 0, length: UInt32(rng.within(1...WireLimits.maxPayload)))
          )
        case 3: sendQuietly(fd, Array(frame.dropLast()), fds: Array(repeating: devNull, count: fds))
        case 4:
          sendQuietly(fd, g.header(type: MessageType.sendFDs.rawValue, fds: 2, length: 40), fds: [devNull, devNull])
        case 5:
          sendQuietly(fd, g.header(type: MessageType.sendFDs.rawValue, fds: 3, length: 40) + [0, 0], fds: [devNull])
        case 6: sendQuietly(fd, Array(frame.prefix(8)), fds: Array(repeating: devNull, count: rng.within(1...3)))
        default: sendQuietly(fd, frame, fds: Array(repeating: devNull, count: fds))  // reply never read
        }
        open.append(fd)
      }
      for fd in open { fd.closeQuietly() }
    }
  }
}

// MARK: Requests under chaos

/// What the chaos run learnt of one program it asked for.
struct ChaosRequest {
  var token: Int
  var id: UInt64
  var pid: Int32
  var what: String
}

extension ProtocolFuzzTests {
  /// --template-timeout of the chaos run's daemon, and the slack over it that a request may
  /// take on a loaded machine (a fork answered late after a stop of up to 300 ms included).
  static let chaosTemplateTimeoutMilliseconds: Int64 = 500
  static let chaosSlackMilliseconds: Int64 = 3000
  static let chaosRequests = 400

  @Test(
    """
    requests while templates and process objects are killed and stopped at random: every program that ran has \
    its own status reported once, to its id; every request is answered within its bound
    """
  )
  func requestsUnderChaos() throws {
    let seed = fuzzSeed
    let tag = "FORKCTL_FUZZ_SEED=\(seed)"
    var rng = FuzzRandom(seed: seed)
    let w = World()
    w.startDaemon(["--template-timeout", String(Double(Self.chaosTemplateTimeoutMilliseconds) / 1000)])
    w.ok(["spawn", "true"])
    let daemon = w.daemonPID
    try #require(daemon > 0)
    let program = ChaosProgram(log: w.dir + "/ran")
    let bound = Self.chaosTemplateTimeoutMilliseconds + Self.chaosSlackMilliseconds
    let chaos = ChaosActor(daemon: daemon)
    if let template = w.entries().first?.pid { chaos.add(template, forkOnly: true) }

    var templates: [[UInt8]] = [Array("default".utf8)]
    var runnable: [(id: UInt64, pid: Int32)] = []
    var started: [ChaosRequest] = []
    var refused: [Int: String] = [:]
    var statuses: [UInt64: [WorkerStatus]] = [:]
    var late: [String] = []
    var unanswered: [String] = []

    /// One request on a connection of its own: its replies (two for an attached spawn), or
    /// how it went unanswered, and its wall time against the bound.
    func exchange(_ request: Request, replies: Int = 1, _ what: String) -> [Reply] {
      let started = Sys.monotonicMilliseconds()
      defer {
        let took = Sys.monotonicMilliseconds() - started
        if took > bound { late.append("\(what): \(took) ms, bound \(bound) ms") }
      }
      guard let c = try? RawConnection(w) else {
        unanswered.append("\(what): cannot connect")
        return []
      }
      c.send(request)
      var out: [Reply] = []
      while out.count < replies {
        switch c.reply() {
        case .success(let r):
          out.append(r)
          if case .failure = r { return out }
        case .failure(let f):
          unanswered.append("\(what): \(f)")
          return out
        }
      }
      return out
    }

    func created(_ replies: [Reply], _ what: String) -> (UInt64, Int32)? {
      switch replies.first {
      case .created(let id, let pid, _): return (id, pid)
      case .failure(let code, _) where code != .protocolError: return nil
      case let r:
        unanswered.append("\(what): \(r.map { describe(.success($0)) } ?? "nothing")")
        return nil
      }
    }

    func record(_ reply: Reply?, _ id: UInt64, _ what: String) {
      guard case .statuses(let entries) = reply else { return }
      for e in entries {
        if e.id != id { unanswered.append("\(what): a status for \(e.id), not \(id)") }
        statuses[e.id, default: []].append(e.status)
      }
    }

    /// A template made by exec that failed a fork was killed (or killed for not answering):
    /// the run forks from it no more, so that each stopped one costs one --template-timeout.
    func dropTemplate(_ ref: [UInt8]) {
      if ref != Array("default".utf8) { templates.removeAll { $0 == ref } }
    }

    let actor = chaos.begin(seed: rng.next())
    for step in 0..<Self.chaosRequests {
      let token = step + 1
      switch rng.below(8) {
      case 0:
        if let (id, pid) = created(exchange(.exec(name: []), "exec (step \(step))"), "exec") {
          templates.append(Array(String(id).utf8))
          chaos.add(pid, forkOnly: true)
        }
      case 1, 2:
        let from = rng.oneIn(3) && !runnable.isEmpty ? Array(String(rng.pick(runnable).id).utf8) : rng.pick(templates)
        let what = "fork \(String(decoding: from, as: UTF8.self)) (step \(step))"
        if let (id, pid) = created(exchange(.fork(ref: from, name: []), what), what) {
          runnable.append((id, pid))
          chaos.add(pid, forkOnly: false)
        } else {
          dropTemplate(from)
        }
      case 3, 4:
        guard !runnable.isEmpty else { continue }
        let (id, pid) = runnable.remove(at: rng.below(runnable.count))
        let wait = rng.oneIn(2)
        let what = "run\(wait ? " --wait" : "") \(id), token \(token)"
        let replies = exchange(.run(ref: Array(String(id).utf8), spec: program.spec(token, wait: wait)), what)
        switch replies.first {
        case .ok where !wait, .statuses where wait:
          started.append(ChaosRequest(token: token, id: id, pid: pid, what: what))
          record(replies.first, id, what)
        case .failure(let code, _) where code != .protocolError:
          refused[token] = what
        case let r:
          unanswered.append("\(what): \(r.map { describe(.success($0)) } ?? "nothing")")
        }
      case 5, 6:
        let from = rng.pick(templates)
        let what = "spawn from \(String(decoding: from, as: UTF8.self)), token \(token)"
        let spec = program.spec(token)
        let request = Request.spawn(SpawnRequest(from: from, targets: [], spec: spec))
        let replies = exchange(request, replies: 2, what)
        if let (id, pid) = created(replies, what) {
          started.append(ChaosRequest(token: token, id: id, pid: pid, what: what))
          chaos.add(pid, forkOnly: false)
          record(replies.dropFirst().first, id, what)
        } else {
          refused[token] = what
          dropTemplate(from)
        }
      default:
        let replies = exchange(.list, "list (step \(step))")
        if case .listing = replies.first {} else { unanswered.append("list (step \(step)): \(replies)") }
      }
    }
    chaos.end(actor)

    // The statuses not reported yet: one wait each.
    for r in started where statuses[r.id] == nil {
      record(exchange(.wait(refs: [Array(String(r.id).utf8)]), "wait \(r.id)").first, r.id, "wait \(r.id)")
    }
    let ran = program.ran()
    var wrong: [String] = []
    for r in started {
      let got = statuses[r.id] ?? []
      guard got.count == 1 else {
        wrong.append("\(r.what): \(got.count) statuses \(got)")
        continue
      }
      switch got[0] {
      case .exited(ChaosProgram.code(r.token)):
        if ran[r.token] != r.pid {
          wrong.append("\(r.what): its program's status, but it ran as \(ran[r.token].map(String.init) ?? "nothing")")
        }
      case .signaled(SIGKILL, _):
        if let p = ran[r.token], p != r.pid { wrong.append("\(r.what): process \(r.pid), yet it ran as \(p)") }
      default:
        wrong.append("\(r.what) (process \(r.pid)): status \(got[0]), not \(ChaosProgram.code(r.token)) or SIGKILL")
      }
    }
    let startedTokens = Set(started.map(\.token))
    for (token, pid) in ran where !startedTokens.contains(token) {
      wrong.append("\(refused[token] ?? "token \(token)") was refused, yet its program ran as \(pid)")
    }
    print(
      "\(tag): chaos \(chaos.actions); \(started.count) programs started, \(refused.count) refused, \(ran.count) ran")
    #expect(unanswered.isEmpty, "\(tag): \(unanswered.count) requests unanswered: \(unanswered.prefix(8))")
    #expect(late.isEmpty, "\(tag): \(late.count) requests over their bound: \(late.prefix(8))")
    #expect(wrong.isEmpty, "\(tag): \(wrong.count) wrong statuses: \(wrong.prefix(8))")
    #expect(!w.entries().contains { $0.state == "starting" }, "\(tag): objects left starting")
    #expect(eventually("no zombie") { zombieChildren(of: daemon).isEmpty }, "\(tag)")
    #expect(w.daemonPID == daemon && isAlive(daemon), "\(tag): the daemon died; log:\n\(daemonLogTail(w))")
  }
}
