// forget and prune: dropping exited process objects that nobody will wait for, so that the
// jobs of a fork loop that never waits do not pile up to the limits (issue 10, item 10).
import ForkctlWire

extension Supervisor {
  /// Drops the exited objects `refs` names, all or none: one that has not exited, or that a
  /// pending wait names, is refused before any is dropped.
  mutating func forget(_ refs: [[UInt8]], _ client: ClientID) {
    if refs.isEmpty {
      effects.reply(client, .failure(.badRequest, "forget needs at least one process object"))
      return
    }
    var ids: [UInt64] = []
    for ref in refs {
      guard let id = lookup(ref, client) else { return }
      ids.append(id)
    }
    var dropped: [StatusEntry] = []
    for id in ids {
      guard let o = registry[id] else { return }
      guard let status = o.phase.exitStatus else {
        effects.reply(client, .failure(.wrongState, "cannot forget \(describe(id)): it has not exited"))
        return
      }
      if isAwaited(id) {
        effects.reply(client, .failure(.wrongState, "cannot forget \(describe(id)): a wait for it is pending"))
        return
      }
      if !dropped.contains(where: { $0.id == id }) { dropped.append(StatusEntry(id: id, status: status)) }
    }
    drop(dropped)
    effects.reply(client, .statuses(dropped))
  }

  /// Drops every exited object of the client's user whose status nobody has been given yet.
  mutating func prune(_ client: ClientID) {
    let uid = clientUIDs[client]
    let dropped = registry.objects.values.sorted { $0.id < $1.id }.compactMap { o -> StatusEntry? in
      guard uid != nil, o.owner == uid, o.status == .anyWaiter, let status = o.phase.exitStatus, !isAwaited(o.id)
      else { return nil }
      return StatusEntry(id: o.id, status: status)
    }
    drop(dropped)
    effects.reply(client, .statuses(dropped))
  }

  /// A pending wait names `id`: dropping it would leave that wait unanswered for ever.
  func isAwaited(_ id: UInt64) -> Bool { waits.contains { $0.ids.contains(id) } }

  private mutating func drop(_ entries: [StatusEntry]) {
    for e in entries { discard(e.id) }
  }

  /// Removes `id` from the registry for good.
  mutating func discard(_ id: UInt64) {
    // A descendant of a keep-control program may still hold the socket: close our end now,
    // as no later controlClosed can find the object.
    if registry[id]?.control == .open { effects.closeControl(id) }
    registry.remove(id)
  }
}
