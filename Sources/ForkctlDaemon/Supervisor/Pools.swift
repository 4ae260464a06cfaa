// Pools (issue 13): the `pool` requests, and what a worker says on its notify descriptor.
// A worker is an ordinary process object forked from the pool's template with its run queued
// behind the fork (as a spawn that keeps its control socket), detached (nobody waits: the pool
// keeps its status in its history), with one more descriptor, the notify socket. The rules
// that start and stop workers are in PoolRegulation.swift.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  mutating func pool(_ request: PoolRequest, _ client: ClientID) {
    switch request {
    case .create(let spec): createPool(spec, client)
    case .status(let name): poolStatus(name, client)
    case .resize(let name, let resize): resizePool(name, resize, client)
    case .reload(let name, let from): reloadPool(name, from: from, client)
    case .stop(let name, let graceful): stopPool(name, graceful: graceful, client)
    case .events(let name): followPool(name, client)
    }
  }

  /// The pool named, or nil after replying that there is none.
  private mutating func lookupPool(_ name: [UInt8], _ client: ClientID) -> [UInt8]? {
    if let pool = pools[name] { return pool.name }
    effects.reply(client, .failure(.unknownPool, "no pool \(String(decoding: name, as: UTF8.self))"))
    return nil
  }

  /// The template a pool forks from: `ref`, or the default template when empty; nil after
  /// replying why it cannot be one.
  private mutating func poolTemplate(_ ref: [UInt8], _ spec: RunSpec?, _ client: ClientID) -> UInt64? {
    let id: UInt64
    if ref.isEmpty || ref == Self.defaultTemplateName {
      guard let t = ensureDefaultTemplate(client) else { return nil }
      id = t
    } else {
      guard let t = lookup(ref, client) else { return nil }
      id = t
    }
    guard requireUnrun(id, "make pool workers from", client) else { return nil }
    if let spec, !requireLibrary(id, spec, client) { return nil }
    return id
  }

  private mutating func createPool(_ spec: PoolSpec, _ client: ClientID) {
    let text = String(decoding: spec.name, as: UTF8.self)
    let printable = spec.name.allSatisfy { $0 > 0x20 && $0 != 0x7f } && spec.name.first != UInt8(ascii: "-")
    if spec.name.isEmpty || spec.name.count > limits.maxNameLength || !printable {
      effects.reply(
        client,
        .failure(
          .badRequest,
          "invalid pool name \(text): names are 1 to \(limits.maxNameLength) bytes without spaces, "
            + "not beginning with '-'"))
      return
    }
    if pools[spec.name] != nil {
      effects.reply(client, .failure(.nameTaken, "pool \(text) already exists"))
      return
    }
    guard case .workers(let workers) = spec.kind else {
      guard acceptReadySizes(spec, client), let template = poolTemplate(spec.from, nil, client) else { return }
      return createReadyPool(spec, template: template, client)
    }
    if spec.sizes.max == 0 {
      effects.reply(client, .failure(.badRequest, "pool \(text) needs a --max of at least 1"))
      return
    }
    guard let template = poolTemplate(spec.from, workers.spec, client) else { return }
    pools[spec.name] = Pool(
      name: spec.name, owner: clientUIDs[client], workers: workers, template: template, sizes: spec.sizes)
    if poolMaintenanceAt == nil { poolMaintenanceAt = effects.now() + Self.poolSecond }
    effects.reply(client, .ok)
    converge(spec.name)
  }

  private mutating func poolStatus(_ name: [UInt8], _ client: ClientID) {
    if name.isEmpty {
      effects.reply(client, .pools(pools.keys.sorted { $0.lexicographicallyPrecedes($1) }.compactMap(poolSummary)))
      return
    }
    guard let name = lookupPool(name, client), let summary = poolSummary(name) else { return }
    effects.reply(client, .pools([summary]))
  }

  func poolSummary(_ name: [UInt8]) -> PoolSummary? {
    guard let pool = pools[name] else { return nil }
    let workers = pool.members.sorted { $0.key < $1.key }.map { id, m in
      PoolWorkerEntry(
        id: id, pid: registry[id]?.phase.pid ?? 0, state: m.state.listed, requests: m.requests,
        generation: m.generation, status: m.status)
    }
    return PoolSummary(
      name: pool.name, ready: pool.workers == nil, template: pool.template, generation: pool.generation,
      target: UInt32(pool.target), sizes: pool.sizes, requests: pool.requests, restarts: pool.restarts,
      workers: workers, history: pool.history)
  }

  private mutating func resizePool(_ name: [UInt8], _ resize: PoolResize, _ client: ClientID) {
    guard let name = lookupPool(name, client), var pool = pools[name] else { return }
    guard pool.phase == .serving else {
      effects.reply(client, .failure(.wrongState, "pool \(pool.nameText) is stopping"))
      return
    }
    var sizes = pool.sizes
    if let max = resize.max { sizes.max = max }
    if let minIdle = resize.minIdle { sizes.minIdle = minIdle }
    if let maxIdle = resize.maxIdle { sizes.maxIdle = maxIdle }
    if sizes.max == 0 || sizes.minIdle > sizes.maxIdle {
      effects.reply(
        client,
        .failure(
          .badRequest, "cannot resize pool \(pool.nameText): max must be at least 1 and min-idle at most max-idle"))
      return
    }
    let wanted = pool.target + Int(resize.delta)
    if resize.delta > 0 && wanted > Int(sizes.max) {
      effects.reply(
        client,
        .failure(
          .limitReached, "cannot grow pool \(pool.nameText) to \(wanted) workers: its max is \(sizes.max)"))
      return
    }
    pool.sizes = sizes
    pool.target = min(max(wanted, 0), Int(sizes.max))
    pools[name] = pool
    poolEvent(name, "size", ["\"target\":\(pool.target)", "\"max\":\(sizes.max)"])
    effects.reply(client, .ok)
    converge(name)
  }

  private mutating func reloadPool(_ name: [UInt8], from: [UInt8], _ client: ClientID) {
    guard let name = lookupPool(name, client), let pool = pools[name] else { return }
    guard pool.phase == .serving else {
      effects.reply(client, .failure(.wrongState, "pool \(pool.nameText) is stopping"))
      return
    }
    let template: UInt64
    if from.isEmpty {
      guard requireUnrun(pool.template, "reload pool \(pool.nameText) from", client) else { return }
      if pool.workers != nil, case .steps? = recipes[pool.template] {
        // A template made by exec: made again the same way, so that changed code loads anew.
        guard let remade = remake(pool.template, for: name, client) else { return }
        abandonRemakes(of: name, except: remade, because: "a newer reload of pool \(pool.nameText) replaced it")
        pools[name]?.madeTemplates.insert(remade)
        effects.reply(client, .ok)
        // With loads to do, the pool moves to it once they have all succeeded.
        if remakes[remade] == nil { remakeConfirmed(remade, for: name) }
        return
      } else {
        template = pool.template
      }
    } else {
      guard let t = poolTemplate(from, pool.workers?.spec, client) else { return }
      template = t
    }
    abandonRemakes(of: name, because: "a newer reload of pool \(pool.nameText) replaced it")
    effects.reply(client, .ok)
    newGeneration(name, from: template)
  }

  /// The pool's workers come from `template` from now on: the old generation goes as the new
  /// one comes (idle workers now, busy ones when they say IDLE=1, so that no request is cut
  /// short, never more than max processes in all).
  mutating func newGeneration(_ name: [UInt8], from template: UInt64) {
    guard let pool = pools[name] else { return }
    let generation = pool.generation + 1
    pools[name]?.template = template
    pools[name]?.generation = generation
    poolEvent(name, "reload", ["\"generation\":\(generation)", "\"template\":\(template)"])
    for (id, m) in pool.members where m.generation < generation { stopMember(name, id, .reloaded, graceful: true) }
    converge(name)
  }

  /// Ends the templates pool `name` made for itself, but `keeping` (they exit on end of file).
  mutating func endMadeTemplates(_ name: [UInt8], keeping: UInt64? = nil) {
    guard let made = pools[name]?.madeTemplates else { return }
    for id in made where id != keeping {
      if registry[id]?.control == .open {
        controlClosed(id, because: "pool \(String(decoding: name, as: UTF8.self)) left it")
      }
    }
    pools[name]?.madeTemplates = keeping.map { made.contains($0) ? [$0] : [] } ?? []
  }

  private mutating func stopPool(_ name: [UInt8], graceful: Bool, _ client: ClientID) {
    guard let name = lookupPool(name, client), let pool = pools[name] else { return }
    var requesters = [client]
    if case .stopping(_, let earlier) = pool.phase { requesters = earlier + requesters }
    pools[name]?.phase = .stopping(graceful: graceful, requesters: requesters)
    pools[name]?.target = 0
    abandonRemakes(of: name, because: "pool \(pool.nameText) stopped")
    poolEvent(name, "stopping", ["\"graceful\":\(graceful)"])
    for id in pool.members.keys { stopMember(name, id, .stopped, graceful: graceful) }
    finishIfStopped(name)
  }

  private mutating func followPool(_ name: [UInt8], _ client: ClientID) {
    guard let name = lookupPool(name, client) else { return }
    pools[name]?.subscribers.append(client)
    effects.attach(client, nil, fds: [])
  }

  /// A stopping pool whose workers have all gone: its stop is answered and it is forgotten.
  mutating func finishIfStopped(_ name: [UInt8]) {
    guard let pool = pools[name], case .stopping(_, let requesters) = pool.phase, pool.members.isEmpty,
      let summary = poolSummary(name)
    else { return }
    poolEvent(name, "stopped", [])
    for client in requesters { effects.reply(client, .pools([summary])) }
    for client in pool.subscribers { effects.reply(client, .ok) }
    endMadeTemplates(name)
    pools[name] = nil
    if pools.isEmpty { poolMaintenanceAt = nil }
  }

  /// A connection went away: it no longer follows a pool's events or waits for a stop.
  mutating func poolClientGone(_ client: ClientID) {
    for name in pools.keys {
      pools[name]?.subscribers.removeAll { $0 == client }
      pools[name]?.missedEvents[client] = nil
      if case .stopping(let graceful, let requesters)? = pools[name]?.phase {
        pools[name]?.phase = .stopping(graceful: graceful, requesters: requesters.filter { $0 != client })
      }
    }
  }

  /// Writes one event of pool `name` to the connections that follow it, as a JSON line.
  mutating func poolEvent(_ name: [UInt8], _ event: String, _ fields: [String]) {
    guard let subscribers = pools[name]?.subscribers, !subscribers.isEmpty else { return }
    let head = ["\"event\":\"\(event)\"", "\"pool\":\(JSONText.quote(name))"]
    let line = Array(("{" + (head + fields).joined(separator: ",") + "}").utf8)
    for client in subscribers {
      if effects.clientBacklog(client) > Pool.eventBacklog {
        pools[name]?.missedEvents[client, default: 0] += 1
        continue
      }
      if let missed = pools[name]?.missedEvents.removeValue(forKey: client) {
        let note = "{" + ["\"event\":\"missed\"", head[1], "\"count\":\(missed)"].joined(separator: ",") + "}"
        effects.attach(client, .poolEvent(Array(note.utf8)), fds: [])
      }
      effects.attach(client, .poolEvent(line), fds: [])
    }
  }

  // MARK: What workers say

  /// The process of pool worker `id` is gone (reaped, or never born): its departure goes in
  /// the pool's history, and the pool replaces it if it keeps that many.
  /// `neverRan`: its zombie said it had not exec'd its program yet (an exec failure it
  /// reported may still be unread).
  mutating func poolMemberGone(_ id: UInt64, status: ExitStatus?, neverRan: Bool = false) {
    guard let name = poolOf.removeValue(forKey: id), let m = pools[name]?.members.removeValue(forKey: id) else {
      return
    }
    effects.closeNotify(id)
    let o = registry[id]
    var reason = m.state.reason ?? .died
    if reason == .died, case .failed? = o?.phase.run?.outcome { reason = .failedToStart }
    if reason == .died && neverRan { reason = .failedToStart }
    if reason == .died && !m.heardFrom && status == nil { reason = .failedToStart }
    let departure = PoolDeparture(id: id, pid: o?.phase.pid ?? 0, status: status, reason: reason)
    pools[name]?.history.append(departure)
    if let n = pools[name]?.history.count, n > Pool.historyLength {
      pools[name]?.history.removeFirst(n - Pool.historyLength)
    }
    var fields = ["\"id\":\(id)", "\"pid\":\(departure.pid)"] + JSONText.statusFields(status)
    fields.append("\"reason\":\"\(reason.word)\"")
    poolEvent(name, "exited", fields)
    let now = effects.now()
    switch reason {
    case .died, .failedToStart, .timedOut, .retired:
      if m.generation == pools[name]?.generation && pools[name]?.phase == .serving { pools[name]?.restarts += 1 }
    case .shrunk, .reloaded, .stopped:
      break
    }
    if (reason == .died || reason == .failedToStart) && !m.heardFrom && now - m.startedAt < Self.poolSecond {
      // A program that ends at once, again and again: wait before the next, doubling up to 30 s.
      let deaths = (pools[name]?.quickDeaths ?? 0) + 1
      pools[name]?.quickDeaths = deaths
      if deaths >= 3 { pools[name]?.startsAfter = now + min(Self.poolSecond << min(deaths - 3, 5), 30_000) }
    }
    finishIfStopped(name)
    if pools[name] != nil {
      retireOne(name)
      converge(name)
    }
  }
}
