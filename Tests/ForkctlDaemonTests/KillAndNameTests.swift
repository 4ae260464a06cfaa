import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: kill and names")
struct KillAndNameTests {
  // MARK: kill

  @Test("kill signals the process's pid and replies ok")
  func killLive() throws {
    var s = makeSupervisor()
    let w = try s.newWorker("w", pid: 2001)
    let t = try s.execTemplate("t")
    #expect(s.request(.kill(signal: 15, refs: [b("w"), ref(t.id)]), client: 2) == [.ok])
    #expect(s.effects.signals.map { $0.pid } == [2001, t.pid])
    #expect(s.effects.signals.map { $0.signal } == [15, 15])
    #expect(s.info(w)?.state == .ready)  // only the reaper changes the state
  }

  @Test("kill of an exited process fails with wrongState and signals nobody")
  func killExited() throws {
    var s = makeSupervisor()
    let a = try s.newWorker(pid: 2001)
    let c = try s.newWorker(pid: 2002)
    s.childExited(pid: 2002, status: .exited(0))
    #expect(s.request(.kill(signal: 9, refs: [ref(a), ref(c)])).map(\.failureCode) == [.wrongState])
    #expect(s.effects.signals.isEmpty)
  }

  @Test("kill of an unknown process fails with unknownProcess and signals nobody")
  func killUnknown() throws {
    var s = makeSupervisor()
    let a = try s.newWorker(pid: 2001)
    #expect(s.request(.kill(signal: 9, refs: [ref(a), b("12345")])).map(\.failureCode) == [.unknownProcess])
    #expect(s.effects.signals.isEmpty)
  }

  @Test("kill of a process still being forked fails with wrongState")
  func killUnborn() {
    var s = makeSupervisor()
    s.request(.new(name: b("w")), client: 1)
    #expect(s.request(.kill(signal: 9, refs: [b("w")]), client: 2).map(\.failureCode) == [.wrongState])
    #expect(s.effects.signals.isEmpty)
  }

  @Test("a signal the kernel refuses is reported as badRequest")
  func killRefusedByKernel() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    s.effects.failSignal = .invalidArgument
    #expect(s.request(.kill(signal: 999, refs: [ref(w)])).map(\.failureCode) == [.badRequest])
  }

  // MARK: Names

  @Test("a name held by a live process cannot be taken again")
  func duplicateLiveName() throws {
    var s = makeSupervisor()
    _ = try s.execTemplate("w")
    #expect(s.request(.exec(name: b("w"))).map(\.failureCode) == [.nameTaken])
    #expect(s.request(.new(name: b("w"))).map(\.failureCode) == [.nameTaken])
    #expect(s.request(.fork(ref: b("w"), name: b("w"))).map(\.failureCode) == [.nameTaken])
    #expect(s.effects.templates.count == 2)  // the template and the default template
  }

  @Test("a name still being forked is taken too")
  func duplicateUnbornName() {
    var s = makeSupervisor()
    s.request(.new(name: b("w")), client: 1)
    #expect(s.request(.new(name: b("w")), client: 2).map(\.failureCode) == [.nameTaken])
  }

  @Test(
    "names that are all digits, \"default\", too long, or hold spaces or control bytes are bad requests",
    arguments: [
      b("123"), b("0"), b("default"), [UInt8](repeating: 0x61, count: 65), b("a b"), [0x61, 0x09], [0x7f], [0x61, 0],
    ])
  func badNames(_ name: [UInt8]) {
    var s = makeSupervisor()
    #expect(s.request(.exec(name: name)).map(\.failureCode) == [.badRequest])
    #expect(s.request(.new(name: name)).map(\.failureCode) == [.badRequest])
    #expect(s.listing().allSatisfy { $0.role == .defaultTemplate })
  }

  @Test("names of 64 bytes, with digits and non-ASCII bytes are accepted")
  func goodNames() throws {
    var s = makeSupervisor()
    _ = try s.execTemplate(String(repeating: "n", count: 64))
    _ = try s.execTemplate("1a")
    _ = try s.execTemplate("défaut")
    _ = try s.execTemplate("default2")
    #expect(s.listing().count == 4)
  }

  @Test("a name resolves to the newest record holding it")
  func nameResolvesToNewest() throws {
    var s = makeSupervisor()
    let old = try s.execTemplate("w")
    s.childExited(pid: old.pid, status: .exited(0))
    let new = try s.execTemplate("w")
    #expect(new.id != old.id)
    #expect(s.request(.kill(signal: 1, refs: [b("w")])) == [.ok])
    #expect(s.effects.signals.map { $0.pid } == [new.pid])
    // The old one is still reachable by id.
    #expect(s.request(.wait(refs: [ref(old.id)]), client: 2) == [.statuses([(id: old.id, status: .exited(0))])])
  }

  @Test("\"default\" resolves to the current default template")
  func defaultResolves() throws {
    var s = makeSupervisor()
    _ = try s.newWorker(pid: 2001)
    #expect(s.request(.kill(signal: 0, refs: [b("default")])) == [.ok])
    #expect(s.effects.signals.map { $0.pid } == [1001])
    #expect(s.resolve(b("default")) == 1)
    #expect(s.resolve(b("0001")) == 1)
    #expect(s.resolve(b("99999999999999999999999")) == nil)
  }

  @Test("an empty ref names nothing, not the newest unnamed process object")
  func emptyRefResolvesToNothing() throws {
    // `forkctl kill "$UNSET"` must not signal whichever unnamed process is newest.
    var s = makeSupervisor()
    _ = try s.newWorker(pid: 2001)
    _ = try s.execTemplate()
    #expect(s.resolve([]) == nil)
    #expect(s.request(.kill(signal: 15, refs: [[]])).map(\.failureCode) == [.unknownProcess])
    #expect(s.request(.wait(refs: [[]])).map(\.failureCode) == [.unknownProcess])
    #expect(s.request(.sendArgs(ref: [], arguments: [b("a")])).map(\.failureCode) == [.unknownProcess])
    #expect(s.request(.fork(ref: [], name: [])).map(\.failureCode) == [.unknownProcess])
    #expect(s.effects.signals.isEmpty)
  }
}
