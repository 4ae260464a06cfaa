// Connections going away: what they waited for is forgotten, what they were attached to is
// detached (or ended), and a process object whose id they never read is abandoned.
import ForkctlWire

extension Supervisor {
  mutating func clientGone(_ client: ClientID, repliesUnread: Bool) {
    let who = describeClient(client)
    clientUIDs[client] = nil
    clientPIDs[client] = nil
    clientConfinement[client] = nil
    // The created reply was the last thing sent (a later request clears lastCreated), so it
    // is what went unread.
    if let id = lastCreated.removeValue(forKey: client), repliesUnread, let o = registry[id],
      case .ready = o.phase, o.forks.isEmpty
    {
      abandon(id)
    }
    waits.removeAll { $0.client == client }
    poolClientGone(client)
    for (id, o) in registry.objects {
      if let run = o.phase.run, case .pending(client, let waitForExit) = run.outcome {
        registry.update(id) { $0.phase.run?.outcome = .pending(client: nil, waitForExit: waitForExit) }
      }
      if case .attached(let a) = o.status, a.client == client {
        switch a.onDisconnect {
        case .terminate:
          if let pid = o.phase.livePID {
            effects.log(
              .notice,
              "\(who) went away: sending SIGTERM to \(describe(id)) (pid \(pid)), "
                + "SIGKILL in \(limits.killGraceMilliseconds) ms (kill-on-disconnect)")
          }
          terminate(id)
          // Its status was for that client alone.
          markReported(id)
        case .detach:
          registry.update(id) { $0.status = .anyWaiter }
        }
      }
      if o.forks.contains(where: { $0.client == client }) {
        registry.update(id) {
          for i in $0.forks.indices where $0.forks[i].client == client { $0.forks[i].client = nil }
        }
      }
    }
  }
}
