// The daemon's own lifecycle: serving, draining (shutdown --wait: nothing new starts, the
// programs clients are attached to run to their end), stopping. A command already queued on
// a control socket when the stop comes is let finish and be reported, so that a client is
// never told "not started" of a program that runs (issue 11, item 5); the clients of
// programs that outlive the daemon are told so, with their own code.
import ForkctlSys
import ForkctlWire

/// Where the daemon stands in its own lifecycle, one named state (as a process object's
/// Phase is).
public enum DaemonPhase: Equatable, Sendable {
  case serving
  /// shutdown --wait: serves what starts nothing new, until no client is attached to a
  /// program.
  case draining
  /// Serves nothing new; the event loop finishes what is in flight, then stops.
  case stopping
}

extension Supervisor {
  /// The daemon is shutting down (draining or stopping).
  var shuttingDown: Bool { daemonPhase != .serving }

  /// Why `request` is refused in the daemon's phase; nil when it is served.
  func refusalWhileStopping(_ request: Request) -> String? {
    switch daemonPhase {
    case .serving:
      return nil
    case .draining:
      switch request {
      case .hello, .status, .list, .wait, .waitAll, .kill, .forget, .prune, .shutdown, .drain, .signal, .memory, .audit:
        return nil
      case .pool(.status), .pool(.stop), .pool(.events):
        return nil
      case .new, .exec, .fork, .sendFDs, .sendArgs, .run, .spawn, .load, .eval, .pool:
        return "the daemon is shutting down once the programs its clients wait for have ended "
          + "(shutdown --wait); it starts nothing new"
      }
    case .stopping:
      return "the daemon is shutting down"
    }
  }

  /// shutdown: stop now.
  mutating func stop(requestedBy client: ClientID?) {
    if let client { stopRequesters.append(client) }
    guard daemonPhase != .stopping else { return }
    effects.log(.notice, client.map { "shutdown requested by \(describeClient($0))" } ?? "drained: stopping")
    daemonPhase = .stopping
    effects.shutdown()
  }

  /// shutdown --wait: start nothing new, and stop once no client is attached to a program.
  mutating func drain(requestedBy client: ClientID) {
    stopRequesters.append(client)
    effects.log(.notice, "shutdown --wait requested by \(describeClient(client)): stopping once no client waits")
    daemonPhase = .draining
  }

  /// Stops a drain that has nothing left to wait for.
  mutating func stopIfDrained() {
    guard daemonPhase == .draining else { return }
    let waitedFor = registry.objects.values.contains { o in
      if o.status.attachedClient != nil { return true }
      // A run --wait whose exec outcome is still to come attaches its client then.
      if case .pending(client: .some, waitForExit: true)? = o.phase.run?.outcome { return true }
      return false
    }
    if !waitedFor { stop(requestedBy: nil) }
  }

  /// Commands sent to process objects whose outcome a client has not been told yet: forks
  /// and spawns not reported, runs whose exec is not known. The event loop lets them finish
  /// before it stops.
  public var inFlight: Int {
    registry.objects.values.reduce(0) { n, o in
      var pendingRun = 0
      if case .pending(client: .some, _)? = o.phase.run?.outcome, o.phase.pid != nil { pendingRun = 1 }
      return n + o.forks.count + pendingRun
    }
  }

  /// The event loop stops: gives up what is still in flight, tells every client that waits
  /// for a program (attached, or by wait) that it keeps running, and ends the process
  /// objects that never ran.
  mutating func stopNow() {
    daemonPhase = .stopping
    let running = registry.objects.values.filter { $0.phase.run != nil && $0.phase.livePID != nil }.count
    effects.log(
      .notice,
      "stopping: ending \(registry.unrun) process object\(registry.unrun == 1 ? "" : "s") that never ran "
        + "(templates included); \(running) running program\(running == 1 ? "" : "s") keep\(running == 1 ? "s" : "") "
        + "running")
    for (id, o) in registry.objects where !o.forks.isEmpty {
      // A template that did not answer in the event loop's grace: killed, so that nothing
      // queued on its control socket runs after its client was told it did not.
      if let pid = o.phase.livePID { try? signalProcess(pid, Signal.kill.rawValue) }
      controlClosed(id)
    }
    // An attached client waits through a wait of its own too: it is told once.
    var told: Set<ClientID> = []
    for o in registry.objects.values {
      guard let client = o.status.attachedClient, let pid = o.phase.livePID else { continue }
      told.insert(client)
      let program = String(decoding: o.phase.run?.program ?? [], as: UTF8.self)
      let message = "the daemon is shutting down; \(program) (pid \(pid)) keeps running, and its status is lost"
      effects.reply(client, .failure(.stillRunning, message))
    }
    for w in waits where !told.contains(w.client) {
      let running = w.ids.filter { registry[$0]?.phase.isExited == false }
      let names = running.map { id in "\(describe(id))\(registry[id]?.phase.pid.map { " (pid \($0))" } ?? "")" }
      let verb = running.count == 1 ? "keeps" : "keep"
      effects.reply(
        w.client,
        .failure(
          .stillRunning, "the daemon is shutting down; \(names.joined(separator: ", ")) \(verb) running, unwatched"))
    }
    waits.removeAll()
    stopPoolsNow()
    closeAllControls()
  }
}
