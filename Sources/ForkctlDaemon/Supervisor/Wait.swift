// wait and kill; exit statuses as children are reaped and as waits report them; and when a
// process object is forgotten.
import ForkctlSys
import ForkctlWire

/// A `wait` that has not been answered yet.
struct PendingWait {
  var client: ClientID
  var ids: [UInt64]
}

extension Supervisor {
  mutating func wait(_ refs: [[UInt8]], _ client: ClientID) {
    var ids: [UInt64] = []
    for ref in refs {
      guard let id = lookup(ref, client) else { return }
      ids.append(id)
    }
    if ids.isEmpty {
      effects.reply(client, .failure(.badRequest, "wait needs at least one process object"))
      return
    }
    waits.append(PendingWait(client: client, ids: ids))
    answerWaits()
  }

  /// Waits for every process object of the client's user that has run a program and whose
  /// status nobody has been given: chosen here, in one step, so that none that exits
  /// meanwhile is missed (a client-side list then wait would race with its exit and a
  /// concurrent wait).
  mutating func waitAll(_ client: ClientID) {
    let uid = clientUIDs[client]
    let ids = registry.objects.values.filter { o in
      guard uid != nil, o.owner == uid, o.status == .anyWaiter else { return false }
      switch o.phase {
      case .running, .exited: return true
      case .starting, .ready: return false
      }
    }.map(\.id).sorted()
    waits.append(PendingWait(client: client, ids: ids))
    answerWaits()
  }

  mutating func kill(_ signal: Int32, _ refs: [[UInt8]], group: Bool = false, _ client: ClientID) {
    var pids: [Int32] = []
    for ref in refs {
      guard let id = lookup(ref, client), let o = registry[id] else { return }
      switch o.phase {
      case .exited:
        effects.reply(client, .failure(.wrongState, "cannot signal \(describe(id)): it has exited"))
        return
      case .starting:
        effects.reply(client, .failure(.wrongState, "cannot signal \(describe(id)): it is still being forked"))
        return
      case .ready(let pid), .running(let pid, _):
        pids.append(pid)
      }
    }
    for pid in pids {
      do throws(Errno) {
        // signalGroup reports no error, so its signal is checked here as kill(2) would.
        if group && !(0...64).contains(signal) { throw Errno.invalidArgument }
        if group { signalProcessGroup(pid, signal) } else { try signalProcess(pid, signal) }
      } catch {
        effects.reply(
          client, .failure(.badRequest, "cannot send signal \(signal) to pid \(pid): \(Sys.describe(error))"))
        return
      }
    }
    effects.reply(client, .ok)
  }

  func listing() -> [ProcessEntry] {
    registry.objects.values.sorted { $0.id < $1.id }.map { o in
      let role = o.origin == .template ? o.host.map(ProcessEntry.Role.host) ?? .template : o.origin.role
      return ProcessEntry(
        id: o.id, name: o.origin == .defaultTemplate ? Self.defaultTemplateName : o.name, role: role,
        parent: o.parent, pid: o.phase.pid ?? 0, state: o.phase.listed, status: o.phase.exitStatus,
        fdsSent: UInt32(o.holdings.fds), argumentsSent: UInt32(o.holdings.arguments),
        program: o.phase.run?.program ?? [])
    }
  }

  /// A child was reaped.
  mutating func childExited(pid: Int32, status: ExitStatus) {
    guard let id = registry.id(ofPID: pid) else {
      // Not known yet (its fork report is still on the way) or an orphan that the
      // subreaper inherited. Only the first kind matters, and only while forks are in flight.
      registry.keepEarlyExit(pid: pid, status, ranProgram: effects.ranProgram(pid), limit: limits.maxEarlyExits)
      return
    }
    // An exec outcome that hangs on an end of file not read yet: the zombie (reaped after
    // this) still says whether it ran its program.
    let ran = registry[id]?.phase.awaitsExec == true && effects.ranProgram(pid)
    processExited(id, pid: pid, status, ranProgram: ran)
  }

  /// The process of `id` ended with `status`. `ranProgram`: its zombie said it had exec'd, so
  /// a pending exec outcome is that it started; if not, the end of file decides, after any
  /// exec failure the process reported before it.
  mutating func processExited(_ id: UInt64, pid: Int32, _ status: ExitStatus, ranProgram: Bool) {
    guard let o = registry[id] else { return }
    if o.origin == .template || o.origin == .defaultTemplate, o.phase.run == nil {
      // Templates end when the daemon stops; while it serves, one that ends has died.
      effects.log(
        daemonPhase == .serving ? .warning : .debug,
        "\(describe(id)), a template (pid \(pid)), \(Self.describe(status))")
    }
    let ran = ranProgram && o.phase.awaitsExec
    // Its zombie said it never ran its program, before any exec failure it reported was read.
    let neverRan = o.phase.awaitsExec && !ranProgram
    registry.update(id) { $0.phase = .exited(pid: pid, status, run: o.phase.run) }
    // Before programStarted, which forgets a detached worker whose outcome it settles: the
    // pool's history needs its pid.
    poolMemberGone(id, status: status, neverRan: neverRan)
    if ran { programStarted(id) }
    // Its group's SIGKILL stays due while a member remains besides it, a zombie until it is
    // reaped after this (issue 11 item 9).
    if killDeadlines[pid] != nil && !effects.groupHasOtherMembers(pid) { killDeadlines[pid] = nil }
    if id == registry.defaultTemplate { registry.defaultTemplate = nil }
    if recipes[id] != nil { dropRecipe(id) }
    hostEndedStarting(id, status)
    answerWaits()
    forgetIfSpent(id)
  }

  /// How a process ended, for the log: "exited with status 3", "was killed by SIGKILL".
  static func describe(_ status: ExitStatus) -> String {
    switch status {
    case .exited(let code): "exited with status \(code)"
    case .signaled(let sig, let core):
      "was killed by \(Signal(rawValue: sig).description)\(core ? " (core dumped)" : "")"
    }
  }

  mutating func answerWaits() {
    var i = 0
    while i < waits.count {
      let w = waits[i]
      let statuses = w.ids.compactMap { id in registry[id]?.phase.exitStatus.map { (id: id, status: $0) } }
      guard statuses.count == w.ids.count else {
        i += 1
        continue
      }
      waits.remove(at: i)
      effects.reply(w.client, .statuses(statuses))
      for id in w.ids {
        // Another connection attached to it gets the status from its own wait.
        if let attached = registry[id]?.status.attachedClient, attached != w.client { continue }
        setReported(id)
      }
      for id in w.ids { forgetIfSpent(id) }
      dropReported(keeping: limits.retainedAfterWait)
    }
  }

  /// Nobody is owed `id`'s status any more (it went to its client, or its client left).
  mutating func markReported(_ id: UInt64) {
    setReported(id)
    forgetIfSpent(id)
    dropReported(keeping: limits.retainedAfterWait)
  }

  private mutating func setReported(_ id: UInt64) {
    guard let o = registry[id] else { return }
    switch o.status {
    case .anyWaiter, .attached:
      registry.update(id) { $0.status = .reported }
      registry.reported.append(id)
    case .reported, .abandoned, .detached:
      break
    }
  }

  /// Kills a new process whose client left before learning its id; it is forgotten once
  /// it has been reaped.
  mutating func abandon(_ id: UInt64) {
    guard let o = registry[id] else { return }
    switch o.phase {
    case .starting:
      return
    case .ready(let pid), .running(let pid, _):
      registry.update(id) { $0.status = .abandoned }
      // It may have exited since: its reaping then forgets it all the same.
      try? signalProcess(pid, Signal.kill.rawValue)
    case .exited:
      // Reaped already: its pid may name another process by now.
      registry.update(id) { $0.status = .abandoned }
    }
    forgetIfSpent(id)
  }

  /// An unnamed spawn whose status has gone to its client (or to nobody, as the client
  /// left), or an abandoned process: nothing can refer to it any more, so `list` does not
  /// fill up with them and they do not count against the limits.
  mutating func forgetIfSpent(_ id: UInt64) {
    guard let o = registry[id], o.phase.isExited, !isAwaited(id) else { return }
    switch o.status {
    case .abandoned:
      break
    case .detached:
      // Its run's reply still hangs on the exec outcome, which may come after the reaping.
      if case .pending? = o.phase.run?.outcome { return }
    case .reported where o.origin == .spawn && o.name.isEmpty:
      break
    default:
      return
    }
    discard(id)
  }

  /// Forgets the oldest exited objects that a wait has already reported, down to `keeping`.
  mutating func dropReported(keeping: Int) {
    var i = 0
    while registry.reported.count > keeping && i < registry.reported.count {
      let id = registry.reported[i]
      // Still running (a spawn whose client went away): kept until it has exited.
      if isAwaited(id) || registry[id]?.phase.isExited == false {
        i += 1
        continue
      }
      registry.reported.remove(at: i)
      discard(id)
    }
  }
}
