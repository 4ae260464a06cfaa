// memory and audit: what a process object's memory is now, and which files a worker maps that
// its parent did not when it forked (issue 12, seed 004). Both read /proc through the effects,
// on request only. A client sees only the process objects its user made, and the default
// template, which every client shares.
import ForkctlSys
import ForkctlWire

/// The files mapped that `audit` compares, kept per process object.
struct MappingSnapshots {
  /// Its parent's mapped files when it forked this one; nil for a template, or when they
  /// could not be read.
  var atFork: MappedFiles?
  /// Its own, read when it is first forked from and again at the next fork after each load
  /// (nil until then): a template maps new files only when it loads code.
  var own: MappedFiles?
}

extension Supervisor {

  mutating func memory(_ refs: [[UInt8]], _ client: ClientID) {
    var ids: [UInt64] = []
    if refs.isEmpty {
      let uid = clientUIDs[client]
      ids = registry.objects.values.filter { uid != nil && $0.owner == uid }.map(\.id).sorted()
    } else {
      for ref in refs {
        guard let id = lookup(ref, client), readable(id, "read the memory of", client) else { return }
        ids.append(id)
      }
    }
    // One reply carries them all: 47,126 entries fit in a frame (forkctl-protocol(7)).
    let room = (WireLimits.maxPayload - 4) / MemoryEntry.size
    if ids.count > room {
      let what = "cannot report the memory of \(ids.count) process objects in one reply: at most \(room); name them"
      effects.reply(client, .failure(.limitReached, what))
      return
    }
    let entries = ids.compactMap { registry[$0] }.map { o in
      MemoryEntry(id: o.id, parent: o.parent, pid: o.phase.pid ?? 0, reading: memoryReading(o.phase.livePID))
    }
    effects.reply(client, .memory(entries))
  }

  private mutating func memoryReading(_ pid: Int32?) -> MemoryEntry.Reading {
    // Not reaped, so the pid is still its own (the daemon is its parent or subreaper).
    guard let pid else { return .noProcess }
    do {
      return .measured(try effects.memoryFigures(pid))
    } catch {
      // Exited, and not reaped yet: a zombie has no memory.
      return error == .noSuchProcess ? .noProcess : .unreadable(errno: error.rawValue)
    }
  }

  mutating func audit(_ ref: [UInt8], _ client: ClientID) {
    guard let id = lookup(ref, client), readable(id, "audit", client), let o = registry[id] else { return }
    guard o.parent != 0 else {
      return refuseAudit(id, .wrongState, "it is a template, forked from no other process object", client)
    }
    guard let pid = o.phase.livePID else {
      return refuseAudit(id, .wrongState, o.phase.isExited ? "it has exited" : "it is still being forked", client)
    }
    guard let before = o.mappings.atFork else {
      return refuseAudit(id, .internalError, "its parent's mappings could not be read when it forked", client)
    }
    let now: MappedFiles
    do {
      now = try effects.mappedFiles(pid)
    } catch {
      let code: ErrorCode = error == .permissionDenied || error == .notPermitted ? .permissionDenied : .internalError
      return refuseAudit(id, code, "cannot read /proc/\(pid)/maps: \(Sys.describe(error))", client)
    }
    // A process that no longer maps the image it was forked with exec'd a program: every
    // mapping it has is the program's, so none says what it loaded after the fork.
    guard now.paths.contains(before.executable) else {
      let why =
        "it ran a program, which maps nothing of its template's; audit compares a process that did not exec "
        + "(a function worker, or one that has not run)"
      return refuseAudit(id, .wrongState, why, client)
    }
    // A host's worker lists what it imported after the fork itself; an unreadable list is none.
    let modules = o.host != nil ? (try? effects.importedModules(pid)) ?? [] : []
    effects.reply(
      client,
      .mappings(now.paths.subtracting(before.paths).sorted { $0.lexicographicallyPrecedes($1) }, modules: modules))
  }

  private mutating func refuseAudit(_ id: UInt64, _ code: ErrorCode, _ why: String, _ client: ClientID) {
    effects.reply(client, .failure(code, "cannot audit \(describe(id)): \(why)"))
  }

  /// Whether `client` may read `id`: its own user made it, or it is the default template;
  /// false after refusing.
  private mutating func readable(_ id: UInt64, _ action: String, _ client: ClientID) -> Bool {
    guard let o = registry[id] else { return false }
    if o.origin == .defaultTemplate || (o.owner != nil && o.owner == clientUIDs[client]) { return true }
    let owner = o.owner.map { "uid \($0)" } ?? "another user"
    effects.reply(client, .failure(.permissionDenied, "cannot \(action) \(describe(id)): it belongs to \(owner)"))
    return false
  }

  /// `id` mapped new files (it loaded code): its snapshot is read again at its next fork.
  /// `load` calls it after every library loaded.
  mutating func mappingsChanged(_ id: UInt64) {
    registry.update(id) { $0.mappings.own = nil }
  }

  /// `child` was just born of its parent: it starts with the files its parent maps now,
  /// read once per parent and again only after the parent loads code.
  mutating func mappingsInherited(_ child: UInt64) {
    guard let parent = registry[child]?.parent, let p = registry[parent], let pid = p.phase.livePID else { return }
    var snapshot = p.mappings.own
    if snapshot == nil {
      // Unreadable: audit says so for this child, and the next fork tries again.
      snapshot = try? effects.mappedFiles(pid)
      registry.update(parent) { $0.mappings.own = snapshot }
    }
    registry.update(child) { $0.mappings.atFork = snapshot }
  }
}
