// Ready pools (issue 13): process objects forked from a template ahead of time, not run, so
// that `new`, `fork` and the spawns that fork (--call, --keep-control) from that template take
// one instead of waiting for a fork on the request path, as Android's USAP pool does for app
// launches. The usual spawn of a program keeps the template's vfork path, which copies
// nothing (measured: see handOutReady).
//
// A member is an ordinary child of the template (phase `.ready` once born, owned by the
// pool's owner, no name, detached: forgotten once reaped) with its own control socket, and a
// PoolMember of state `.starting` (fork asked) or `.idle` (born). Its hand-out names it and
// answers `created` as the fork's report would; for a spawn it gets the descriptors and the
// run the keepControl path of Spawn.swift sends a forked child. The rules:
//   1. When fewer than `sizes.minIdle` (--min) members are kept, the pool forks until it
//      keeps `sizes.max` (--max); it starts full.
//   2. Only a member whose control socket is open, with nothing queued on it, that holds what
//      the template holds now (a send-fd, send-arg or load into the template since its fork
//      makes it stale), is handed out, and only to a client of the pool owner's uid: a born
//      one first; else one still being forked, answered when it is born, as its fork is
//      ahead of any asked now in the template's queue. A stale member is ended; a request
//      that found none forks, then the pool refills (after that fork, so that the request
//      does not wait behind the refill).
//   3. A load into the template ends every member (their control socket is closed: a
//      process object exits on end of file) and refills once the load is answered, so that
//      no process without the library is handed out. `pool reload` replaces them too.
//   4. The template gone (died, or exec'd its program): the pool ends its members and stops
//      refilling; a pool of the default template moves to the next default template at the
//      next `new` or `spawn`. A template that runs a program keeping its control socket
//      leaves the members alive, unused, until the pool is stopped.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  /// Refuses, saying why, the sizes of a ready pool that could never refill.
  mutating func acceptReadySizes(_ spec: PoolSpec, _ client: ClientID) -> Bool {
    if spec.sizes.max >= 1 && spec.sizes.minIdle >= 1 && spec.sizes.minIdle <= spec.sizes.max { return true }
    effects.reply(
      client,
      .failure(
        .badRequest,
        "ready pool \(String(decoding: spec.name, as: UTF8.self)) needs 1 <= --min <= --max "
          + "(it has --min \(spec.sizes.minIdle), --max \(spec.sizes.max))"))
    return false
  }

  /// `pool create --ready`: answered at once; the members are forked in the background.
  mutating func createReadyPool(_ spec: PoolSpec, template: UInt64, _ client: ClientID) {
    var pool = Pool(name: spec.name, owner: clientUIDs[client], workers: nil, template: template, sizes: spec.sizes)
    pool.target = Int(spec.sizes.max)
    pools[spec.name] = pool
    effects.reply(client, .ok)
    refillReady(spec.name)
  }

  /// Rule 1 (and a shrink below the members kept, after a resize).
  mutating func refillReady(_ name: [UInt8]) {
    guard let pool = pools[name], pool.workers == nil, pool.phase == .serving, let t = registry[pool.template],
      t.phase.isUnrun, t.phase.livePID != nil, t.control == .open, t.loads.isEmpty
    else { return }
    let kept = pool.active.map(\.id).sorted()
    let most = Int(pool.sizes.max)
    pools[name]?.target = most
    if kept.count > most {
      for id in kept.suffix(kept.count - most) { endReadyMember(name, id) }
    } else if kept.count < Int(pool.sizes.minIdle) {
      for _ in kept.count..<most {
        guard forkReadyMember(name) else { break }
      }
    }
  }

  /// Asks the pool's template to fork one member; false when it cannot (the pool's followers
  /// are told why).
  private mutating func forkReadyMember(_ name: [UInt8]) -> Bool {
    guard let pool = pools[name] else { return false }
    guard let id = reserveWorkerID(pool.owner) else {
      poolError(name, "the process object limit is reached")
      return false
    }
    let control: (FileDescriptor, FileDescriptor)
    do {
      control = try effects.socketPair()
    } catch {
      poolError(name, "cannot fork a ready process: \(Sys.describe(error))")
      return false
    }
    var o = child(id, of: pool.template, name: [], origin: .fork, owner: pool.owner, run: nil, control: .open)
    // Nobody waits for a member that dies in the pool: the pool's history keeps its status.
    o.status = .detached
    askFork(of: pool.template, o, control: control, client: nil)
    pools[name]?.members[id] = PoolMember(
      state: .starting, generation: pool.generation, requestLimit: nil, startedAt: effects.now())
    poolOf[id] = name
    poolEvent(name, "started", ["\"id\":\(id)", "\"generation\":\(pool.generation)"])
    return true
  }

  /// Member `id` was born: it can be handed out. False when `id` is no ready pool's member.
  mutating func readyMemberBorn(_ id: UInt64) -> Bool {
    guard let name = poolOf[id], pools[name]?.workers == nil, let m = pools[name]?.members[id] else { return false }
    if m.state == .starting { pools[name]?.members[id]?.state = .idle }
    return true
  }

  /// Takes member `id` out of pool `name` and closes its control socket: an unrun process
  /// object exits on end of file; one still being forked is killed when its fork is reported
  /// (nobody knows its id: Creation.swift's `born`).
  private mutating func endReadyMember(_ name: [UInt8], _ id: UInt64) {
    unlinkReadyMember(name, id)
    guard registry[id]?.control == .open else { return }
    effects.closeControl(id)
    registry.update(id) { $0.control = .closed }
  }

  /// Rules 3 and 4: what the members of `template`'s ready pools hold is stale, or their
  /// template is gone. Refilled by `refillReadyPools(of:)`, when there is something to fork.
  mutating func emptyReadyPools(of template: UInt64) {
    for (name, pool) in pools where pool.workers == nil && pool.template == template {
      for id in pool.members.keys.sorted() { endReadyMember(name, id) }
    }
  }

  /// Rule 3: the template answered its load.
  mutating func refillReadyPools(of template: UInt64) {
    for (name, pool) in pools where pool.workers == nil && pool.template == template { refillReady(name) }
  }

  /// Rule 2: a member of a ready pool of `parent` for `client`, taken out of its pool (the
  /// pool to refill with it), or nil when none is ready. A born one first, the oldest first;
  /// else one still being forked (`born` false), whose fork is further on in the template's
  /// queue than a fork asked now would be.
  private mutating func takeReady(_ parent: UInt64, _ client: ClientID) -> (pool: [UInt8], id: UInt64, born: Bool)? {
    followDefaultTemplate(parent)
    guard let t = registry[parent] else { return nil }
    let uid = clientUIDs[client]
    for name in pools.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
      guard let pool = pools[name], pool.workers == nil, pool.template == parent, pool.phase == .serving,
        pool.owner == uid
      else { continue }
      let members = pool.active.sorted { $0.id < $1.id }
      let born = members.filter { $0.member.state == .idle }.map(\.id)
      let starting = members.filter { $0.member.state == .starting }.map(\.id)
      for id in born + starting {
        guard let o = registry[id], o.control == .open, o.forks.isEmpty, o.loads.isEmpty else {
          // Its socket closed, or asked something by someone who named its id: not the pool's.
          unlinkReadyMember(name, id)
          continue
        }
        let queued = effects.queued(id)
        guard o.holdings == t.holdings, queued.fds == 0, queued.bytes == 0 else {
          endReadyMember(name, id)
          continue
        }
        switch o.phase {
        case .ready:
          unlinkReadyMember(name, id)
          return (name, id, true)
        case .starting(nil, let then) where then.isEmpty && o.orphanedFork == nil:
          guard t.forks.contains(where: { $0.child == id && $0.client == nil }) else { continue }
          unlinkReadyMember(name, id)
          return (name, id, false)
        case .starting:
          continue
        case .running, .exited:
          // Run by someone who named its id.
          unlinkReadyMember(name, id)
        }
      }
    }
    return nil
  }

  /// Member `id` leaves pool `name`, as it is.
  private mutating func unlinkReadyMember(_ name: [UInt8], _ id: UInt64) {
    pools[name]?.members[id] = nil
    poolOf[id] = nil
  }

  /// Rule 4: a pool of a default template that has gone follows `parent`, the default
  /// template now, from the next refill on (its old members are ended).
  private mutating func followDefaultTemplate(_ parent: UInt64) {
    guard parent == registry.defaultTemplate else { return }
    for (name, pool) in pools where pool.workers == nil && pool.template != parent {
      guard registry[pool.template]?.origin == .defaultTemplate else { continue }
      emptyReadyPools(of: pool.template)
      pools[name]?.template = parent
      refillReady(name)
    }
  }

  /// `new` or `fork` of `parent`: a ready member, named and answered as the fork's report
  /// would be. False when none is ready (the caller forks).
  mutating func handOutReady(_ parent: UInt64, name: [UInt8], client: ClientID) -> Bool {
    guard let (pool, id, born) = takeReady(parent, client) else { return false }
    registry.update(id) {
      $0.name = name
      $0.status = .anyWaiter
    }
    if !born {
      // Its fork's report answers the client, as for a fork asked now (Creation.swift).
      registry.update(parent) {
        for i in $0.forks.indices where $0.forks[i].child == id { $0.forks[i].client = client }
      }
    } else if let pid = registry[id]?.phase.pid, effects.reply(client, .created(id: id, pid: pid)) {
      lastCreated[client] = id
    } else {
      abandon(id)
    }
    refillReady(pool)
    return true
  }

  /// `spawn` from `parent` of a function (--call) or of a program that keeps its control
  /// socket, which fork the template: a ready member becomes the spawn, its descriptors and
  /// run sent as to a forked child (Spawn.swift); `created` goes out once its program runs
  /// (Run.swift). False when none is ready (the caller forks), when a status pipe cannot be
  /// made (the caller then fails as it would), and for the usual spawn of a program: the
  /// template's vfork path copies nothing, while a member's execve tears down the copy of the
  /// template it holds, on the request path: `spawn -- /bin/true` took 2.4 ms from a member
  /// against 2.2 from the default template, and 3.9 against 2.2 from a template of 64 MiB
  /// (README, Performance).
  mutating func handOutReady(
    _ parent: UInt64, _ s: SpawnRequest, _ run: Run, _ attachment: Attachment, _ fds: [FileDescriptor],
    _ client: ClientID
  ) -> Bool {
    if case .exec = s.spec.entry, !s.spec.keepControl { return false }
    var statusPipe: (read: FileDescriptor, write: FileDescriptor)?
    if s.spec.keepControl {
      guard let p = try? effects.pipe() else { return false }
      statusPipe = p
    }
    guard let (pool, id, _) = takeReady(parent, client) else {
      if let statusPipe { closeAll([statusPipe.read, statusPipe.write]) }
      return false
    }
    registry.update(id) {
      $0.name = s.name
      $0.origin = .spawn
      $0.status = .attached(attachment)
      // One still being forked runs when it is born: its run queues behind the fork.
      switch $0.phase {
      case .ready(let pid): $0.phase = .running(pid: pid, run)
      case .starting: $0.phase = .starting(run: run, then: [])
      case .running, .exited: preconditionFailure("takeReady handed out a member that has run")
      }
    }
    sendSpawnRun(id, s, fds, statusPipe: statusPipe)
    refillReady(pool)
    return true
  }
}
