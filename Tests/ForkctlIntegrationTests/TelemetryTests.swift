// forkctl mem and audit against real processes: memory written in a template and in its
// workers (Tests/Fixtures/libraries/telemetry.c), and libraries opened after the fork.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// telemetry.c built once per run into a directory of its own; nil with the compiler's
/// complaint recorded.
private let telemetryLibrary: String? = {
  var sources = #filePath  // .../Tests/ForkctlIntegrationTests/TelemetryTests.swift
  for _ in 0..<2 { sources = String(sources[..<sources.lastIndex(of: "/")!]) }
  let out = makeTemporaryDirectory() + "/libtelemetry.so"
  let rc = system("cc -shared -fPIC -O1 -Wall -o '\(out)' '\(sources)/Fixtures/libraries/telemetry.c' -ldl 2>&1")
  if rc != 0 { Issue.record("cc telemetry.c failed (status \(rc))") }
  return rc == 0 ? out : nil
}()

private let megabyte: UInt64 = 1 << 20

@Suite struct TelemetryTests {
  let w = World()
  var client: ForkctlClient { ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary) }

  /// Forks a worker of `template` that calls `symbol` with `arguments`, and returns its id
  /// once the function says it is ready (on descriptor 1), as it then waits to be killed.
  func readyWorker(of template: String, calling symbol: String, _ arguments: [String] = []) throws -> String {
    let id = String(try client.fork(template).id)
    let p = try Sys.pipe()
    defer { p.read.closeQuietly() }
    try client.sendFDs(id, [(fd: p.write, target: 1)])
    p.write.closeQuietly()
    _ = try client.call(id, symbol, arguments)
    let readable = try Sys.waitReadable([p.read], timeoutMilliseconds: 20_000)
    try #require(readable[0], "\(symbol) in \(id) said nothing")
    let said = try p.read.readSome(max: 16)
    #expect(said == Array("ready\n".utf8), "\(symbol) in \(id)")
    return id
  }

  func measured(_ ref: String) throws -> MemoryEntry {
    let entries = try client.memory([ref])
    try #require(entries.count == 1)
    return entries[0]
  }

  func refusal(_ body: () throws(ForkctlError) -> Void) -> ErrorCode? {
    do throws(ForkctlError) {
      try body()
      return nil
    } catch {
      return error.refusal
    }
  }

  @Test("a worker that writes 32 of its template's 64 MB and 16 MB of its own shows 48 MB private, 32 MB inherited")
  func privateAndInherited() throws {
    let lib = try #require(telemetryLibrary)
    w.ok(["exec", "--name", "big"])
    w.ok(["load", "big", lib, "--", "64"])
    let worker = try readyWorker(of: "big", calling: "dirty", ["32", "16"])
    let entry = try measured(worker)
    guard case .measured(let m) = entry.reading else {
      Issue.record("no figures: \(entry)")
      return
    }
    #expect(entry.parent == 1)
    // The pages written are its own; what it did not write of the template's is still shared, with about 2 MB
    // of the template's own data written before the fork (the runtime's, the loader's).
    #expect((48 * megabyte)...(56 * megabyte) ~= m.unshared, "\(m)")
    #expect((31 * megabyte)...(38 * megabyte) ~= m.sharedDirty, "\(m)")
    #expect(m.resident >= 78 * megabyte, "\(m)")
    // The template still maps all of its 64 MB; half of it is now its alone.
    guard case .measured(let t) = try measured("big").reading else {
      Issue.record("the template has no figures")
      return
    }
    #expect(t.resident >= 64 * megabyte && t.unshared >= 32 * megabyte, "\(t)")
    try client.kill([worker], signal: 9)
  }

  @Test("a program run in a worker that writes 32 MB shows 32 MB more private memory, and nothing inherited")
  func programWritesMemory() throws {
    try requireProgram(python3Binary, package: "python3")
    let id = String(try client.new().id)
    let p = try Sys.pipe()
    defer { p.read.closeQuietly() }
    try client.sendFDs(id, [(fd: p.write, target: 1)])
    p.write.closeQuietly()
    // 32 MB of bytes written, not calloc'ed zero pages, which would stay unmapped.
    let script = "import sys, time; b = b'x' * (32 << 20); print('ready', flush=True); time.sleep(60)"
    _ = try client.run(
      id, RunSpec(program: Array(python3Binary.utf8), arguments: [Array("-c".utf8), Array(script.utf8)]))
    try #require(try Sys.waitReadable([p.read], timeoutMilliseconds: 20_000)[0], "python said nothing")
    let entry = try measured(id)
    guard case .measured(let m) = entry.reading else {
      Issue.record("no figures: \(entry)")
      return
    }
    #expect((32 * megabyte)...(48 * megabyte) ~= m.privateDirty, "\(m)")
    // exec replaced the template's memory: nothing written before the fork is left to share.
    #expect(m.sharedDirty < megabyte, "\(m)")
    try client.kill([id], signal: 9)
  }

  @Test("audit names the library a function worker opened after the fork, and nothing for one that opened none")
  func auditFunctionWorkers() throws {
    let lib = try #require(telemetryLibrary)
    w.ok(["exec", "--name", "t"])
    w.ok(["load", "t", lib])
    let opener = try readyWorker(of: "t", calling: "open_zlib")
    let idler = try readyWorker(of: "t", calling: "idle")
    let opened = try client.audit(opener).map { String(decoding: $0, as: UTF8.self) }
    #expect(opened.count == 1 && opened[0].contains("/libz.so"), "\(opened)")
    #expect(try client.audit(idler) == [])
    // As the CLI prints them: one path per line, and a JSON array.
    #expect(w.ok(["audit", opener]) == opened[0])
    #expect(w.ok(["audit", "--json", idler]) == "[]")
    try client.kill([opener, idler], signal: 9)
  }

  @Test("a fork that has not run maps what its parent did; a template and a worker that exec'd are refused")
  func auditUnrunAndRefusals() throws {
    let template = String(try client.exec(name: "plain").id)
    let fork = String(try client.fork("plain").id)
    #expect(try client.audit(fork) == [])
    #expect(refusal { () throws(ForkctlError) in _ = try client.audit(template) } == .wrongState)
    let exec = String(try client.fork("plain").id)
    _ = try client.run(exec, RunSpec(program: Array("/bin/sleep".utf8), arguments: [Array("30".utf8)]))
    #expect(refusal { () throws(ForkctlError) in _ = try client.audit(exec) } == .wrongState)
    let r = w.run(["audit", exec])
    #expect(r.code == 125 && r.stderr.contains("it ran a program"), "\(r.stderr)")
    try client.kill([exec], signal: 9)
    _ = try client.wait([exec])
    #expect(refusal { () throws(ForkctlError) in _ = try client.audit(exec) } == .wrongState)
  }

  @Test("a library loaded after a first fork is not news in a later fork, nor in the first")
  func auditAfterLoad() throws {
    let lib = try #require(telemetryLibrary)
    w.ok(["exec", "--name", "t"])
    let before = String(try client.fork("t").id)
    w.ok(["load", "t", lib])
    let after = String(try client.fork("t").id)
    #expect(try client.audit(after) == [])
    #expect(try client.audit(before) == [])
  }

  @Test("memory naming more than 1024 process objects is refused before any is read, as wait is")
  func memoryRefsBounded() throws {
    let id = String(try client.exec().id)
    #expect(
      refusal { () throws(ForkctlError) in _ = try client.memory(Array(repeating: id, count: 1025)) } == .limitReached)
    #expect(try client.memory(Array(repeating: id, count: 1024)).count == 1024)
  }

  @Test("mem without ids measures every object of the caller's; an exited one has no figures")
  func memAll() throws {
    let template = try client.exec(name: "m").id
    let done = try client.fork("m").id
    _ = try client.run(String(done), RunSpec(program: Array("/bin/true".utf8)))
    _ = try client.wait([String(done)])
    let entries = try client.memory()
    #expect(entries.map(\.id) == [template, done])
    if case .measured(let m) = entries.first?.reading {
      #expect(m.resident > 0 && m.proportional > 0 && m.proportional <= m.resident)
    } else {
      Issue.record("the template has no figures: \(entries)")
    }
    #expect(entries.last?.reading == .noProcess)
    // The table and JSON of the CLI, and list --memory's columns.
    let table = w.ok(["mem"]).split(separator: "\n")
    #expect(
      table.first?.split(separator: " ") == ["ID", "PID", "PARENT", "RSS", "PSS", "SHARED", "PRIVATE", "INHERITED"])
    #expect(table.count == 3 && table[2].split(separator: " ").suffix(6) == ["1", "-", "-", "-", "-", "-"], "\(table)")
    #expect(w.ok(["mem", "--json", "m"]).hasPrefix("[{\"id\":\(template),\"pid\":"))
    let header = w.ok(["list", "--memory"]).split(separator: "\n").first?.split(separator: " ") ?? []
    #expect(header.suffix(6) == ["RSS", "PSS", "SHARED", "PRIVATE", "INHERITED", "PROGRAM"], "\(header)")
  }
}
