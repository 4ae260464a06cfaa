// Making process objects: new, exec and fork; the reports that say a fork happened (or did
// not); and what is discarded when a parent dies with forks in flight.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  /// A new id, or nil after replying which limit is reached. Reported exited objects make
  /// room first. Exited objects whose status nobody has waited for are kept for a wait, and
  /// take room only from what leaves a status behind (`keepsStatus`: new, fork, exec, a
  /// detached spawn), not from a spawn whose status goes to its client.
  mutating func reserveID(_ client: ClientID, keepsStatus: Bool = true) -> UInt64? {
    let uid = clientUIDs[client]
    if userFull(uid, keepsStatus) || allFull(keepsStatus) { dropReported(keeping: 0) }
    if let uid, userFull(uid, keepsStatus) {
      let what = "too many process objects for uid \(uid) (\(limits.maxProcessesPerUser))"
      effects.log(.warning, "refused a process object to \(describeClient(client)): \(what)")
      refuseForLimit(client, what, registry.unreported[uid, default: 0])
      return nil
    }
    if allFull(keepsStatus) {
      effects.log(
        .warning,
        "refused a process object to \(describeClient(client)): too many process objects (\(limits.maxProcesses))")
      refuseForLimit(client, "too many process objects (\(limits.maxProcesses))", registry.unreportedTotal)
      return nil
    }
    return registry.takeID()
  }

  /// A new id for a worker a pool starts for `owner`, or nil when a limit is reached.
  mutating func reserveWorkerID(_ owner: UInt32?) -> UInt64? {
    if userFull(owner, true) || allFull(true) { dropReported(keeping: 0) }
    if userFull(owner, true) || allFull(true) { return nil }
    return registry.takeID()
  }

  private func userFull(_ uid: UInt32?, _ keepsStatus: Bool) -> Bool {
    guard let uid else { return false }
    let unreported = keepsStatus ? 0 : registry.unreported[uid, default: 0]
    return registry.owned[uid, default: 0] - unreported >= limits.maxProcessesPerUser
  }

  private func allFull(_ keepsStatus: Bool) -> Bool {
    registry.count - (keepsStatus ? 0 : registry.unreportedTotal) >= limits.maxProcesses
  }

  private mutating func refuseForLimit(_ client: ClientID, _ what: String, _ unreported: Int) {
    let advice =
      unreported > 0
      ? "\(unreported) of them exited and were never waited for: wait for them (their ids are in forkctl list) "
        + "or drop them (forkctl prune), or kill some; a spawn that is not detached is still served"
      : "wait for exited ones or kill some"
    effects.reply(client, .failure(.limitReached, "\(what); \(advice)"))
  }

  /// Checks a requested name; replies and returns false when it cannot be used.
  mutating func acceptName(_ name: [UInt8], _ client: ClientID) -> Bool {
    if name.isEmpty { return true }
    let printable = name.allSatisfy { $0 > 0x20 && $0 != 0x7f }
    let numeric = name.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    let text = String(decoding: name, as: UTF8.self)
    // A name beginning with `-` could not be told from an option where the CLI takes an ID.
    let dash = name.first == UInt8(ascii: "-")
    if name.count > limits.maxNameLength || !printable || numeric || dash || name == Self.defaultTemplateName {
      effects.reply(
        client,
        .failure(
          .badRequest,
          "invalid name \(text): names are 1 to \(limits.maxNameLength) bytes without spaces, "
            + "not beginning with '-', not all digits, and not \"default\""))
      return false
    }
    if registry.nameInUse(name) {
      effects.reply(client, .failure(.nameTaken, "name \(text) is already in use"))
      return false
    }
    return true
  }

  /// A socket pair for a new control socket, or nil after replying why not.
  private mutating func controlSocketPair(_ client: ClientID) -> (FileDescriptor, FileDescriptor)? {
    do {
      return try effects.socketPair()
    } catch {
      effects.reply(client, .failure(.templateFailed, "cannot create a control socket: \(Sys.describe(error))"))
      return nil
    }
  }

  mutating func startTemplate(
    name: [UInt8], origin: Origin, host: HostSpec? = nil, _ client: ClientID
  ) -> UInt64? {
    guard let id = reserveID(client), let ends = controlSocketPair(client) else { return nil }
    let pid: Int32
    if let host {
      guard let started = startHost(id: id, host, control: ends.1, client) else {
        effects.close(ends.0)
        return nil
      }
      pid = started
    } else {
      do {
        pid = try effects.startTemplate(id: id, role: origin.role, control: ends.1)
      } catch {
        effects.close(ends.0)
        effects.reply(client, .failure(.templateFailed, "cannot start a template: \(Sys.describe(error))"))
        return nil
      }
    }
    pidTaken(pid)
    var o = ProcessObject(
      id: id, name: name, origin: origin, parent: 0, owner: origin == .defaultTemplate ? nil : clientUIDs[client],
      phase: .ready(pid: pid), control: .open)
    o.host = host?.language
    registry.insert(o)
    effects.watchControl(id, ends.0)
    return id
  }

  mutating func ensureDefaultTemplate(_ client: ClientID) -> UInt64? {
    if let id = registry.defaultTemplate, let t = registry[id], t.phase.livePID != nil, t.control == .open {
      return id
    }
    let id = startTemplate(name: [], origin: .defaultTemplate, client)
    registry.defaultTemplate = id
    return id
  }

  mutating func exec(name: [UInt8], host: HostSpec?, client: ClientID) {
    guard acceptName(name, client) else { return }
    guard let id = startTemplate(name: name, origin: .template, host: host, client), let pid = registry[id]?.phase.pid
    else { return }
    recipeStarted(id, host: host)
    if let host { return awaitHostReady(id, host, client) }
    effects.reply(client, .created(id: id, pid: pid))
  }

  /// A process object that can still take commands: not run, not exited, control open.
  mutating func requireUnrun(_ id: UInt64, _ action: String, _ client: ClientID) -> Bool {
    guard let o = registry[id] else { return false }
    if o.phase.isUnrun && o.control == .open { return true }
    if !o.phase.isExited, let run = o.phase.run {
      let program = String(decoding: run.program, as: UTF8.self)
      effects.reply(
        client, .failure(.wrongState, "cannot \(action) \(describe(id)): it is already running \(program)"))
    } else {
      effects.reply(client, .failure(.wrongState, "cannot \(action) \(describe(id)): it has exited"))
    }
    return false
  }

  mutating func fork(_ parent: UInt64, name: [UInt8], client: ClientID) {
    guard requireUnrun(parent, "fork", client), acceptName(name, client) else { return }
    if handOutReady(parent, name: name, client: client) { return }
    _ = forkChild(parent, name: name, origin: .fork, client: client, run: nil)
    // After the request's own fork, which must not queue behind the refill's.
    refillReadyPools(of: parent)
  }

  /// Asks `parent` to fork a child with a control socket; the child's id, or nil after
  /// replying why not. A fork is answered to `client` when it happens; a spawn (`run`
  /// given) when its program runs.
  mutating func forkChild(
    _ parent: UInt64, name: [UInt8], origin: Origin, client: ClientID, run: Run?, keepsStatus: Bool = true
  ) -> UInt64? {
    guard let id = reserveID(client, keepsStatus: keepsStatus), let ends = controlSocketPair(client) else { return nil }
    let o = child(id, of: parent, name: name, origin: origin, owner: clientUIDs[client], run: run, control: .open)
    askFork(of: parent, o, control: ends, client: run == nil ? client : nil)
    return id
  }

  /// Records `child` and asks `parent` to fork it, handing it `control`'s second end; its
  /// report answers `client` (nil: nobody).
  mutating func askFork(
    of parent: UInt64, _ child: ProcessObject, control: (FileDescriptor, FileDescriptor), client: ClientID?
  ) {
    registry.insert(child)
    effects.watchControl(child.id, control.0)
    let fork = PendingFork(child: child.id, client: client, sequence: registry.askFork())
    registry.update(parent) { $0.forks.append(fork) }
    expectReport(from: parent)
    effects.send(parent, .fork(id: child.id), fds: [control.1])
  }

  /// A child of `parent`, which inherits what was sent to it.
  func child(
    _ id: UInt64, of parent: UInt64, name: [UInt8], origin: Origin, owner: UInt32?, run: Run?,
    control: ControlSocket
  ) -> ProcessObject {
    var o = ProcessObject(
      id: id, name: name, origin: origin, parent: parent, owner: owner,
      phase: .starting(run: run, then: []), control: control)
    o.holdings = registry[parent]?.holdings ?? Holdings()
    o.host = registry[parent]?.host
    return o
  }

  // MARK: Reports

  /// A report arrived on `id`'s control socket.
  mutating func handle(_ report: Report, from id: UInt64) {
    switch report {
    case .forked(let pid):
      guard let fork = takeFork(of: id) else { return }
      born(fork, pid: pid)
    case .spawning(let pid):
      // A new process's own pid, before it runs anything: a forked process object's on its
      // own control socket, or a spawn's new process's on its parent's. Its fork stays queued
      // for the parent's report, but the daemon knows whose status it reaps from now on.
      if let o = registry[id], case .starting = o.phase {
        guard let fork = o.orphanedFork?.fork ?? registry[o.parent]?.forks.first(where: { $0.child == id }) else {
          return
        }
        registry.update(id) { $0.orphanedFork = nil }
        born(fork, pid: pid)
        return
      }
      // Its own pid, announced after its parent's report was read: nothing to learn.
      if registry[id]?.phase.pid == pid { return }
      guard let fork = registry[id]?.forks.first, registry[fork.child]?.control == ControlSocket.none else { return }
      born(fork, pid: pid)
    case .spawned(let pid, let errno):
      guard let fork = takeFork(of: id) else { return }
      born(fork, pid: pid)
      if errno == 0 { programStarted(fork.child) } else { execFailed(fork.child, Errno(rawValue: errno)) }
    case .refused(let code, let message):
      guard let fork = takeFork(of: id) else { return }
      let reason = String(decoding: message, as: UTF8.self)
      discardUnborn(fork.child, because: reason, code: code)
      fail(fork.client, code, "cannot fork \(describe(id)): \(reason)")
    case .execFailed(let errno):
      execFailed(id, Errno(rawValue: errno))
    case .loaded(let threads):
      loadAnswered(id, .success(threads))
    case .loadRefused(let code, let message):
      loadAnswered(id, .failure(LoadRefusal(code: code, message: String(decoding: message, as: UTF8.self))))
    case .hostChild:
      preconditionFailure("the event loop hands a hostChild report on with its pidfd, as Event.hostChild")
    case .childEnded(let pid, let status):
      hostChildEnded(pid, status, from: id)
    case .hostReady:
      hostReadied(id)
    }
  }

  /// The oldest fork asked of `id`, taken out of its queue.
  private mutating func takeFork(of id: UInt64) -> PendingFork? {
    defer { reportArrived(from: id) }
    return registry.update(id) { $0.forks.isEmpty ? nil : $0.forks.removeFirst() } ?? nil
  }

  /// The fork of `fork.child` happened: it has a pid now.
  private mutating func born(_ fork: PendingFork, pid: Int32) {
    guard let child = registry[fork.child], case .starting(let run, let then) = child.phase else { return }
    // Taken before the phase changes: the table empties when no fork is in flight.
    var earlyExit = registry.takeEarlyExit(pid: pid, forkSequence: fork.sequence)
    // Reaped after the fork was asked but before the clone (pids wrapped within that window):
    // the pid is then the child's, alive, while the early exit was its predecessor's.
    if earlyExit != nil && isUnreapedChild(pid) { earlyExit = nil }
    registry.dropStaleEarlyExits()
    registry.update(fork.child) { $0.phase = run.map { .running(pid: pid, $0) } ?? .ready(pid: pid) }
    pidTaken(pid)
    mappingsInherited(fork.child)
    poolMemberBorn(fork.child, pid: pid)
    var unknownToAll = false
    if let client = fork.client {
      // A client that hung up before this was written never learns the id.
      if effects.reply(client, .created(id: fork.child, pid: pid)) {
        lastCreated[client] = fork.child
      } else {
        unknownToAll = true
      }
    } else if run == nil && !readyMemberBorn(fork.child) {
      // Its client left before learning of it (or it left its ready pool before it was
      // born): nobody can ever use it.
      unknownToAll = true
    }
    if let earlyExit { processExited(fork.child, pid: pid, earlyExit.status, ranProgram: earlyExit.ranProgram) }
    if unknownToAll { abandon(fork.child) }
    if then.contains(.terminate) { terminate(fork.child) }
    if then.contains(.execSucceeded) { execEnded(fork.child) }
  }

  /// Forgets a child whose fork failed, answering everyone who waits on it: what was asked of
  /// it before it was born (forks, spawns and a run queue on its control socket) fails with it.
  mutating func discardUnborn(_ child: UInt64, because reason: String, code: ErrorCode = .templateFailed) {
    guard let o = registry[child] else { return }
    if o.control == .open { effects.closeControl(child) }
    poolMemberGone(child, status: nil)
    if let run = o.phase.run, case .pending(let client, _) = run.outcome {
      let program = String(decoding: run.program, as: UTF8.self)
      // A spawn's only reply: its fork failed.
      let action = o.origin == .spawn ? "cannot spawn \(program)" : "cannot run \(program) in \(describe(child))"
      fail(client, code, "\(action): \(reason)")
    }
    // Forgotten before its own queued forks are: they name it as their parent's reason.
    let unbornReason = "\(describe(child)) was never born: \(reason)"
    registry.remove(child)
    for fork in o.forks {
      discardUnborn(fork.child, because: unbornReason)
      fail(fork.client, .templateFailed, "cannot fork process \(child): \(unbornReason)")
    }
    // A wait that names it would never be answered otherwise.
    for w in waits where w.ids.contains(child) {
      effects.reply(w.client, .failure(.templateFailed, "cannot wait for process \(child): its fork failed"))
    }
    waits.removeAll { $0.ids.contains(child) }
  }

  /// The child of `fork` will never exist: its parent died before forking it.
  private mutating func neverBorn(_ fork: PendingFork, because reason: String) {
    discardUnborn(fork.child, because: reason)
    fail(fork.client, .templateFailed, reason)
  }

  /// `id`'s control socket reached end of file or failed: the process exec'd (without
  /// keeping it), closed it, or died; or the daemon gave up on it, `because`.
  mutating func controlClosed(_ id: UInt64, because reason: String? = nil) {
    guard let o = registry[id], o.control == .open else { return }
    if let reason { effects.log(.info, "closing the control socket of \(describe(id)): \(reason)") }
    if case .starting = o.phase {
      // Never born: its own announcement would have come before this end of file. Its parent
      // died (then it is decided now), or refused the fork (its report says so).
      effects.closeControl(id)
      registry.update(id) { $0.control = .closed }
      if let orphaned = o.orphanedFork { neverBorn(orphaned.fork, because: orphaned.parentGone) }
      return
    }
    effects.closeControl(id)
    let (forks, loads) =
      registry.update(id) { o -> ([PendingFork], [PendingLoad]) in
        o.control = .closed
        defer {
          o.forks = []
          o.loads = []
        }
        return (o.forks, o.loads)
      } ?? ([], [])
    loadsLost(id, loads)
    // It takes no command now, so it is never remade: the duplicates its recipe keeps would
    // only hold what was sent to it open past the program it runs (a pipe's write end, say:
    // its reader would wait for an end of file while the program had closed its own).
    if recipes[id] != nil { dropRecipe(id) }
    let reason = reason ?? "\(describe(id)) died while forking"
    for fork in forks {
      guard let child = registry[fork.child] else { continue }
      if child.phase.pid != nil {
        // Announced itself. A spawn's process shared this socket until it exec'd or died,
        // so this end of file says it did one or the other (issue 11 item 3).
        if child.control == .none { execEnded(fork.child) }
        continue
      }
      if child.control == .open && !effects.isControlAbandoned(fork.child) {
        // A forked child may have been born and may run a queued program: it says so on its
        // own control socket, whose end of file says instead that it never was (the parent's
        // copy, received or still in flight, goes with the parent).
        registry.update(fork.child) { $0.orphanedFork = OrphanedFork(fork: fork, parentGone: reason) }
        continue
      }
      neverBorn(fork, because: reason)
    }
    // The child may already have exited (a program that exits at once): the exec outcome
    // still hangs on this end of file, whatever the phase says by now.
    if let run = o.phase.run, case .pending = run.outcome, !run.keepsControl { execEnded(id) }
    if id == registry.defaultTemplate { registry.defaultTemplate = nil }
    // A template that exec'd or died forks no more: its ready pools' members are ended.
    emptyReadyPools(of: id)
  }

  /// Ends every process object that has not run (they exit on end of file) and leaves
  /// running programs alone.
  mutating func closeAllControls() {
    for (id, o) in registry.objects where o.control == .open {
      effects.closeControl(id)
      registry.update(id) { $0.control = .closed }
    }
  }
}
