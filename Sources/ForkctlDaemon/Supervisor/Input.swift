// send-fd and send-arg: what a process object holds before it runs, or what a running
// program that kept its control socket is handed.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  mutating func sendFDs(_ ref: [UInt8], _ targets: [FDTarget], _ fds: [FileDescriptor], _ client: ClientID) {
    guard let id = lookup(ref, client), let o = registry[id] else { return closeAll(fds) }
    guard acceptsInput(id, "send descriptors to", client) else { return closeAll(fds) }
    if counted(o).fds + fds.count > limits.maxFDsPerProcess {
      closeAll(fds)
      effects.reply(
        client,
        .failure(
          .limitReached,
          "cannot send descriptors to \(describe(id)): it would hold more than \(limits.maxFDsPerProcess)"))
      return
    }
    registry.update(id) { $0.holdings.fds += fds.count }
    recordFDs(id, targets, fds)
    effects.send(id, .fds(targets: targets), fds: fds)
    effects.reply(client, .ok)
  }

  mutating func sendArgs(_ ref: [UInt8], _ list: [[UInt8]], _ client: ClientID) {
    guard let id = lookup(ref, client), let o = registry[id], acceptsInput(id, "send strings to", client)
    else { return }
    let bytes = list.reduce(0) { $0 + $1.count }
    let held = counted(o)
    let refusal: (ErrorCode, String)? =
      if held.arguments + list.count > limits.maxArgumentsPerProcess {
        (.limitReached, "it would hold more than \(limits.maxArgumentsPerProcess) strings")
      } else if held.argumentBytes + bytes > limits.maxArgumentBytesPerProcess {
        (.limitReached, "it would hold more than \(limits.maxArgumentBytesPerProcess) bytes")
      } else if o.phase.run?.keepsControl != true, list.contains(where: { $0.contains(0) }) {
        (.badRequest, "an argument cannot hold a NUL byte")
      } else {
        nil
      }
    if let (code, reason) = refusal {
      effects.reply(client, .failure(code, "cannot send strings to \(describe(id)): \(reason)"))
      return
    }
    registry.update(id) {
      $0.holdings.argumentBytes += bytes
      $0.holdings.arguments += list.count
    }
    recordArguments(id, list)
    effects.send(id, .arguments(list), fds: [])
    effects.reply(client, .ok)
  }

  /// What counts against the per-object limits. An unrun process object holds every
  /// descriptor and string sent to it until it runs, and its forks inherit them, so all of
  /// it counts. What a program that kept its control socket was handed is its own (it may
  /// close it at once): only what is still queued to it counts, so that a long-lived worker
  /// can be fed for ever. (`holdings` keeps every count for `list`.)
  private func counted(_ o: ProcessObject) -> Holdings {
    guard case .running(_, let run) = o.phase, run.keepsControl else { return o.holdings }
    let queue = effects.queued(o.id)
    // Strings are bounded by their bytes there: each costs at least its 4-byte length.
    return Holdings(fds: queue.fds, arguments: 0, argumentBytes: queue.bytes)
  }

  /// Strings and descriptors go to a process object before run, or to a running program
  /// that kept its control socket.
  private mutating func acceptsInput(_ id: UInt64, _ action: String, _ client: ClientID) -> Bool {
    guard let o = registry[id] else { return false }
    if o.origin == .defaultTemplate {
      effects.reply(
        client, .failure(.wrongState, "cannot \(action) the default template; make your own with exec"))
      return false
    }
    if case .running(_, let run) = o.phase, run.keepsControl {
      if case .started = run.outcome, o.control == .open { return true }
      effects.reply(
        client,
        .failure(.wrongState, "cannot \(action) \(describe(id)): its program has closed the control socket"))
      return false
    }
    return requireUnrun(id, action, client)
  }
}
