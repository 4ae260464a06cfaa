// spawn: fork, descriptors, run and wait in one request; the connection stays attached to
// the program until its status, forwarding signals, and ends it if the connection goes.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  mutating func spawn(_ request: SpawnRequest, _ fds: [FileDescriptor], _ client: ClientID) {
    var s = request
    guard case .some(let attributes) = confined(s.attributes, for: client, "spawn") else { return closeAll(fds) }
    s.attributes = attributes
    let parent: UInt64
    if s.from.isEmpty {
      guard let t = ensureDefaultTemplate(client) else { return closeAll(fds) }
      parent = t
    } else {
      guard let id = lookup(s.from, client) else { return closeAll(fds) }
      parent = id
    }
    guard requireUnrun(parent, "spawn from", client), requireLibrary(parent, s.spec, client), acceptName(s.name, client)
    else { return closeAll(fds) }
    let sent = Array(fds.prefix(s.targets.count))
    if (registry[parent]?.holdings.fds ?? 0) + sent.count > limits.maxFDsPerProcess {
      closeAll(fds)
      effects.reply(
        client,
        .failure(
          .limitReached,
          "cannot spawn from \(describe(parent)): the process would hold more than "
            + "\(limits.maxFDsPerProcess) descriptors"))
      return
    }
    var spec = s.spec
    spec.waitForExit = true
    let run = Run(
      program: Run.kept(spec.program), keepsControl: spec.keepControl,
      outcome: .pending(client: client, waitForExit: true))
    let attachment = Attachment(
      client: client, onDisconnect: s.detach ? .detach : .terminate, wantsPIDFD: s.wantsPIDFD)
    // A ready pool's member, when one is ready and this spawn would fork: no fork on the
    // request path (ReadyPools.swift).
    if handOutReady(parent, s, run, attachment, fds, client) { return }
    // None was ready (or they were stale): refilled after this spawn's own fork.
    defer { refillReadyPools(of: parent) }
    if !s.spec.keepControl {
      return spawnDirectly(from: parent, s, run, attachment, fds, client)
    }
    // keepControl: the program keeps a control socket, so it must be a forked process
    // object, with a status pipe to tell its exec outcome.
    let statusPipe: (read: FileDescriptor, write: FileDescriptor)
    do {
      statusPipe = try effects.pipe()
    } catch {
      closeAll(fds)
      effects.reply(client, .failure(.internalError, "cannot create a pipe: \(Sys.describe(error))"))
      return
    }
    guard
      let id = forkChild(parent, name: s.name, origin: .spawn, client: client, run: run, keepsStatus: s.detach)
    else {
      closeAll(fds + [statusPipe.read, statusPipe.write])
      return
    }
    registry.update(id) { $0.status = .attached(attachment) }
    // The commands queue behind the fork on the child's control socket: one round trip.
    sendSpawnRun(id, s, fds, statusPipe: statusPipe)
  }

  /// Sends a forked spawn `id` the descriptors and the run of `s`. With a status pipe (a
  /// program that keeps its control socket), the pipe tells its exec outcome; without, the
  /// control socket's close-on-exec end of file does, as for `run`.
  mutating func sendSpawnRun(
    _ id: UInt64, _ s: SpawnRequest, _ fds: [FileDescriptor],
    statusPipe: (read: FileDescriptor, write: FileDescriptor)?
  ) {
    let sent = Array(fds.prefix(s.targets.count))
    var rest = Array(fds.dropFirst(s.targets.count))
    if !sent.isEmpty {
      registry.update(id) { $0.holdings.fds += sent.count }
      effects.send(id, .fds(targets: s.targets), fds: sent)
    }
    if let statusPipe {
      effects.watchStatusPipe(id, statusPipe.read)
      rest.append(statusPipe.write)
    }
    effects.send(id, .run(s.spec, statusPipe: statusPipe != nil, attributes: s.attributes), fds: rest)
  }

  /// The usual spawn: the template starts the program itself, as posix_spawn does, and
  /// answers with the pid and the exec outcome; the new process never runs template code,
  /// so it needs no control socket. (A spawn with keepControl forks a process object.)
  private mutating func spawnDirectly(
    from parent: UInt64, _ s: SpawnRequest, _ run: Run, _ attachment: Attachment, _ fds: [FileDescriptor],
    _ client: ClientID
  ) {
    guard let id = reserveID(client, keepsStatus: s.detach) else { return closeAll(fds) }
    var o = child(id, of: parent, name: s.name, origin: .spawn, owner: clientUIDs[client], run: run, control: .none)
    o.holdings.fds += s.targets.count
    o.status = .attached(attachment)
    registry.insert(o)
    let fork = PendingFork(child: id, client: nil, sequence: registry.askFork())
    registry.update(parent) { $0.forks.append(fork) }
    expectReport(from: parent)
    effects.send(parent, .spawn(id: id, targets: s.targets, spec: s.spec, attributes: s.attributes), fds: fds)
  }

  /// A signal from an attached client, for its program.
  mutating func forwardSignal(_ signal: Int32, from client: ClientID) {
    guard
      let o = registry.objects.values.first(where: { $0.status.attachedClient == client }),
      let pid = o.phase.livePID
    else { return }
    signalProcessGroup(pid, signal)
  }

  /// Ends a spawned program whose client went away: SIGTERM now, SIGKILL after the grace.
  mutating func terminate(_ id: UInt64) {
    guard let o = registry[id] else { return }
    switch o.phase {
    case .starting(let run, let then):
      registry.update(id) { $0.phase = .starting(run: run, then: then.union(.terminate)) }
    case .ready(let pid), .running(let pid, _):
      signalProcessGroup(pid, Signal.terminate.rawValue)
      killDeadlines[pid] = effects.now() + limits.killGraceMilliseconds
    case .exited:
      break
    }
  }

  /// Sends SIGKILL to terminated programs whose grace has run out by `now`: to the whole
  /// group, also once its leader has exited, as members that ignore SIGTERM run on otherwise
  /// (issue 11 item 9).
  mutating func deadlinesPassed(now: Int64) {
    for (group, deadline) in killDeadlines where deadline <= now {
      killDeadlines[group] = nil
      effects.log(.notice, "process group \(group) outlived its grace after SIGTERM: sending SIGKILL")
      if registry.id(ofPID: group) != nil {
        // The leader still runs, perhaps before it has made its group.
        signalProcessGroup(group, Signal.kill.rawValue)
      } else {
        effects.signalRemainingGroup(group, Signal.kill.rawValue)
      }
    }
  }

  /// A new process has `pid`: no group with that id had a member left (a pid stays taken
  /// while its process group exists), so no SIGKILL is due to one any more.
  mutating func pidTaken(_ pid: Int32) { killDeadlines[pid] = nil }
}
