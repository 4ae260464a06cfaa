// Issue 13: `pool reload` makes a fresh template the same way as the pool's template made by
// exec (Recipes.swift): the descriptors, strings and loads sent to it, again, in order.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: a pool's template made again for a reload")
struct RecipeTests {
  static let library = LoadSpec(path: b("./libcode.so"), arguments: [b("v1")], hasWorkingDirectory: true)
  static let census = ThreadCensus(names: [b("forkctl/object")])

  /// Template "web" with two descriptors, a string and a library (loaded from a directory),
  /// and a call pool of one worker on it.
  static func fixture() throws -> (TestSupervisor, template: UInt64, sent: [FileDescriptor]) {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    let t = try s.execTemplate("web").id
    let sent = s.fds(2)
    #expect(s.request(.sendFDs(ref: b("web"), targets: [3, 4]), fds: sent) == [.ok])
    #expect(s.request(.sendArgs(ref: b("web"), arguments: [b("--fast")])) == [.ok])
    let directory = s.fds(1)
    s.request(.load(ref: b("web"), library), fds: directory)
    s.handle(.loaded(census), from: t)
    // A load that failed is not done again.
    s.request(.load(ref: b("web"), LoadSpec(path: b("./broken.so"))))
    s.handle(.loadRefused(.loadFailed, message: b("no such file")), from: t)
    let workers = PoolWorkers(
      spec: RunSpec(program: b("serve"), environment: [b("PATH=/bin")], entry: .call(quickExit: false)))
    let spec = PoolSpec(name: b("p"), from: b("web"), kind: .workers(workers), sizes: PoolSizes(start: 1, max: 4))
    #expect(s.request(.pool(.create(spec))) == [.ok])
    return (s, t, sent + directory)
  }

  /// The template the pool made for its last reload.
  static func remade(_ s: TestSupervisor, besides: UInt64? = nil) throws -> UInt64 {
    try #require(s.pools[b("p")]?.madeTemplates.first { $0 != besides })
  }

  @Test("reload execs a template, sends it copies of what the old one got, in order, and forks the workers from it")
  func remade() throws {
    var (s, old, sent) = try Self.fixture()
    #expect(s.request(.pool(.reload(name: b("p"), from: []))) == [.ok])
    let new = try Self.remade(s)
    #expect(new != old)
    #expect(s.pools[b("p")]?.template == old, "not before its load has succeeded")
    #expect(s.effects.commands(to: new) == [.fds(targets: [3, 4]), .arguments([b("--fast")]), .load(Self.library)])
    // What went to the new template are copies of copies: the originals went to the old one.
    let wentNew =
      s.effects.sent[new]?.filter { if case .fork = $0.command { false } else { true } }.flatMap(\.fds) ?? []
    #expect(Set(wentNew).isDisjoint(with: Set(sent)))
    #expect(wentNew.count == 3)
    #expect(s.pools[b("p")]?.madeTemplates == [new])
    s.handle(.loaded(Self.census), from: new)
    #expect(s.pools[b("p")]?.template == new)
    #expect(s.pools[b("p")]?.generation == 2)
    #expect(s.effects.commands(to: new).dropFirst(3).map { if case .fork = $0 { true } else { false } } == [true])
    #expect(s.registry[new]?.holdings.libraries == [b("./libcode.so")])
    #expect(s.registry[old]?.control == .open)
    #expect(s.remakes.isEmpty)
  }

  static let python = HostSpec(language: .python, interpreter: b("/usr/bin/python3"), environment: [b("A=1")])

  /// Python host "py" that was given `prepare` (a load or an eval, answered), and a call pool
  /// "p" of `target` on it.
  static func hostPool(
    _ s: inout TestSupervisor, _ prepare: Request, target: String
  ) throws -> UInt64 {
    s.clientConnected(1, uid: 1000)
    let r = s.execHost(b("py"), python)
    guard case .created(let host, _, _)? = r.first else { throw HarnessError("exec replied \(r)") }
    s.request(prepare)
    s.handle(.loaded(census), from: host)
    let workers = PoolWorkers(spec: RunSpec(program: b(target), entry: .call(quickExit: false)))
    let spec = PoolSpec(name: b("p"), from: b("py"), kind: .workers(workers), sizes: PoolSizes(start: 1, max: 4))
    #expect(s.request(.pool(.create(spec))) == [.ok])
    return host
  }

  @Test("a language host's pool is remade as the same host: its interpreter and environment, then its loads")
  func hostRemade() throws {
    var s = makeSupervisor()
    let module = LoadSpec(path: b("mymod"))
    _ = try Self.hostPool(&s, .load(ref: b("py"), module), target: "mymod:serve")
    #expect(s.request(.pool(.reload(name: b("p"), from: []))) == [.ok])
    let new = try Self.remade(s)
    #expect(s.effects.events.filter { if case .startHost(new, Self.python, _) = $0 { true } else { false } }.count == 1)
    #expect(s.effects.commands(to: new) == [.load(module)])
    s.handle(.loaded(Self.census), from: new)
    #expect(s.pools[b("p")]?.template == new)
  }

  @Test("after an eval a reload forks from the template as it is: the code run cannot be told or repeated")
  func evalLosesRecipe() throws {
    var s = makeSupervisor()
    let t = try Self.hostPool(&s, .eval(ref: b("py"), EvalSpec(code: b("import json"))), target: "json:dumps")
    #expect(s.request(.pool(.reload(name: b("p"), from: []))) == [.ok])
    #expect(s.pools[b("p")]?.madeTemplates.isEmpty == true)
    #expect(s.pools[b("p")]?.template == t)
    #expect(s.pools[b("p")]?.generation == 2)
  }

  @Test("a load that fails in the remade template ends it; the pool stays on the old one, and forked nothing from it")
  func remakeFails() throws {
    var (s, old, _) = try Self.fixture()
    s.request(.pool(.events(name: b("p"))), client: 3)
    s.request(.pool(.reload(name: b("p"), from: [])))
    let new = try Self.remade(s)
    s.handle(.loadRefused(.loadFailed, message: b("undefined symbol: gone")), from: new)
    #expect(s.pools[b("p")]?.template == old)
    #expect(s.pools[b("p")]?.generation == 1)
    #expect(!s.effects.commands(to: new).contains { if case .fork = $0 { true } else { false } })
    #expect(s.effects.closedControls.contains(new))
    #expect(s.pools[b("p")]?.madeTemplates.isEmpty == true)
    #expect(
      Self.events(s).contains {
        $0.contains("reload failed, the pool stays on process \(old) (web): cannot load ./libcode.so")
      })
  }

  @Test("a second reload ends the template the first one made, once the new one has loaded")
  func secondReload() throws {
    var (s, _, _) = try Self.fixture()
    s.request(.pool(.reload(name: b("p"), from: [])))
    let first = try Self.remade(s)
    s.handle(.loaded(Self.census), from: first)
    s.request(.pool(.reload(name: b("p"), from: [])))
    let second = try Self.remade(s, besides: first)
    #expect(second != first)
    #expect(!s.effects.closedControls.contains(first))
    s.handle(.loaded(Self.census), from: second)
    #expect(s.effects.closedControls.contains(first))
    #expect(s.pools[b("p")]?.madeTemplates == [second])
  }

  /// The pool events client 3 was sent, as text, in order.
  static func events(_ s: TestSupervisor) -> [String] {
    (s.effects.attachments[3] ?? []).compactMap { r -> String? in
      guard case .poolEvent(let l)? = r else { return nil }
      return String(decoding: l, as: UTF8.self)
    }
  }

  @Test(
    """
    a reload while the last one's template is still loading replaces it: the newer template is the one the pool \
    moves to, and nothing is told as failed
    """
  )
  func reloadWhileRemaking() throws {
    var (s, old, _) = try Self.fixture()
    s.request(.pool(.events(name: b("p"))), client: 3)
    #expect(s.request(.pool(.reload(name: b("p"), from: []))) == [.ok])
    let first = try Self.remade(s)
    #expect(s.request(.pool(.reload(name: b("p"), from: []))) == [.ok])
    let second = try Self.remade(s, besides: first)
    // The first is ended at once: the library it loaded may be older than the second's.
    #expect(s.effects.closedControls.contains(first))
    #expect(s.pools[b("p")]?.madeTemplates == [second])
    s.handle(.loaded(Self.census), from: second)
    #expect(s.pools[b("p")]?.template == second)
    #expect(s.pools[b("p")]?.generation == 2)
    #expect(!s.effects.closedControls.contains(second))
    #expect(s.registry[old]?.control == .open)
    #expect(s.remakes.isEmpty)
    #expect(!Self.events(s).contains { $0.contains("\"error\"") }, "\(Self.events(s))")
  }

  @Test("a pool stopped while its remade template is loading ends it, and its followers hear nothing after stopped")
  func stopWhileRemaking() throws {
    var (s, _, _) = try Self.fixture()
    s.request(.pool(.events(name: b("p"))), client: 3)
    s.request(.pool(.reload(name: b("p"), from: [])))
    let new = try Self.remade(s)
    s.request(.pool(.stop(name: b("p"), graceful: false)), client: 4)
    for id in s.pools[b("p")]?.members.keys.sorted() ?? [] {
      if let pid = s.registry[id]?.phase.pid { s.childExited(pid: pid, status: .signaled(15, coreDumped: false)) }
      s.discardUnborn(id, because: "stopped before its fork")
    }
    #expect(s.pools[b("p")] == nil)
    #expect(s.effects.closedControls.contains(new))
    #expect(s.remakes.isEmpty)
    #expect(Self.events(s).last?.contains("\"stopped\"") == true, "\(Self.events(s))")
  }

  @Test(
    "a template the pool made is forgotten once it has exited: nobody waits for it, so reloads do not fill the limits")
  func madeTemplateForgotten() throws {
    var (s, _, _) = try Self.fixture()
    s.request(.pool(.reload(name: b("p"), from: [])))
    let first = try Self.remade(s)
    s.handle(.loaded(Self.census), from: first)
    s.request(.pool(.reload(name: b("p"), from: [])))
    let second = try Self.remade(s, besides: first)
    s.handle(.loaded(Self.census), from: second)
    #expect(s.effects.closedControls.contains(first))
    s.childExited(pid: try #require(s.registry[first]?.phase.pid), status: .exited(0))
    #expect(s.registry[first] == nil)
  }

  @Test("a remake that cannot keep the copies it needs ends its template and leaves nothing pending")
  func remakeOverTheLimit() throws {
    var (s, old, _) = try Self.fixture()
    s.recipeDescriptors = Recipe.descriptorLimit - 1
    let r = s.request(.pool(.reload(name: b("p"), from: [])))
    #expect(r.map(\.failureCode) == [.limitReached])
    let made = s.effects.templates.map(\.id).filter { $0 != old }
    #expect(made.count == 1)
    for id in made { #expect(s.registry[id]?.control == .closed) }
    #expect(s.remakes.isEmpty)
    #expect(s.pools[b("p")]?.madeTemplates.isEmpty == true)
    #expect(s.pools[b("p")]?.template == old)
  }

  @Test("the copies a template's recipe keeps are closed once it takes no command: it exec'd its program, or died")
  func copiesClosedWithControl() throws {
    var (s, old, _) = try Self.fixture()
    let kept = s.recipes[old]?.descriptors ?? []
    #expect(kept.count == 3)
    s.controlClosed(old)
    #expect(s.recipes[old] == nil)
    #expect(s.recipeDescriptors == 0)
    let closed = s.effects.events.compactMap { if case .close(let fd) = $0 { fd } else { nil } }
    #expect(Set(kept).isSubset(of: Set(closed)))
  }

  @Test("the copies a template's recipe keeps are closed when it exits")
  func copiesClosed() throws {
    var (s, old, _) = try Self.fixture()
    let kept = s.recipes[old]?.descriptors ?? []
    #expect(kept.count == 3)
    #expect(s.recipeDescriptors == 3)
    s.controlClosed(old)
    s.childExited(pid: try #require(s.registry[old]?.phase.pid), status: .exited(0))
    #expect(s.recipes[old] == nil)
    #expect(s.recipeDescriptors == 0)
    let closed = s.effects.events.compactMap { if case .close(let fd) = $0 { fd } else { nil } }
    #expect(Set(kept).isSubset(of: Set(closed)))
  }
}
