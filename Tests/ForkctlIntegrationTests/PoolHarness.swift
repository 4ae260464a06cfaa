// The pool tests' harness (PoolTests.swift): the fixtures of Tests/Fixtures/pool, what
// `pool status --json` and `pool events` print read back into values, forkctl commands left
// running in the background (pool events, pool stop), and waits bounded in time.
import ForkctlSys
import Glibc
import Testing

/// Tests/Fixtures/pool: worker.sh (a shell worker driven by files), http-worker.py,
/// notify-socket-worker.py and load.py.
let poolFixtures: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/PoolHarness.swift
  for _ in 0..<2 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Fixtures/pool"
}()

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

// MARK: JSON

/// A JSON value as forkctl prints them; numbers as Double (every number it prints is an
/// integer far below 2^53).
indirect enum JSON: Equatable {
  case object([String: JSON])
  case array([JSON])
  case string(String)
  case number(Double)
  case bool(Bool)
  case null

  subscript(key: String) -> JSON? {
    if case .object(let o) = self { return o[key] }
    return nil
  }
  var int: Int? {
    if case .number(let n) = self, n == n.rounded() { return Int(n) }
    return nil
  }
  var string: String? {
    if case .string(let s) = self { return s }
    return nil
  }
  var array: [JSON]? {
    if case .array(let a) = self { return a }
    return nil
  }

  /// Every value in `text`, one after another (a JSON document, or JSON lines); nil when
  /// any of it is not JSON.
  static func values(_ text: String) -> [JSON]? {
    var p = JSONParser(Array(text.utf8))
    var out: [JSON] = []
    while true {
      p.skipSpace()
      if p.atEnd { return out }
      guard let v = p.value() else { return nil }
      out.append(v)
    }
  }
}

/// A recursive-descent reader of RFC 8259 JSON, strict enough that a malformed line fails.
struct JSONParser {
  private let bytes: [UInt8]
  private var i = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  var atEnd: Bool { i >= bytes.count }

  mutating func skipSpace() {
    while i < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[i]) { i += 1 }
  }

  private mutating func literal(_ word: String, _ v: JSON) -> JSON? {
    let w = Array(word.utf8)
    guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { return nil }
    i += w.count
    return v
  }

  mutating func value() -> JSON? {
    skipSpace()
    guard i < bytes.count else { return nil }
    switch bytes[i] {
    case UInt8(ascii: "{"):
      i += 1
      var o: [String: JSON] = [:]
      skipSpace()
      if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
        i += 1
        return .object(o)
      }
      while true {
        skipSpace()
        guard case .string(let k)? = stringValue() else { return nil }
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        guard let v = value() else { return nil }
        o[k] = v
        skipSpace()
        guard i < bytes.count else { return nil }
        i += 1
        if bytes[i - 1] == UInt8(ascii: "}") { return .object(o) }
        guard bytes[i - 1] == UInt8(ascii: ",") else { return nil }
      }
    case UInt8(ascii: "["):
      i += 1
      var a: [JSON] = []
      skipSpace()
      if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
        i += 1
        return .array(a)
      }
      while true {
        guard let v = value() else { return nil }
        a.append(v)
        skipSpace()
        guard i < bytes.count else { return nil }
        i += 1
        if bytes[i - 1] == UInt8(ascii: "]") { return .array(a) }
        guard bytes[i - 1] == UInt8(ascii: ",") else { return nil }
      }
    case UInt8(ascii: "\""): return stringValue()
    case UInt8(ascii: "t"): return literal("true", .bool(true))
    case UInt8(ascii: "f"): return literal("false", .bool(false))
    case UInt8(ascii: "n"): return literal("null", .null)
    default:
      let start = i
      while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
      guard i > start, let n = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else { return nil }
      return .number(n)
    }
  }

  private mutating func stringValue() -> JSON? {
    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
    i += 1
    var out: [UInt8] = []
    while i < bytes.count {
      let c = bytes[i]
      i += 1
      if c == UInt8(ascii: "\"") { return .string(String(decoding: out, as: UTF8.self)) }
      if c < 0x20 { return nil }
      guard c == UInt8(ascii: "\\") else {
        out.append(c)
        continue
      }
      guard i < bytes.count else { return nil }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "n"): out.append(0x0a)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "r"): out.append(0x0d)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0c)
      case UInt8(ascii: "u"):
        guard i + 4 <= bytes.count, let u = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16)
        else { return nil }
        i += 4
        // Surrogates stand for themselves here: no line forkctl prints in these tests has one.
        out += Array(String(Character(Unicode.Scalar(u) ?? "\u{fffd}")).utf8)
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
      default: return nil
      }
    }
    return nil
  }
}

// MARK: pool status --json

/// One worker as `pool status --json` shows it.
struct PoolWorkerInfo {
  var id: Int
  var pid: Int32
  var state: String
  var requests: Int
  var generation: Int
  var status: String
}

/// One departure of a pool's history.
struct PoolDepartureInfo {
  var id: Int
  var pid: Int32
  var status: String
  var reason: String
}

/// A departure's status in words, "exited N" or "signal N": from the fields `list --json`
/// also prints (exit_code, signal), or from a "status" that is already words.
func statusWords(_ j: JSON) -> String {
  if let signal = j["signal"]?.int { return "signal \(signal)" }
  if let code = j["exit_code"]?.int { return "exited \(code)" }
  return j["status"]?.string ?? ""
}

/// One pool as `pool status --json` shows it (forkctl(1)); a field it lacks reads as -1.
struct PoolInfo {
  var json: JSON
  var name: String { json["name"]?.string ?? "" }
  func count(_ key: String) -> Int { json[key]?.int ?? -1 }
  var generation: Int { count("generation") }
  var target: Int { count("target") }
  var requests: Int { count("requests") }
  var restarts: Int { count("restarts") }
  var workers: [PoolWorkerInfo] {
    (json["workers"]?.array ?? []).map {
      PoolWorkerInfo(
        id: $0["id"]?.int ?? -1, pid: Int32($0["pid"]?.int ?? -1), state: $0["state"]?.string ?? "",
        requests: $0["requests"]?.int ?? -1, generation: $0["generation"]?.int ?? -1,
        status: $0["status"]?.string ?? "")
    }
  }
  var history: [PoolDepartureInfo] {
    (json["history"]?.array ?? []).map {
      PoolDepartureInfo(
        id: $0["id"]?.int ?? -1, pid: Int32($0["pid"]?.int ?? -1), status: statusWords($0),
        reason: $0["reason"]?.string ?? "")
    }
  }
  /// Workers not asked to stop.
  var live: [PoolWorkerInfo] { workers.filter { $0.state != "stopping" } }
  func workers(in state: String) -> [PoolWorkerInfo] { workers.filter { $0.state == state } }
  func departures(_ reason: String) -> [PoolDepartureInfo] { history.filter { $0.reason == reason } }
}

// MARK: a process left running

/// A process running in the background (`pool events`, `pool stop`, load.py), its stdout
/// and stderr in files of the world's directory; killed and reaped when dropped, if still
/// running.
final class BackgroundProcess {
  let pid: Int32
  let stdoutPath: String
  let stderrPath: String
  private(set) var exitCode: Int32?

  init(_ world: World, path: String, _ arguments: [String], tag: String) {
    stdoutPath = "\(world.dir)/\(tag).out"
    stderrPath = "\(world.dir)/\(tag).err"
    let o = try! Sys.open(stdoutPath, .writeOnly, options: [.create, .truncate])
    let e = try! Sys.open(stderrPath, .writeOnly, options: [.create, .truncate])
    pid = try! Sys.posixSpawn(path: path, arguments: arguments, environment: world.environment, fds: [nil, o, e])
    o.closeQuietly()
    e.closeQuietly()
  }

  /// forkctl ARGS against the world's daemon.
  convenience init(_ world: World, forkctl args: [String], tag: String) {
    self.init(world, path: forkctlBinary, ["forkctl"] + args, tag: tag)
  }

  var stdout: String { readFile(stdoutPath) }
  var stderr: String { readFile(stderrPath) }

  /// Whether it is still running; reaps it (and keeps its exit code, or 128 + signal) once it is not.
  var isRunning: Bool {
    guard exitCode == nil else { return false }
    var status: Int32 = 0
    guard waitpid(pid, &status, WNOHANG) == pid else { return true }
    // wait(2)'s status word: the exit code in bits 8-15 when the low 7 bits are 0, else the signal.
    exitCode = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return false
  }

  /// Waits up to `timeout` seconds for it to end; its exit code, or nil if it runs on.
  func finish(timeout: Double) -> Int32? {
    _ = eventually("process \(pid) ends", timeout: timeout) { !isRunning }
    return exitCode
  }

  /// What it printed so far, one JSON value per line (a line that is not JSON is kept as
  /// .null, so that it fails whatever test reads it).
  var jsonLines: [JSON] {
    stdout.split(separator: "\n").map { JSON.values(String($0))?.first ?? .null }
  }

  deinit {
    if isRunning {
      try? Sys.kill(pid, .kill)
      _ = try? Sys.waitChild(pid)
    }
  }
}

// MARK: a world with a template, a fixture directory and pools

/// A private daemon with one template, `tpl`, to fork pools from; the fixture workers' control
/// directory; and the calls every pool test makes.
final class PoolLab {
  let world = World()
  /// The fixtures' DIR: their mode files and their log. Removed with the world, which ends
  /// every fixture worker still running.
  let dir: String
  private var pools: [String] = []

  init(sourceLocation: SourceLocation = #_sourceLocation) {
    dir = world.dir + "/pool"
    precondition(mkdir(dir, 0o755) == 0, "mkdir \(dir): \(errno)")
    world.ok(["exec", "--name", "tpl"], sourceLocation: sourceLocation)
  }

  /// worker.sh as a pool's program.
  var shellWorker: [String] { ["/bin/sh", poolFixtures + "/worker.sh", dir] }

  /// `pool create NAME --from tpl OPTIONS -- PROGRAM`; remembered, so that it is stopped at
  /// the end.
  @discardableResult
  func create(_ name: String, _ options: [String], _ program: [String]) -> Outcome {
    let r = world.run(["pool", "create", name, "--from", "tpl"] + options + ["--"] + program)
    if r.code == 0 { pools.append(name) }
    return r
  }

  /// The pool as `pool status NAME --json` shows it; nil when that fails or prints no such pool.
  func status(_ name: String) -> PoolInfo? {
    let r = world.run(["pool", "status", name, "--json"])
    guard r.code == 0, let values = JSON.values(r.stdout) else { return nil }
    // One object per pool, alone or in an array.
    let objects = values.flatMap { $0.array ?? [$0] }
    return objects.first { $0["name"]?.string == name }.map(PoolInfo.init)
  }

  /// Polls `pool status` (bounded) until `condition` holds; the last status seen, nil if it
  /// never held. The failure names `what` and the last status.
  @discardableResult
  func waitFor(
    _ name: String, _ what: String, timeout: Double = 15, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: (PoolInfo) -> Bool
  ) -> PoolInfo? {
    var last: PoolInfo?
    let held = eventually(what, timeout: timeout) {
      last = status(name)
      return last.map(condition) ?? false
    }
    #expect(
      held, "\(what): not within \(timeout) s; last status \(String(describing: last?.json))",
      sourceLocation: sourceLocation)
    return held ? last : nil
  }

  /// Reads `pool status NAME` every 20 ms for at most `seconds`, handing `body` each status
  /// and when it was read, until `body` returns true; the last status read.
  func watch(_ name: String, seconds: Double, _ body: (PoolInfo, Double) -> Bool) -> PoolInfo? {
    var last: PoolInfo?
    let start = monotonicSeconds()
    while monotonicSeconds() - start < seconds {
      if let s = status(name) {
        last = s
        if body(s, monotonicSeconds()) { break }
      }
      usleep(20_000)
    }
    return last
  }

  /// Tells the fixture workers what to do (worker.sh's DIR/mode, or DIR/mode.PID for one).
  func setMode(_ mode: String, pid: Int32? = nil) {
    writeAtomically(pid.map { "mode.\($0)" } ?? "mode", mode + "\n")
  }

  /// Has worker `pid` send `text` as one datagram (worker.sh's DIR/say.PID).
  func say(_ text: String, pid: Int32) { writeAtomically("say.\(pid)", text) }

  /// A file of DIR written whole before any poller can read it: written aside, then renamed.
  private func writeAtomically(_ name: String, _ text: String) {
    writeFile("\(dir)/.\(name).tmp", text)
    precondition(rename("\(dir)/.\(name).tmp", "\(dir)/\(name)") == 0, "rename \(name): \(errno)")
  }

  /// DIR/log as (word, pid) pairs, in the order the workers wrote them.
  var log: [(word: String, pid: Int32)] {
    readFile(dir + "/log").split(separator: "\n").compactMap { line in
      let f = line.split(separator: " ")
      guard f.count >= 2, let pid = Int32(f[1]) else { return nil }
      return (String(f[0]), pid)
    }
  }

  func logged(_ word: String, _ pid: Int32) -> Bool { log.contains { $0.word == word && $0.pid == pid } }

  /// The daemon's open descriptors, counted.
  var daemonDescriptorCount: Int { openDescriptors(world.daemonPID).count }

  deinit {
    // Bounded: a stop that hangs fails the test that made the pool, not the whole run.
    for name in pools {
      let stop = BackgroundProcess(world, forkctl: ["pool", "stop", name], tag: "stop-\(name)-at-end")
      _ = stop.finish(timeout: 15)
    }
  }
}
