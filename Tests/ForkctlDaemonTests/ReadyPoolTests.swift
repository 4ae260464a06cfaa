// Issue 13, ready pools: process objects forked ahead of time, handed to new, fork and spawn
// without a fork on the request path, emptied by a load and refilled.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

extension Supervisor where Effects == RecordingEffects {
  /// The ids of the `.fork` commands sent to `template` so far.
  func forksAsked(of template: UInt64) -> [UInt64] {
    effects.commands(to: template).compactMap { if case .fork(let id) = $0 { id } else { nil } }
  }

  /// Makes ready pool `name` of `from` for `client` and reports each member's fork with the
  /// pids from `firstPID` on; the members' ids, oldest first.
  mutating func readyPool(
    _ name: String, from: String = "", min: UInt32 = 1, max: UInt32 = 3, firstPID: Int32, client: ClientID = 1
  ) throws -> [UInt64] {
    let spec = PoolSpec(
      name: b(name), from: b(from), kind: .ready, sizes: PoolSizes(start: max, minIdle: min, max: max))
    let r = request(.pool(.create(spec)), client: client)
    guard r == [.ok] else { throw HarnessError("pool create replied \(r)") }
    let template = from.isEmpty ? defaultTemplate! : resolve(b(from))!
    let members = Array(forksAsked(of: template).suffix(Int(max)))
    try reportForks(of: template, members, firstPID: firstPID)
    return members
  }

  /// Reports the forks of `members` by `template`, in order, with the pids from `firstPID` on.
  mutating func reportForks(of template: UInt64, _ members: [UInt64], firstPID: Int32) throws {
    for (i, id) in members.enumerated() {
      handle(.forked(pid: firstPID + Int32(i)), from: template)
      guard registry[id]?.phase.pid == firstPID + Int32(i) else { throw HarnessError("member \(id) not born") }
    }
  }

  /// The members `pool status` lists for `name`, as (id, pid, state).
  mutating func poolMembers(_ name: String) -> [(id: UInt64, pid: Int32, state: PoolWorkerEntry.State)] {
    guard case .pools(let summaries)? = request(.pool(.status(name: b(name))), client: 99).last,
      let pool = summaries.first
    else { return [] }
    return pool.workers.map { ($0.id, $0.pid, $0.state) }
  }
}

@Suite("Supervisor: ready pools")
struct ReadyPoolTests {
  @Test("a ready pool forks --max members of its template, listed idle once born")
  func fillsToMax() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 3, firstPID: 3001)
    #expect(members.count == 3)
    #expect(s.forksAsked(of: t) == members)
    let listed = s.poolMembers("r")
    #expect(listed.map(\.pid) == [3001, 3002, 3003])
    #expect(listed.allSatisfy { $0.state == .idle })
    #expect(members.allSatisfy { s.registry[$0]?.owner == nil && s.registry[$0]?.name == [] })
  }

  @Test("fork from the template takes a member: created carries its pid, and no fork is asked on the request path")
  func forkTakesMember() throws {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", min: 1, max: 3, firstPID: 3001)
    let forksBefore = s.forksAsked(of: t).count
    #expect(s.request(.fork(ref: b("t"), name: b("a"))) == [.created(id: members[0], pid: 3001)])
    #expect(s.request(.fork(ref: b("t"), name: b(""))) == [.created(id: members[1], pid: 3002)])
    #expect(s.forksAsked(of: t).count == forksBefore)
    #expect(s.resolve(b("a")) == members[0])
    #expect(s.registry[members[0]]?.owner == 1000)
    #expect(s.registry[members[0]]?.status == .anyWaiter)
    #expect(s.poolMembers("r").map(\.id) == [members[2]])
    // The last one leaves none: fewer than --min, so the pool forks until it holds --max.
    #expect(s.request(.fork(ref: b("t"), name: b(""))) == [.created(id: members[2], pid: 3003)])
    let refill = Array(s.forksAsked(of: t).dropFirst(forksBefore))
    #expect(refill.count == 3)
    #expect(Set(refill + members).count == 6)
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
  }

  @Test("with only members still being forked, fork takes the oldest and is answered when it is born")
  func forkTakesStartingMember() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let spec = PoolSpec(name: b("r"), from: b("t"), kind: .ready, sizes: PoolSizes(minIdle: 1, max: 2))
    #expect(s.request(.pool(.create(spec))) == [.ok])
    let members = s.forksAsked(of: t)
    #expect(s.request(.fork(ref: b("t"), name: b("a")), client: 2) == [])
    #expect(s.forksAsked(of: t) == members)
    s.handle(.forked(pid: 5301), from: t)
    #expect(s.replies(2) == [.created(id: members[0], pid: 5301)])
    #expect(s.resolve(b("a")) == members[0])
    #expect(s.registry[members[0]]?.status == .anyWaiter)
  }

  @Test("spawn --call with only members still being forked queues its run behind the oldest one's fork")
  func callSpawnTakesStartingMember() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    s.request(.load(ref: b("t"), LoadSpec(path: b("/lib/x.so"), arguments: [])))
    s.handle(.loaded(ThreadCensus(names: [])), from: t)
    let spec = PoolSpec(name: b("r"), from: b("t"), kind: .ready, sizes: PoolSizes(minIdle: 1, max: 2))
    s.request(.pool(.create(spec)))
    let members = s.forksAsked(of: t)
    let call = RunSpec(program: b("nothing"), entry: .call(quickExit: false))
    s.request(.spawn(SpawnRequest(from: b("t"), targets: [], spec: call)), client: 2)
    #expect(s.forksAsked(of: t) == members)
    #expect(s.effects.commands(to: members[0]) == [.run(call, statusPipe: false, attributes: nil)])
    // It announces its pid on its own socket, then its end of file says the call started,
    // before the template's report of the fork.
    s.handle(.spawning(pid: 5401), from: members[0])
    #expect(s.effects.attachments[2] == nil)
    s.controlClosed(members[0])
    #expect(s.effects.attachments[2] == [.created(id: members[0], pid: 5401)])
    s.handle(.forked(pid: 5401), from: t)
    #expect(s.effects.attachments[2]?.count == 1)
  }

  @Test("new takes a member of a ready pool of the default template")
  func newTakesMember() throws {
    var s = makeSupervisor()
    let members = try s.readyPool("r", max: 2, firstPID: 4001)
    let template = try #require(s.defaultTemplate)
    let forksBefore = s.forksAsked(of: template).count
    #expect(s.request(.new(name: b("n"))) == [.created(id: members[0], pid: 4001)])
    #expect(s.forksAsked(of: template).count == forksBefore)
  }

  @Test("spawn --call takes a member: its descriptors and run go to it, and created comes once the call runs")
  func callSpawnTakesMember() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    s.request(.load(ref: b("t"), LoadSpec(path: b("/lib/x.so"), arguments: [])))
    s.handle(.loaded(ThreadCensus(names: [])), from: t)
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 5001)
    let forksBefore = s.forksAsked(of: t).count
    let fds = s.fds(2)
    let spec = RunSpec(program: b("nothing"), entry: .call(quickExit: false))
    let r = s.request(.spawn(SpawnRequest(from: b("t"), targets: [0, 1], spec: spec)), fds: fds, client: 2)
    #expect(r.isEmpty)
    let id = members[0]
    #expect(s.forksAsked(of: t).count == forksBefore)
    #expect(
      s.effects.commands(to: id) == [.fds(targets: [0, 1]), .run(spec, statusPipe: false, attributes: nil)])
    #expect(s.effects.sent[id]?.map(\.fds) == [fds, []])
    #expect(s.registry[id]?.origin == .spawn)
    // Its control socket's end of file (close-on-exec) says the call runs.
    s.controlClosed(id)
    #expect(s.effects.attachments[2] == [.created(id: id, pid: 5001)])
    s.childExited(pid: 5001, status: .exited(0))
    #expect(s.replies(2) == [.statuses([(id, .exited(0))])])
    // An unnamed spawn whose status went out is forgotten.
    #expect(s.registry[id] == nil)
  }

  @Test("the usual spawn of a program keeps the template's vfork path: a member's execve would cost more")
  func execSpawnKeepsVforkPath() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 5051)
    s.request(.spawn(SpawnRequest(from: b("t"), targets: [], spec: RunSpec(program: b("/bin/true")))), client: 2)
    guard case .spawn? = s.effects.commands(to: t).last else { throw HarnessError("no spawn sent to \(t)") }
    #expect(s.poolMembers("r").map(\.id) == members)
  }

  @Test("a spawn of a member whose program cannot be exec'd fails as a spawn does")
  func spawnedMemberExecFails() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 1, firstPID: 5101)
    let spec = RunSpec(program: b("nope"), keepControl: true)
    s.request(.spawn(SpawnRequest(from: b("t"), targets: [], spec: spec)), client: 2)
    s.statusPipeResult(members[0], failure: .noSuchFileOrDirectory)
    #expect(s.replies(2).map(\.failureCode) == [.programNotFound])
    #expect(s.replies(2).first?.failureMessage?.hasPrefix("nope: ") == true)
    // Taken from the pool (the refill forks one more), and forgotten: nobody waits for it.
    #expect(s.forksAsked(of: t).count == 2)
    #expect(s.registry[members[0]]?.status != .anyWaiter)
  }

  @Test("spawn --keep-control takes a member with a status pipe")
  func keepControlSpawnTakesMember() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 5201)
    let spec = RunSpec(program: b("prog"), keepControl: true)
    s.request(.spawn(SpawnRequest(from: b("t"), targets: [], spec: spec)))
    let pipe = try #require(s.effects.pipes.last)
    #expect(s.effects.commands(to: members[0]) == [.run(spec, statusPipe: true, attributes: nil)])
    #expect(s.effects.sent[members[0]]?.last?.fds == [pipe.write])
    #expect(s.effects.watchedStatusPipes[members[0]] == pipe.read)
    s.statusPipeResult(members[0], failure: nil)
    #expect(s.effects.attachments[1] == [.created(id: members[0], pid: 5201)])
    #expect(s.forksAsked(of: t).count == 2)
  }

  @Test("a client of another uid than the pool's owner gets a fork of its own")
  func otherUserForks() throws {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    s.clientConnected(2, uid: 2000)
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 6001)
    #expect(s.request(.fork(ref: b("t"), name: []), client: 2) == [])
    #expect(s.forksAsked(of: t).count == 3)
    #expect(!members.contains(s.forksAsked(of: t).last!))
  }

  @Test("a member forked before a send-fd to its template is stale: ended, not handed out")
  func staleMemberEnded() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 7001)
    #expect(s.request(.sendFDs(ref: b("t"), targets: [3]), fds: s.fds(1)) == [.ok])
    #expect(s.request(.fork(ref: b("t"), name: [])) == [])
    #expect(s.effects.closedControls.contains(members[0]))
    #expect(s.effects.closedControls.contains(members[1]))
    // The request's own fork first, then the refill's two.
    let after = Array(s.forksAsked(of: t).dropFirst(2))
    #expect(after.count == 3)
    #expect(s.registry[after[0]]?.status == .anyWaiter)
    #expect(s.poolMembers("r").map(\.id) == Array(after.dropFirst()))
  }

  @Test("a load empties the pool at once and refills it once the load is answered")
  func loadEmptiesAndRefills() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 8001)
    let forksBefore = s.forksAsked(of: t).count
    s.request(.load(ref: b("t"), LoadSpec(path: b("/lib/x.so"), arguments: [])))
    #expect(s.effects.closedControls == members)
    #expect(s.poolMembers("r").isEmpty)
    // Nothing is forked while the load runs: a fork would be answered after it anyway, but
    // the pool must hold no process without the library.
    #expect(s.forksAsked(of: t).count == forksBefore)
    #expect(s.request(.fork(ref: b("t"), name: [])) == [])
    let plainFork = try #require(s.forksAsked(of: t).last)
    s.handle(.loaded(ThreadCensus(names: [])), from: t)
    let refill = Array(s.forksAsked(of: t).dropFirst(forksBefore + 1))
    #expect(refill.count == 2)
    #expect(!refill.contains(plainFork) && refill.allSatisfy { !members.contains($0) })
    // The old members exit on end of file and are forgotten.
    s.childExited(pid: 8001, status: .exited(0))
    s.childExited(pid: 8002, status: .exited(0))
    #expect(s.registry[members[0]] == nil && s.registry[members[1]] == nil)
  }

  @Test("pool stop ends the members and forgets the pool")
  func stopForgets() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 9001)
    #expect(s.request(.pool(.stop(name: b("r"), graceful: false))) == [])
    #expect(s.effects.groupSignals.map(\.pid).sorted() == [9001, 9002])
    s.childExited(pid: 9001, status: .signaled(15, coreDumped: false))
    s.childExited(pid: 9002, status: .signaled(15, coreDumped: false))
    guard case .pools(let last)? = s.replies(1).last else { throw HarnessError("no stop reply: \(s.replies(1))") }
    #expect(last.first?.workers.isEmpty == true)
    #expect(s.request(.pool(.status(name: b("r")))).map(\.failureCode) == [.unknownPool])
    #expect(s.registry[members[0]] == nil && s.registry[members[1]] == nil)
    #expect(s.forksAsked(of: t).count == 2)
  }

  @Test("the template gone, the members are ended and the pool forks no more")
  func templateGone() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", max: 2, firstPID: 9101)
    s.controlClosed(t)
    #expect(members.allSatisfy { s.effects.closedControls.contains($0) })
    #expect(s.poolMembers("r").isEmpty)
    #expect(s.forksAsked(of: t).count == 2)
  }

  @Test("a member that dies in the pool is replaced when fewer than --min are left")
  func deadMemberReplaced() throws {
    var s = makeSupervisor()
    let (t, _) = try s.execTemplate("t")
    let members = try s.readyPool("r", from: "t", min: 2, max: 2, firstPID: 9201)
    s.childExited(pid: 9201, status: .signaled(9, coreDumped: false))
    #expect(s.registry[members[0]] == nil)
    #expect(s.forksAsked(of: t).count == 3)
  }

  @Test("ready pool sizes that could never refill are refused")
  func badSizes() throws {
    var s = makeSupervisor()
    _ = try s.execTemplate("t")
    let spec = PoolSpec(name: b("r"), from: b("t"), kind: .ready, sizes: PoolSizes(minIdle: 0, max: 2))
    #expect(s.request(.pool(.create(spec))).map(\.failureCode) == [.badRequest])
  }
}
