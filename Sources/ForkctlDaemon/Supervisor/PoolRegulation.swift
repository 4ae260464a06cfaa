// How a pool keeps its workers (forkctl(1), POOLS, the rules in order):
//   1. Each second, fewer idle workers than min-idle (a starting one counts idle) raise the
//      target by 1, then 2, 4 ... up to 32 a second while it lasts (Apache's ramp), never past
//      max; more idle than max-idle lower it by one (one worker stopped a second).
//   2. The pool starts workers while it has fewer than its target (and fewer than max
//      processes in all, those leaving included: a reload or a retirement replaces workers as
//      the old ones exit), and stops idle ones (busy ones at their next IDLE=1) while it has
//      more.
//   3. A worker over its request limit retires at its IDLE=1, one worker at a time.
//   4. A worker busy past the timeout without WATCHDOG=1 gets SIGQUIT, SIGKILL after the grace.
//   5. A worker that ends is replaced (rule 2); one that ends within a second of its start
//      without a word, three times running, delays the next start: 1 s, doubling up to 30 s.
// A worker is stopped with SIGTERM and, after the grace, SIGKILL (Spawn.swift's deadlines).
import ForkctlSys
import ForkctlWire

extension Supervisor {
  /// The regulation period (rule 1), in ms.
  static var poolSecond: Int64 { 1000 }

  /// Rule 2: starts or stops workers until the pool holds its target.
  mutating func converge(_ name: [UInt8]) {
    guard let pool = pools[name], pool.phase == .serving else { return }
    guard pool.workers != nil else { return refillReady(name) }
    let active = pool.active
    if active.count < pool.target && effects.now() >= pool.startsAfter {
      let room = Int(pool.sizes.max) - pool.processes
      for _ in 0..<max(0, min(pool.target - active.count, room)) {
        guard startWorker(name) else { break }
      }
    } else if active.count > pool.target {
      // Idle ones first, the newest first (the oldest have warmed caches); busy ones at their
      // next IDLE=1.
      let order = active.sorted { a, b in
        a.member.state.countsIdle != b.member.state.countsIdle ? a.member.state.countsIdle : a.id > b.id
      }
      for (id, _) in order.prefix(active.count - pool.target) { stopMember(name, id, .shrunk, graceful: true) }
    }
  }

  /// Forks one worker of the current generation; false when it cannot (and the pool's
  /// followers are told why).
  @discardableResult
  mutating func startWorker(_ name: [UInt8]) -> Bool {
    guard let pool = pools[name], let workers = pool.workers else { return false }
    let template = pool.template
    guard let t = registry[template], t.phase.isUnrun, t.control == .open, t.phase.livePID != nil else {
      poolError(name, "\(describe(template)) cannot fork")
      return false
    }
    guard let id = reserveWorkerID(pool.owner) else {
      poolError(name, "the process object limit is reached")
      return false
    }
    let control: (FileDescriptor, FileDescriptor)
    let notify: (FileDescriptor, FileDescriptor)
    do throws(Errno) {
      control = try effects.socketPair()
      do throws(Errno) {
        notify = try effects.datagramPair()
      } catch {
        effects.close(control.0)
        effects.close(control.1)
        throw error
      }
    } catch {
      poolError(name, "cannot start a worker: \(Sys.describe(error))")
      return false
    }
    var notifyAddress: [UInt8]?
    if workers.notifySocket {
      do throws(Errno) {
        notifyAddress = try effects.openNotifySocket(id)
      } catch {
        // Only the worker's descriptor then: told to its followers, not fatal.
        poolError(name, "no NOTIFY_SOCKET for worker \(id): \(Sys.describe(error))")
      }
    }
    var spec = workers.spec
    spec.environment = Self.workerEnvironment(
      spec.environment ?? [], workers.notifyFD, pool.name, id, notifySocket: notifyAddress)
    let run = Run(
      program: Run.kept(spec.program), keepsControl: false, outcome: .pending(client: nil, waitForExit: false))
    var o = child(id, of: template, name: [], origin: .fork, owner: pool.owner, run: run, control: .open)
    o.status = .detached
    o.holdings.fds += 1
    askFork(of: template, o, control: control, client: nil)
    // Queued behind the fork on the worker's own control socket: one round trip.
    effects.send(id, .fds(targets: [workers.notifyFD]), fds: [notify.1])
    effects.send(id, .run(spec, statusPipe: false, attributes: nil), fds: [])
    effects.watchNotify(id, notify.0)
    let now = effects.now()
    // Saturating: both come from the wire, and a limit past UInt32.max means never.
    let (sum, over) = workers.maxRequests.addingReportingOverflow(jitter(id, workers.jitter))
    let limit = workers.maxRequests == 0 ? nil : (over ? UInt32.max : sum)
    pools[name]?.members[id] = PoolMember(
      state: .starting, generation: pool.generation, requestLimit: limit, startedAt: now)
    poolOf[id] = name
    pools[name]?.lastError = nil
    return true
  }

  /// A pool worker's fork happened: its followers learn its pid.
  mutating func poolMemberBorn(_ id: UInt64, pid: Int32) {
    guard let name = poolOf[id], let generation = pools[name]?.members[id]?.generation else { return }
    poolEvent(name, "started", ["\"id\":\(id)", "\"pid\":\(pid)", "\"generation\":\(generation)"])
  }

  /// Tells the pool's followers what keeps it from starting a worker, once until one starts.
  mutating func poolError(_ name: [UInt8], _ message: String) {
    guard pools[name]?.lastError != message else { return }
    pools[name]?.lastError = message
    poolEvent(name, "error", ["\"message\":\(JSONText.quote(Array(message.utf8)))"])
  }

  /// The environment of a worker: the pool's, with FORKCTL_NOTIFY_FD, FORKCTL_POOL,
  /// FORKCTL_WORKER and, when it has one, NOTIFY_SOCKET in place of any the caller had.
  static func workerEnvironment(
    _ base: [[UInt8]], _ fd: Int32, _ pool: [UInt8], _ id: UInt64, notifySocket: [UInt8]? = nil
  ) -> [[UInt8]] {
    var ours = [
      Array("FORKCTL_NOTIFY_FD=\(fd)".utf8), Array("FORKCTL_POOL=".utf8) + pool, Array("FORKCTL_WORKER=\(id)".utf8),
    ]
    if let notifySocket { ours.append(Array("NOTIFY_SOCKET=".utf8) + notifySocket) }
    let keys = ours.map { Array($0.prefix { $0 != UInt8(ascii: "=") } + [UInt8(ascii: "=")]) }
    return base.filter { entry in !keys.contains { entry.starts(with: $0) } } + ours
  }

  /// 0 to `jitter`, different for each worker and the same for a worker on every run of the
  /// daemon's tests (SplitMix64 of its id).
  func jitter(_ id: UInt64, _ jitter: UInt32) -> UInt32 {
    guard jitter > 0 else { return 0 }
    var z = id &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(UInt32(bitPattern: daemonPID))
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return UInt32(z % (UInt64(jitter) + 1))
  }

  /// Sends worker `id` away `because`: an idle (or starting) one gets SIGTERM now; a busy one
  /// too unless `graceful`, which waits for its IDLE=1.
  mutating func stopMember(_ name: [UInt8], _ id: UInt64, _ because: PoolDeparture.Reason, graceful: Bool) {
    guard let m = pools[name]?.members[id] else { return }
    switch m.state {
    case .busy(let since) where graceful:
      pools[name]?.members[id]?.state = .finishing(because: because, since: since)
    case .finishing where graceful, .stopping:
      break
    case .starting, .idle, .busy, .finishing, .leaving:
      pools[name]?.members[id]?.state = .stopping(because: because)
      terminate(id)
    }
  }

  /// Rule 3: one idle worker over its request limit retires, unless another is retiring.
  mutating func retireOne(_ name: [UInt8]) {
    guard let pool = pools[name], pool.phase == .serving,
      !pool.members.values.contains(where: { $0.state.reason == .retired }),
      let (id, _) = pool.members.first(where: { $0.value.state == .idle && $0.value.spent })
    else { return }
    stopMember(name, id, .retired, graceful: true)
    converge(name)
  }

  /// Rules 1 and 4, and delayed starts (rule 5), as the clock reaches `now`.
  mutating func poolsDue(now: Int64) {
    if let due = poolMaintenanceAt, due <= now {
      poolMaintenanceAt = pools.isEmpty ? nil : now + Self.poolSecond
      for name in pools.keys { regulate(name) }
    }
    for (name, pool) in pools {
      guard let timeout = pool.workers?.timeoutMilliseconds, timeout > 0 else { continue }
      for (id, m) in pool.members {
        guard let since = m.state.busySince, since + Int64(timeout) <= now, let pid = registry[id]?.phase.livePID
        else { continue }
        // SIGQUIT first, so that it can say where it hung; SIGKILL after the grace.
        pools[name]?.members[id]?.state = .stopping(because: .timedOut)
        try? signalProcess(pid, Signal.quit.rawValue)
        killDeadlines[pid] = now + limits.killGraceMilliseconds
        poolEvent(name, "timeout", ["\"id\":\(id)", "\"pid\":\(pid)"])
        effects.log(
          .notice,
          "pool \(pool.nameText): worker \(describe(id)) (pid \(pid)) was busy past its timeout of \(timeout) ms: "
            + "sent SIGQUIT, SIGKILL in \(limits.killGraceMilliseconds) ms")
      }
      if pool.startsAfter > 0 && pool.startsAfter <= now {
        pools[name]?.startsAfter = 0
        converge(name)
      }
    }
  }

  /// Rule 1 for one pool, then rules 2 and 3.
  private mutating func regulate(_ name: [UInt8]) {
    guard var pool = pools[name], pool.phase == .serving, pool.workers != nil else { return }
    let idle = pool.idleCount
    let before = pool.target
    if idle < Int(pool.sizes.minIdle) && pool.target < Int(pool.sizes.max) {
      pool.target += min(pool.ramp, Int(pool.sizes.max) - pool.target)
      pool.ramp = min(pool.ramp * 2, Pool.rampLimit)
    } else {
      pool.ramp = 1
      if idle > Int(pool.sizes.maxIdle) && pool.target > 0 { pool.target -= 1 }
    }
    pools[name] = pool
    if pool.target != before { poolEvent(name, "size", ["\"target\":\(pool.target)", "\"idle\":\(idle)"]) }
    retireOne(name)
    converge(name)
  }

  /// When a pool next needs the clock: its maintenance second, a busy worker's timeout, or
  /// a delayed start.
  var nextPoolDeadline: Int64? {
    var next = poolMaintenanceAt
    func consider(_ t: Int64) { next = min(next ?? t, t) }
    for pool in pools.values {
      if pool.startsAfter > 0 { consider(pool.startsAfter) }
      guard let timeout = pool.workers?.timeoutMilliseconds, timeout > 0 else { continue }
      for m in pool.members.values { if let since = m.state.busySince { consider(since + Int64(timeout)) } }
    }
    return next
  }

  /// The daemon stops: every pool's workers get SIGTERM (nobody is left to regulate them).
  mutating func stopPoolsNow() {
    for (name, pool) in pools {
      for id in pool.members.keys {
        if let pid = registry[id]?.phase.livePID { try? signalProcess(pid, Signal.terminate.rawValue) }
        effects.closeNotify(id)
        poolOf[id] = nil
      }
      for client in pool.subscribers { effects.reply(client, .failure(.shuttingDown, "the daemon is shutting down")) }
      if case .stopping(_, let requesters) = pool.phase {
        for client in requesters { effects.reply(client, .failure(.shuttingDown, "the daemon is shutting down")) }
      }
      pools[name] = nil
    }
    poolMaintenanceAt = nil
  }
}
