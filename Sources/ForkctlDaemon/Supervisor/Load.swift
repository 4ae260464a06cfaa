// load: a library loaded into a process object that has not run (a template), so that every
// worker forked from it afterwards shares its code and data; answered by the object's
// `loaded` or `loadRefused` report, in the order asked. A call needs a library loaded.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  mutating func load(_ ref: [UInt8], _ spec: LoadSpec, _ fds: [FileDescriptor], _ client: ClientID) {
    guard let id = lookup(ref, client), let o = registry[id] else { return closeAll(fds) }
    if o.origin == .defaultTemplate {
      closeAll(fds)
      effects.reply(
        client,
        .failure(
          .wrongState,
          "cannot load into the default template, which every client shares; start a template of your own with exec"))
      return
    }
    guard requireUnrun(id, "load into", client) else { return closeAll(fds) }
    registry.update(id) { $0.loads.append(PendingLoad(client: client, path: spec.path)) }
    recordLoadAsked(id, spec, fds)
    effects.send(id, .load(spec), fds: fds)
    // Its ready members would lack the library: ended now, refilled once the load is answered.
    emptyReadyPools(of: id)
  }

  /// `id` answered its oldest load: loaded, with the threads it has now, or refused.
  mutating func loadAnswered(_ id: UInt64, _ outcome: Result<ThreadCensus, LoadRefusal>) {
    guard let load = registry.update(id, { $0.loads.isEmpty ? nil : $0.loads.removeFirst() }) ?? nil else { return }
    // Forks asked while it was loading have their whole bound again (Deadlines.swift).
    reportArrived(from: id)
    if !load.isEval { recordLoadAnswered(id, succeeded: (try? outcome.get()) != nil) }
    let path = String(decoding: load.path, as: UTF8.self)
    switch outcome {
    case .success(let threads):
      if !load.isEval { registry.update(id) { $0.holdings.libraries.append(load.path) } }
      mappingsChanged(id)
      if let client = load.client { effects.reply(client, .loaded(threads)) }
      if let remade = remakes[id], registry[id]?.loads.isEmpty == true { remakeConfirmed(id, for: remade.pool) }
    case .failure(let refusal):
      fail(load.client, refusal.code, "\(loadAction(load, id)): \(refusal.message)")
      remakeFailed(id, "cannot load \(path): \(refusal.message)")
    }
    refillReadyPools(of: id)
  }

  /// `id`'s control socket closed with loads pending: it died loading (its init crashed, or
  /// it was killed).
  mutating func loadsLost(_ id: UInt64, _ loads: [PendingLoad]) {
    for load in loads {
      fail(load.client, .loadFailed, "\(loadAction(load, id)): it ended while loading (forkctl wait tells how)")
      if !load.isEval { recordLoadAnswered(id, succeeded: false) }
    }
    if !loads.isEmpty { remakeFailed(id, "it ended while loading") }
  }

  /// "cannot load PATH into PROCESS", or for an eval "cannot eval in PROCESS".
  private func loadAction(_ load: PendingLoad, _ id: UInt64) -> String {
    if load.isEval { return "cannot eval in \(describe(id))" }
    return "cannot load \(String(decoding: load.path, as: UTF8.self)) into \(describe(id))"
  }

  /// Refuses, saying why, a call in (or a spawn --call from) `id` when it loaded no library.
  mutating func requireLibrary(_ id: UInt64, _ spec: RunSpec, _ client: ClientID) -> Bool {
    // A language host imports the call's module itself.
    guard case .call = spec.entry, registry[id]?.host == nil, registry[id]?.holdings.libraries.isEmpty == true
    else { return true }
    let symbol = String(decoding: spec.program, as: UTF8.self)
    effects.reply(
      client,
      .failure(
        .wrongState, "cannot call \(symbol) in \(describe(id)): it has loaded no library (load one with forkctl load)"))
    return false
  }
}

/// Why a load failed, as the process object reported it.
struct LoadRefusal: Error {
  var code: ErrorCode
  var message: String
}
