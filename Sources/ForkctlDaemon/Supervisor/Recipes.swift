// How a template made by `exec` was made, kept so that `pool reload` can make a fresh one the
// same way (issue 13): the descriptors sent to it (the daemon keeps a duplicate of each), the
// strings, and the libraries it loaded (with the directory each was loaded from), in order.
// A reload then execs a new template and sends it the same, so that a library changed on disk
// is loaded anew; the pool's new generation is forked from it once every load has succeeded.
// A load that fails there ends it, and the pool stays on the template it has.
//
// The duplicates cost the daemon descriptors: at most `Recipe.descriptorLimit` in all; a
// template past it has its recipe dropped (`.lost`), and a reload forks from it as it is.
import ForkctlSys
import ForkctlWire

/// What was done to a template made by exec (a language host's with how it was started), or
/// why it can no longer be redone.
enum Recipe {
  case steps([RecipeStep], host: HostSpec?)
  case lost(String)

  /// Descriptors every recipe keeps, in all.
  static let descriptorLimit = 4096

  var descriptors: [FileDescriptor] {
    guard case .steps(let steps, _) = self else { return [] }
    return steps.flatMap(\.descriptors)
  }
}

/// One thing done to a template.
enum RecipeStep {
  case fds(targets: [FDTarget], copies: [FileDescriptor])
  case arguments([[UInt8]])
  /// A load that succeeded, with a duplicate of the directory it was loaded from.
  case load(LoadSpec, directory: FileDescriptor?)

  var descriptors: [FileDescriptor] {
    switch self {
    case .fds(_, let copies): copies
    case .arguments: []
    case .load(_, let directory): directory.map { [$0] } ?? []
    }
  }
}

extension Supervisor {
  /// Whether `id` is a template whose making is recorded.
  private func recorded(_ id: UInt64) -> Bool {
    if case .steps? = recipes[id] { return true }
    return false
  }

  /// Duplicates of `fds`, within the limit; nil (nothing kept) when one cannot be made.
  private mutating func copies(_ fds: [FileDescriptor]) -> [FileDescriptor]? {
    guard recipeDescriptors + fds.count <= Recipe.descriptorLimit else { return nil }
    var made: [FileDescriptor] = []
    for fd in fds {
      guard let copy = try? effects.duplicate(fd) else {
        closeAll(made)
        return nil
      }
      made.append(copy)
    }
    recipeDescriptors += made.count
    return made
  }

  private mutating func append(_ step: RecipeStep, to id: UInt64) {
    guard case .steps(var steps, let host)? = recipes[id] else { return }
    steps.append(step)
    recipes[id] = .steps(steps, host: host)
  }

  private mutating func lose(_ id: UInt64, _ why: String) {
    dropRecipe(id)
    recipes[id] = .lost(why)
  }

  /// A template made by exec starts with an empty recipe.
  mutating func recipeStarted(_ id: UInt64, host: HostSpec?) { recipes[id] = .steps([], host: host) }

  /// Code was run in `id` with eval: a reload cannot tell what it did, so it forks from `id`
  /// as it is.
  mutating func recordEval(_ id: UInt64) {
    guard recorded(id) else { return }
    lose(id, "it ran code with eval, which a reload does not repeat")
  }

  /// Descriptors are being sent to `id`.
  mutating func recordFDs(_ id: UInt64, _ targets: [FDTarget], _ fds: [FileDescriptor]) {
    guard recorded(id) else { return }
    guard let kept = copies(fds) else {
      return lose(id, "the daemon keeps at most \(Recipe.descriptorLimit) descriptors to remake templates")
    }
    append(.fds(targets: targets, copies: kept), to: id)
  }

  /// Strings are being sent to `id`.
  mutating func recordArguments(_ id: UInt64, _ list: [[UInt8]]) {
    guard recorded(id) else { return }
    append(.arguments(list), to: id)
  }

  /// A load is being sent to `id`; it joins the recipe once it succeeds (`recordLoadAnswered`).
  mutating func recordLoadAsked(_ id: UInt64, _ spec: LoadSpec, _ fds: [FileDescriptor]) {
    guard recorded(id) else { return }
    guard let kept = copies(fds) else {
      return lose(id, "the daemon keeps at most \(Recipe.descriptorLimit) descriptors to remake templates")
    }
    recipeLoads[id, default: []].append((spec, kept.first))
  }

  /// `id`'s oldest load was answered.
  mutating func recordLoadAnswered(_ id: UInt64, succeeded: Bool) {
    guard var queue = recipeLoads[id], !queue.isEmpty else { return }
    let (spec, directory) = queue.removeFirst()
    recipeLoads[id] = queue.isEmpty ? nil : queue
    if succeeded && recorded(id) {
      append(.load(spec, directory: directory), to: id)
    } else if let directory {
      effects.close(directory)
      recipeDescriptors -= 1
    }
  }

  /// `id` is gone: what its recipe kept is closed.
  mutating func dropRecipe(_ id: UInt64) {
    let kept =
      (recipes.removeValue(forKey: id)?.descriptors ?? []) + (recipeLoads.removeValue(forKey: id) ?? []).compactMap(\.1)
    closeAll(kept)
    recipeDescriptors -= kept.count
  }

  /// Execs a template and does to it what was done to `old`; its id, or nil after replying
  /// why not. Its loads are answered to nobody: one that fails puts `pool` back on `old`.
  mutating func remake(_ old: UInt64, for pool: [UInt8], _ client: ClientID) -> UInt64? {
    guard case .steps(let steps, let host)? = recipes[old] else { return nil }
    guard let id = startTemplate(name: [], origin: .template, host: host, client) else { return nil }
    // Nobody waits for it: forgotten once it exits, so that reloads do not fill the limits
    // with exited templates.
    registry.update(id) { $0.status = .detached }
    recipeStarted(id, host: host)
    for step in steps {
      switch step {
      case .fds(let targets, let kept):
        guard let sent = copies(kept) else {
          // Ended at once, with any load already asked of it.
          remakes[id] = nil
          controlClosed(id, because: "it could not be remade")
          effects.reply(client, .failure(.limitReached, "cannot remake \(describe(old)): too many descriptors kept"))
          return nil
        }
        recipeDescriptors -= sent.count
        recordFDs(id, targets, sent)
        registry.update(id) { $0.holdings.fds += sent.count }
        effects.send(id, .fds(targets: targets), fds: sent)
      case .arguments(let list):
        recordArguments(id, list)
        registry.update(id) {
          $0.holdings.arguments += list.count
          $0.holdings.argumentBytes += list.reduce(0) { $0 + $1.count }
        }
        effects.send(id, .arguments(list), fds: [])
      case .load(let spec, let directory):
        let sent = directory.flatMap { copies([$0]) } ?? []
        recipeDescriptors -= sent.count
        recordLoadAsked(id, spec, sent)
        registry.update(id) { $0.loads.append(PendingLoad(client: nil, path: spec.path)) }
        effects.send(id, .load(spec), fds: sent)
        remakes[id] = (pool: pool, old: old)
      }
    }
    return id
  }

  /// A remade template did all it was asked: the pool's new generation comes from it, and
  /// the templates the pool made before it end.
  mutating func remakeConfirmed(_ id: UInt64, for pool: [UInt8]) {
    remakes[id] = nil
    guard pools[pool]?.phase == .serving else { return endMadeTemplates(pool) }
    newGeneration(pool, from: id)
    endMadeTemplates(pool, keeping: id)
  }

  /// Ends the templates remade for pool `name` that are still loading, but `except`, telling
  /// nobody: a newer reload replaces them (the library they load may be older than the newer
  /// one's), or the pool stops. Left running, one would move the pool when it loaded, or end
  /// the newer one, or tell followers of a stopped pool that it failed.
  mutating func abandonRemakes(of name: [UInt8], except: UInt64? = nil, because reason: String) {
    for (id, remade) in remakes where remade.pool == name && id != except {
      remakes[id] = nil
      pools[name]?.madeTemplates.remove(id)
      controlClosed(id, because: reason)
    }
  }

  /// A load into a remade template failed, or it died loading: it is ended, the pool stays
  /// on the template it has (no worker was forked from the new one), and its followers are
  /// told why.
  mutating func remakeFailed(_ id: UInt64, _ why: String) {
    guard let (pool, old) = remakes.removeValue(forKey: id), pools[pool] != nil else { return }
    pools[pool]?.madeTemplates.remove(id)
    if registry[id]?.control == .open { controlClosed(id, because: "its reload failed") }
    poolError(pool, "reload failed, the pool stays on \(describe(old)): \(why)")
  }
}
