// The process objects by id, with the indexes kept beside them (pid, name, owner, phase), so
// that every lookup is one hash and every count is derived in one place: `update` is the
// only way an object changes, and it keeps the indexes true.
import ForkctlWire

struct Registry {
  private(set) var objects: [UInt64: ProcessObject] = [:]
  private var byPID: [Int32: UInt64] = [:]
  /// Every object with a name, live or exited, by name.
  private var byName: [[UInt8]: Set<UInt64>] = [:]
  /// Objects per owner, for maxProcessesPerUser.
  private(set) var owned: [UInt32: Int] = [:]
  /// Objects in `.starting`: forks in flight.
  private(set) var starting = 0
  /// Objects alive that never ran a program (templates included).
  private(set) var unrun = 0
  /// Exited objects whose status nobody has waited for yet, per owner and in all: what
  /// `new`, `fork` and the like leave behind when nobody waits.
  private(set) var unreported: [UInt32: Int] = [:]
  private(set) var unreportedTotal = 0
  private var nextID: UInt64 = 1
  var defaultTemplate: UInt64?
  /// Ids whose status has been reported, oldest first: the first to forget.
  var reported: [UInt64] = []
  /// Exits of children whose pid no fork report has named yet, kept while forks are in flight.
  private(set) var earlyExits: [Int32: EarlyExit] = [:]
  /// Forks (and spawns) asked of templates so far: a fork's sequence number.
  private var forksAsked: UInt64 = 0

  subscript(id: UInt64) -> ProcessObject? { objects[id] }

  var count: Int { objects.count }

  /// The id the next object gets.
  mutating func takeID() -> UInt64 {
    defer { nextID += 1 }
    return nextID
  }

  mutating func insert(_ object: ProcessObject) {
    objects[object.id] = object
    if let o = object.owner { owned[o, default: 0] += 1 }
    index(object.id, from: nil, to: object)
  }

  /// Forgets an object.
  mutating func remove(_ id: UInt64) {
    guard let object = objects.removeValue(forKey: id) else { return }
    if let o = object.owner {
      owned[o, default: 1] -= 1
      if owned[o] == 0 { owned[o] = nil }
    }
    index(id, from: object, to: nil)
    if let i = reported.lastIndex(of: id) { reported.remove(at: i) }
    if id == defaultTemplate { defaultTemplate = nil }
  }

  /// Changes object `id`, if it exists, keeping the indexes true (its name too: a ready
  /// pool's member is named when it is handed out).
  @discardableResult
  mutating func update<R>(_ id: UInt64, _ body: (inout ProcessObject) -> R) -> R? {
    guard var object = objects[id] else { return nil }
    let before = object
    let result = body(&object)
    objects[id] = object
    index(id, from: before, to: object)
    return result
  }

  /// The object whose live process has this pid.
  func id(ofPID pid: Int32) -> UInt64? { byPID[pid] }

  /// A decimal id, or the newest process object with that name.
  func resolve(_ ref: [UInt8]) -> UInt64? {
    // An empty name means "no name": it must not pick the newest unnamed process object.
    if ref.isEmpty { return nil }
    if ref.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
      guard let id = UInt64(String(decoding: ref, as: UTF8.self)), objects[id] != nil else { return nil }
      return id
    }
    if ref == Registry.defaultTemplateName { return defaultTemplate }
    return byName[ref]?.max()
  }

  /// A live (not exited) object has this name.
  func nameInUse(_ name: [UInt8]) -> Bool {
    byName[name]?.contains { objects[$0]?.phase.isExited == false } ?? false
  }

  /// The reserved name of the default template.
  static let defaultTemplateName = Array("default".utf8)

  /// The sequence number of a fork about to be asked of a template.
  mutating func askFork() -> UInt64 {
    forksAsked += 1
    return forksAsked
  }

  /// Keeps the exit of a child no fork report has named yet, while forks are in flight (it
  /// may be one of theirs); bounded. `ranProgram` is asked of its zombie, the last moment
  /// anything can tell.
  mutating func keepEarlyExit(pid: Int32, _ status: ExitStatus, ranProgram: @autoclosure () -> Bool, limit: Int) {
    guard starting > 0 && earlyExits.count < limit else { return }
    earlyExits[pid] = EarlyExit(status: status, ranProgram: ranProgram(), forksAsked: forksAsked)
  }

  /// The early exit of `pid`, taken out, if it can be the exit of the child of fork number
  /// `sequence`: a pid is free for a new process only once its last holder is reaped, so a
  /// status reaped before that fork was even asked belongs to an earlier process with the same
  /// pid (an orphan the subreaper inherited, once pids wrapped: issue 11 item 1).
  mutating func takeEarlyExit(pid: Int32, forkSequence sequence: UInt64) -> EarlyExit? {
    guard let exit = earlyExits.removeValue(forKey: pid), exit.forksAsked >= sequence else { return nil }
    return exit
  }

  /// Drops the early exits no fork in flight can claim: those reaped before the oldest of them
  /// was asked. An orphaned fork (its parent went before reporting it) is in flight until its
  /// child announces itself or its control socket ends: its child may be reaped first.
  mutating func dropStaleEarlyExits() {
    if earlyExits.isEmpty { return }
    let queued = objects.values.lazy.flatMap(\.forks).map(\.sequence).min() ?? UInt64.max
    let orphaned = objects.values.lazy.compactMap(\.orphanedFork?.fork.sequence).min() ?? UInt64.max
    let oldest = min(queued, orphaned)
    earlyExits = earlyExits.filter { $0.value.forksAsked >= oldest }
  }

  func hasEarlyExit(pid: Int32) -> Bool { earlyExits[pid] != nil }

  private mutating func index(_ id: UInt64, from oldObject: ProcessObject?, to newObject: ProcessObject?) {
    let oldName = oldObject?.name ?? []
    let newName = newObject?.name ?? []
    if oldName != newName {
      if !oldName.isEmpty {
        byName[oldName]?.remove(id)
        if byName[oldName]?.isEmpty == true { byName[oldName] = nil }
      }
      if !newName.isEmpty { byName[newName, default: []].insert(id) }
    }
    let old = oldObject?.phase
    let new = newObject?.phase
    let oldPID = old?.livePID
    let newPID = new?.livePID
    if oldPID != newPID {
      if let p = oldPID, byPID[p] == id { byPID[p] = nil }
      if let p = newPID { byPID[p] = id }
    }
    starting += Self.isStarting(new) - Self.isStarting(old)
    unrun += Self.isUnrunAndAlive(new) - Self.isUnrunAndAlive(old)
    let change = Self.isUnreported(newObject) - Self.isUnreported(oldObject)
    if change != 0 {
      unreportedTotal += change
      if let owner = newObject?.owner ?? oldObject?.owner {
        unreported[owner, default: 0] += change
        if unreported[owner] == 0 { unreported[owner] = nil }
      }
    }
    // Only forks in flight can claim an early exit.
    if starting == 0 { earlyExits.removeAll() }
  }

  private static func isStarting(_ phase: Phase?) -> Int {
    if case .starting = phase { return 1 }
    return 0
  }

  private static func isUnreported(_ object: ProcessObject?) -> Int {
    guard let object, object.phase.isExited, object.status == .anyWaiter else { return 0 }
    return 1
  }

  private static func isUnrunAndAlive(_ phase: Phase?) -> Int {
    if case .ready = phase { return 1 }
    return 0
  }
}

/// The exit of a child reaped before any fork report named its pid.
struct EarlyExit {
  var status: ExitStatus
  /// Whether it had exec'd a program when it was reaped (Effects.ranProgram): once a process
  /// is reaped, /proc can no longer tell, and a spawn's failed exec would pass for a program
  /// that ran and exited 127.
  var ranProgram: Bool
  /// The number of forks asked when it was reaped.
  var forksAsked: UInt64
}
