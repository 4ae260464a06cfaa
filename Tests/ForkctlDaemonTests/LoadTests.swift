// Issue 12: libraries loaded into templates, and calls that need one.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: libraries loaded into templates, and calls")
struct LoadTests {
  static let library = LoadSpec(path: b("/lib/libscore.so"), arguments: [b("model.bin")])
  static let oneThread = ThreadCensus(names: [b("forkctl/object")])

  @Test("a load is sent to the template and answered with its threads; its forks inherit the library")
  func loadAnswered() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("scorer")
    #expect(s.request(.load(ref: b("scorer"), Self.library), client: 1) == [])
    #expect(s.effects.commands(to: t).last == .load(Self.library))
    s.handle(.loaded(Self.oneThread), from: t)
    #expect(s.replies(1).last == .loaded(Self.oneThread))
    #expect(s.registry[t]?.holdings.libraries == [b("/lib/libscore.so")])
    let w = try s.forkWorker(from: t, pid: 3001)
    #expect(s.registry[w]?.holdings.libraries == [b("/lib/libscore.so")])
  }

  @Test("a refused load fails with the template's code and message, naming the library")
  func loadRefused() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate()
    s.request(.load(ref: ref(t), Self.library), client: 1)
    s.handle(.loadRefused(.loadFailed, message: b("cannot open shared object file")), from: t)
    let reply = try #require(s.replies(1).last)
    #expect(reply.failureCode == .loadFailed)
    #expect(
      reply.failureMessage == "cannot load /lib/libscore.so into process \(t): cannot open shared object file")
    #expect(s.registry[t]?.holdings.libraries == [])
  }

  @Test("a template that dies while loading fails the load, and every load queued behind it")
  func diesWhileLoading() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate()
    s.request(.load(ref: ref(t), Self.library), client: 2)
    s.request(.load(ref: ref(t), Self.library), client: 3)
    s.controlClosed(t)
    #expect(s.replies(2).map(\.failureCode) == [.loadFailed])
    #expect(s.replies(3).map(\.failureCode) == [.loadFailed])
    #expect(s.replies(2).first?.failureMessage?.contains("it ended while loading") == true)
  }

  @Test("load is refused for the default template and for a process object that has run")
  func loadRefusedByState() throws {
    var s = makeSupervisor()
    let w = try s.newWorker(pid: 2001)
    let intoDefault = s.request(.load(ref: ref(s.defaultTemplate!), Self.library), client: 1)
    #expect(intoDefault.map(\.failureCode) == [.wrongState])
    #expect(intoDefault.first?.failureMessage?.contains("default template") == true)
    s.request(.run(ref: ref(w), spec: RunSpec(program: b("prog")), attributes: nil), client: 1)
    let intoRun = s.request(.load(ref: ref(w), Self.library), client: 1)
    #expect(intoRun.first?.failureMessage == "cannot load into process \(w): it is already running prog")
    #expect(!s.effects.commands(to: w).contains(.load(Self.library)))
  }

  @Test("a call in a process object that loaded nothing is refused, and nothing is sent")
  func callWithoutLibrary() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate()
    let w = try s.forkWorker(from: t, pid: 3001)
    let call = RunSpec(program: b("score"), entry: .call(quickExit: false))
    let r = s.request(.run(ref: ref(w), spec: call, attributes: nil), client: 1)
    #expect(r.map(\.failureCode) == [.wrongState])
    #expect(r.first?.failureMessage?.contains("it has loaded no library") == true)
    #expect(s.effects.commands(to: w).isEmpty)
    let spawn = s.request(
      .spawn(SpawnRequest(from: ref(t), targets: [], spec: call)), client: 1)
    #expect(spawn.map(\.failureCode) == [.wrongState])
  }

  @Test("a call whose symbol the worker cannot find fails with symbolNotFound, naming the libraries")
  func callOfMissingSymbol() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate()
    s.request(.load(ref: ref(t), Self.library), client: 1)
    s.handle(.loaded(Self.oneThread), from: t)
    let w = try s.forkWorker(from: t, pid: 3001)
    let call = RunSpec(program: b("nope"), entry: .call(quickExit: false))
    #expect(s.request(.run(ref: ref(w), spec: call, attributes: nil), client: 2) == [])
    #expect(s.effects.commands(to: w).last == .run(call, statusPipe: false, attributes: nil))
    s.handle(.execFailed(errno: ExecFailure(step: .symbol, errno: 2).rawValue), from: w)
    let reply = try #require(s.replies(2).last)
    #expect(reply.failureCode == .symbolNotFound)
    #expect(
      reply.failureMessage == "cannot call nope in process \(w): no library it loaded exports it (/lib/libscore.so)")
  }

  @Test("a spawn --call refused by its template for a missing symbol fails with symbolNotFound")
  func spawnCallOfMissingSymbol() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate()
    s.request(.load(ref: ref(t), Self.library), client: 1)
    s.handle(.loaded(Self.oneThread), from: t)
    let call = RunSpec(program: b("nope"), entry: .call(quickExit: false))
    #expect(s.request(.spawn(SpawnRequest(from: ref(t), targets: [], spec: call)), client: 2) == [])
    s.handle(.refused(.symbolNotFound, message: b("no library exports nope")), from: t)
    #expect(s.replies(2).map(\.failureCode) == [.symbolNotFound])
    #expect(s.registry.starting == 0)
  }

  @Test("a fork queued behind a load is not killed by the report deadline while the init runs")
  func loadIsNotBounded() throws {
    var s = makeSupervisor { $0.templateTimeoutMilliseconds = 500 }
    let (t, pid) = try s.execTemplate()
    s.request(.load(ref: ref(t), Self.library), client: 1)
    s.request(.fork(ref: ref(t), name: []), client: 2)
    s.deadlinesPassed(now: s.effects.clock + 5000)
    #expect(s.effects.signals.isEmpty)
    #expect(s.replies(2).isEmpty)
    // The load's answer starts the fork's clock.
    s.handle(.loaded(Self.oneThread), from: t)
    s.deadlinesPassed(now: s.effects.clock + 500)
    #expect(s.effects.signals.map(\.pid) == [pid])
    #expect(s.replies(2).map(\.failureCode) == [.templateFailed])
  }
}
