// The daemon's bookkeeping as a state machine: events in (a request, a report from a process
// object, a closed control socket, a reaped child), effects out through `SupervisorEffects`.
// It makes no system call itself, so it is unit-tested with a recording fake.
import ForkctlSys
import ForkctlWire

/// A connected client, numbered by the event loop.
public typealias ClientID = UInt64

/// What the supervisor asks of the world. The event loop does it for real; tests record it.
public protocol SupervisorEffects {
  /// Sends `reply` to `client`; false when it is known not to arrive (the client is gone:
  /// the write failed), true when it went out or is queued.
  @discardableResult
  mutating func reply(_ client: ClientID, _ reply: Reply) -> Bool
  /// Sends `command` to process object `id` over its control socket, with `fds`, which the
  /// effects then own and close once sent.
  mutating func send(_ id: UInt64, _ command: Command, fds: [FileDescriptor])
  /// Starts a template process holding `control` (consumed) on its control descriptor.
  mutating func startTemplate(id: UInt64, control: FileDescriptor) throws(Errno) -> Int32
  /// A new socket pair.
  mutating func socketPair() throws(Errno) -> (FileDescriptor, FileDescriptor)
  /// A new pipe.
  mutating func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor)
  /// Starts watching the daemon's end of process object `id`'s control socket.
  mutating func watchControl(_ id: UInt64, _ fd: FileDescriptor)
  /// Stops watching and closes `id`'s control socket; the process sees end of file.
  mutating func closeControl(_ id: UInt64)
  /// Starts watching the read end of `id`'s exec status pipe.
  mutating func watchStatusPipe(_ id: UInt64, _ fd: FileDescriptor)
  /// Closes a descriptor the supervisor no longer needs.
  mutating func close(_ fd: FileDescriptor)
  /// Sends a signal to a process.
  mutating func signal(_ pid: Int32, _ signal: Int32) throws(Errno)
  /// Sends a signal to the process group a worker leads (to the worker alone while it has
  /// not made its group yet), as a terminal does to its foreground job.
  mutating func signalGroup(_ pid: Int32, _ signal: Int32)
  /// Sends `reply` to `client` without ending its request (nil: nothing to send), with
  /// `fds` (consumed), and lets the client forward signals until the final reply.
  mutating func attach(_ client: ClientID, _ reply: Reply?, fds: [FileDescriptor])
  /// A pidfd for child `pid`, nil where the kernel has none (pidfd_open(2)).
  mutating func openPIDFD(_ pid: Int32) -> FileDescriptor?
  /// A monotonic clock, in milliseconds.
  mutating func now() -> Int64
  /// Stops the daemon after the pending replies are written.
  mutating func shutdown()
}

/// Limits of the daemon, each documented in forkctl(1).
public struct SupervisorLimits: Sendable {
  /// Process objects kept at once, live or exited and not yet waited for.
  public var maxProcesses = 4096
  /// Descriptors sent to one process object.
  public var maxFDsPerProcess = 256
  /// Bytes of strings sent to one process object.
  public var maxArgumentBytesPerProcess = 1 << 20
  /// Exited process objects kept after a wait has reported them, for repeated waits.
  public var retainedAfterWait = 1024
  /// Process objects kept at once for one user (by the uid of the connections that made
  /// them), live or exited and not yet waited for; the default template counts for nobody.
  public var maxProcessesPerUser = 1024
  /// Strings sent to one process object (empty ones cost no bytes, so they are counted).
  public var maxArgumentsPerProcess = 65536
  /// Longest process object name.
  public var maxNameLength = 64
  /// How long a spawned program whose client went away has between SIGTERM and SIGKILL.
  public var killGraceMilliseconds: Int64 = 3000

  public init() {}
}

/// One process object: a template, the default template, or a process forked from one.
struct ProcessRecord {
  var id: UInt64
  var name: [UInt8]
  var role: ProcessInfo.Role
  var parent: UInt64
  var pid: Int32 = 0
  var state: ProcessInfo.State = .starting
  var status: ExitStatus?
  var fdsSent = 0
  var argumentBytesSent = 0
  var argumentsSent = 0
  var program: [UInt8] = []
  /// The control socket is open (and watched by the event loop).
  var hasControl = false
  /// After run --keep-control the control socket stays open into the running program.
  var keepsControl = false
  /// Fork requests sent to this process, answered in order.
  var pendingForks: [(child: UInt64, client: ClientID?)] = []
  /// A run whose exec outcome is not known yet.
  var pendingRun: (client: ClientID?, spec: RunSpec)?
  /// A wait has reported this record's exit status.
  var waitedFor = false
  /// Made by spawn: the client learns of it only once its program runs.
  var spawned = false
  /// The connection that gets this process's status and may forward signals to it
  /// (spawn, run with waitForExit), until that final reply.
  var attached: ClientID?
  /// Spawned without detach: ended (SIGTERM, later SIGKILL) if `attached` goes away first.
  var tiedToClient = false
  /// Killed because its client left before learning its id: forgotten once reaped.
  var abandoned = false
  /// The user whose connection made it; nil for the default template.
  var owner: UInt32?
  /// Its spawning client went away before the fork report came: end it on arrival.
  var terminateWhenForked = false
  /// The spawn asked for a pidfd with its `created` reply.
  var wantsPIDFD = false
  /// A spawned child exec'd before its template's fork report came: `created` (which
  /// needs the pid) waits for the report.
  var ranBeforeForkReport = false
}

extension ProcessRecord {
  /// Made by spawn for `client`: its run is pending, its status goes to that connection.
  mutating func startSpawn(_ s: SpawnRequest, _ client: ClientID) {
    var spec = s.spec
    spec.waitForExit = true
    program = spec.program
    keepsControl = spec.keepControl
    pendingRun = (client, spec)
    spawned = true
    attached = client
    tiedToClient = !s.detach
    wantsPIDFD = s.wantsPIDFD
  }
}

/// A `wait` that has not been answered yet.
struct PendingWait {
  var client: ClientID
  var ids: [UInt64]
}

public struct Supervisor<Effects: SupervisorEffects> {
  public var effects: Effects
  public let limits: SupervisorLimits
  let daemonPID: Int32

  private(set) var records: [UInt64: ProcessRecord] = [:]
  private var pidToID: [Int32: UInt64] = [:]
  private var nextID: UInt64 = 1
  private(set) var defaultTemplate: UInt64?
  private var waits: [PendingWait] = []
  /// Exits of children whose pid no fork report has named yet (the child can exit before
  /// its template's report arrives). Bounded; only kept while a fork is in flight.
  private var earlyExits: [Int32: ExitStatus] = [:]
  private var forksInFlight = 0
  /// Ids of exited records already reported by a wait, oldest first.
  private var reported: [UInt64] = []
  private(set) var shuttingDown = false
  /// The process object whose `created` reply each connection got last.
  private var lastCreated: [ClientID: UInt64] = [:]
  /// The peer uid of each connection, as the event loop learned it (SO_PEERCRED).
  private var clientUIDs: [ClientID: UInt32] = [:]
  /// Records per owner, for maxProcessesPerUser.
  private var owned: [UInt32: Int] = [:]
  /// Spawned programs sent SIGTERM because their client went away: SIGKILL is due then.
  private var killDeadlines: [UInt64: Int64] = [:]

  public init(effects: Effects, limits: SupervisorLimits = SupervisorLimits(), daemonPID: Int32) {
    self.effects = effects
    self.limits = limits
    self.daemonPID = daemonPID
  }

  /// The reserved name of the default template.
  public static var defaultTemplateName: [UInt8] { Array("default".utf8) }

  // MARK: Requests

  /// Handles one request. `fds` came with it and are owned by the supervisor from now on.
  public mutating func handle(_ request: Request, fds: [FileDescriptor], from client: ClientID) {
    if case .signal(let signal) = request {
      // Never replied to, also when shutting down: the client is busy with its program.
      return forwardSignal(signal, from: client)
    }
    // A later request: the client has read its last created reply (or never needs it).
    lastCreated[client] = nil
    if shuttingDown {
      closeAll(fds)
      effects.reply(client, .failure(.shuttingDown, "the daemon is shutting down"))
      return
    }
    switch request {
    case .hello:
      effects.reply(client, .welcome(version: WireLimits.version, daemonPID: daemonPID))
    case .new(let name):
      guard let template = ensureDefaultTemplate(client) else { return }
      fork(template, name: name, client: client)
    case .exec(let name):
      exec(name: name, client: client)
    case .fork(let ref, let name):
      guard let id = lookup(ref, client) else { return }
      fork(id, name: name, client: client)
    case .sendFDs(let ref, let targets):
      sendFDs(ref, targets, fds, client)
    case .sendArgs(let ref, let list):
      sendArgs(ref, list, client)
    case .run(let ref, let spec):
      run(ref, spec, fds, client)
    case .wait(let refs):
      wait(refs, client)
    case .kill(let signal, let refs):
      kill(signal, refs, client)
    case .list:
      effects.reply(client, .listing(listing()))
    case .shutdown:
      shuttingDown = true
      effects.reply(client, .ok)
      effects.shutdown()
    case .spawn(let s):
      spawn(s, fds, client)
    case .signal:
      break
    }
  }

  private func describe(_ id: UInt64) -> String {
    guard let r = records[id], !r.name.isEmpty else { return "process \(id)" }
    return "process \(id) (\(String(decoding: r.name, as: UTF8.self)))"
  }

  private mutating func lookup(_ ref: [UInt8], _ client: ClientID) -> UInt64? {
    if let id = resolve(ref) { return id }
    effects.reply(client, .failure(.unknownProcess, "no process object \(String(decoding: ref, as: UTF8.self))"))
    return nil
  }

  /// A decimal id, or the newest process object with that name.
  func resolve(_ ref: [UInt8]) -> UInt64? {
    // An empty name means "no name": it must not pick the newest unnamed process object.
    if ref.isEmpty { return nil }
    if !ref.isEmpty, ref.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
      guard let id = UInt64(String(decoding: ref, as: UTF8.self)), records[id] != nil else { return nil }
      return id
    }
    if ref == Self.defaultTemplateName { return defaultTemplate }
    return records.values.filter { $0.name == ref }.max { $0.id < $1.id }?.id
  }

  /// Checks a requested name; replies and returns false when it cannot be used.
  private mutating func acceptName(_ name: [UInt8], _ client: ClientID) -> Bool {
    if name.isEmpty { return true }
    let printable = name.allSatisfy { $0 > 0x20 && $0 != 0x7f }
    let numeric = name.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    if name.count > limits.maxNameLength || !printable || numeric || name == Self.defaultTemplateName {
      effects.reply(
        client,
        .failure(
          .badRequest,
          "invalid name \(String(decoding: name, as: UTF8.self)): names are 1 to \(limits.maxNameLength) bytes without spaces, not all digits, and not \"default\""
        ))
      return false
    }
    if records.values.contains(where: { $0.name == name && $0.state != .exited }) {
      effects.reply(client, .failure(.nameTaken, "name \(String(decoding: name, as: UTF8.self)) is already in use"))
      return false
    }
    return true
  }

  /// A connection was accepted from a peer with this uid.
  public mutating func clientConnected(_ client: ClientID, uid: UInt32) { clientUIDs[client] = uid }

  /// Adds a record, counting it for its owner.
  private mutating func insert(_ record: ProcessRecord) {
    records[record.id] = record
    if let o = record.owner { owned[o, default: 0] += 1 }
  }

  /// Forgets a record.
  private mutating func remove(_ id: UInt64) {
    guard let r = records.removeValue(forKey: id) else { return }
    if let o = r.owner {
      owned[o]! -= 1
      if owned[o] == 0 { owned[o] = nil }
    }
  }

  private mutating func reserveRecord(_ client: ClientID) -> UInt64? {
    if records.count >= limits.maxProcesses {
      dropReportedRecords(keeping: 0)
    }
    if let uid = clientUIDs[client], owned[uid, default: 0] >= limits.maxProcessesPerUser {
      dropReportedRecords(keeping: 0)
      if owned[uid, default: 0] >= limits.maxProcessesPerUser {
        effects.reply(
          client,
          .failure(
            .limitReached,
            "too many process objects for uid \(uid) (\(limits.maxProcessesPerUser)); wait for exited ones or kill some"))
        return nil
      }
    }
    if records.count >= limits.maxProcesses {
      effects.reply(
        client,
        .failure(
          .limitReached,
          "too many process objects (\(limits.maxProcesses)); wait for exited ones or kill some"))
      return nil
    }
    defer { nextID += 1 }
    return nextID
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

  private mutating func startTemplateRecord(name: [UInt8], role: ProcessInfo.Role, _ client: ClientID)
    -> UInt64?
  {
    guard let id = reserveRecord(client), let ends = controlSocketPair(client) else { return nil }
    let pid: Int32
    do {
      pid = try effects.startTemplate(id: id, control: ends.1)
    } catch {
      effects.close(ends.0)
      effects.reply(client, .failure(.templateFailed, "cannot start a template: \(Sys.describe(error))"))
      return nil
    }
    var record = ProcessRecord(id: id, name: name, role: role, parent: 0)
    record.pid = pid
    record.state = .ready
    record.hasControl = true
    record.owner = role == .defaultTemplate ? nil : clientUIDs[client]
    insert(record)
    pidToID[pid] = id
    effects.watchControl(id, ends.0)
    return id
  }

  private mutating func ensureDefaultTemplate(_ client: ClientID) -> UInt64? {
    if let id = defaultTemplate, let r = records[id], r.state != .exited, r.hasControl { return id }
    let id = startTemplateRecord(name: [], role: .defaultTemplate, client)
    defaultTemplate = id
    return id
  }

  private mutating func exec(name: [UInt8], client: ClientID) {
    guard acceptName(name, client) else { return }
    guard let id = startTemplateRecord(name: name, role: .template, client) else { return }
    effects.reply(client, .created(id: id, pid: records[id]!.pid))
  }

  /// A process object that can still take commands: not run, not exited.
  private mutating func requireUnrun(_ id: UInt64, _ action: String, _ client: ClientID) -> Bool {
    let r = records[id]!
    if (r.state == .starting || r.state == .ready) && r.hasControl { return true }
    switch r.state {
    case .running:
      effects.reply(client, .failure(.wrongState, "cannot \(action) \(describe(id)): it is already running \(String(decoding: r.program, as: UTF8.self))"))
    default:
      effects.reply(client, .failure(.wrongState, "cannot \(action) \(describe(id)): it has exited"))
    }
    return false
  }

  private mutating func fork(_ parent: UInt64, name: [UInt8], client: ClientID) {
    guard requireUnrun(parent, "fork", client), acceptName(name, client) else { return }
    _ = forkChild(parent, name: name, client: client, replyWhenForked: true)
  }

  /// Asks `parent` to fork; the new record's id, or nil after replying why not.
  private mutating func forkChild(_ parent: UInt64, name: [UInt8], client: ClientID, replyWhenForked: Bool)
    -> UInt64?
  {
    guard let id = reserveRecord(client), let ends = controlSocketPair(client) else { return nil }
    var child = newChild(id, of: parent, name: name, client: client)
    child.hasControl = true
    insert(child)
    effects.watchControl(id, ends.0)
    records[parent]!.pendingForks.append((id, replyWhenForked ? client : nil))
    forksInFlight += 1
    effects.send(parent, .fork(id: id), fds: [ends.1])
    return id
  }

  private mutating func spawn(_ s: SpawnRequest, _ fds: [FileDescriptor], _ client: ClientID) {
    let parent: UInt64
    if s.from.isEmpty {
      guard let t = ensureDefaultTemplate(client) else { return closeAll(fds) }
      parent = t
    } else {
      guard let id = lookup(s.from, client) else { return closeAll(fds) }
      parent = id
    }
    guard requireUnrun(parent, "spawn from", client), acceptName(s.name, client) else { return closeAll(fds) }
    let sent = Array(fds.prefix(s.targets.count))
    var rest = Array(fds.dropFirst(s.targets.count))
    if records[parent]!.fdsSent + sent.count > limits.maxFDsPerProcess {
      closeAll(fds)
      effects.reply(client, .failure(.limitReached, "cannot spawn from \(describe(parent)): the process would hold more than \(limits.maxFDsPerProcess) descriptors"))
      return
    }
    if !s.spec.keepControl {
      return spawnDirectly(from: parent, s, fds, client)
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
    guard let id = forkChild(parent, name: s.name, client: client, replyWhenForked: false) else {
      closeAll(fds + [statusPipe.read, statusPipe.write])
      return
    }
    // The commands queue behind the fork on the child's control socket: one round trip.
    if !sent.isEmpty {
      records[id]!.fdsSent += sent.count
      effects.send(id, .fds(targets: s.targets), fds: sent)
    }
    effects.watchStatusPipe(id, statusPipe.read)
    rest.append(statusPipe.write)
    records[id]!.startSpawn(s, client)
    effects.send(id, .run(s.spec, statusPipe: true), fds: rest)
  }

  /// A record for a child of `parent`, which inherits what was sent to it.
  private func newChild(_ id: UInt64, of parent: UInt64, name: [UInt8], client: ClientID) -> ProcessRecord {
    let p = records[parent]!
    var child = ProcessRecord(id: id, name: name, role: .forked, parent: parent)
    child.fdsSent = p.fdsSent
    child.argumentsSent = p.argumentsSent
    child.argumentBytesSent = p.argumentBytesSent
    child.owner = clientUIDs[client]
    return child
  }

  /// The usual spawn: the template starts the program itself, as posix_spawn does, and
  /// answers with the pid and the exec outcome; the new process never runs template code,
  /// so it needs no control socket. (A spawn with keepControl forks a process object.)
  private mutating func spawnDirectly(from parent: UInt64, _ s: SpawnRequest, _ fds: [FileDescriptor], _ client: ClientID) {
    guard let id = reserveRecord(client) else { return closeAll(fds) }
    var child = newChild(id, of: parent, name: s.name, client: client)
    child.fdsSent += s.targets.count
    child.startSpawn(s, client)
    insert(child)
    records[parent]!.pendingForks.append((id, nil))
    forksInFlight += 1
    effects.send(parent, .spawn(id: id, targets: s.targets, spec: s.spec), fds: fds)
  }

  /// A signal from an attached client, for its program.
  private mutating func forwardSignal(_ signal: Int32, from client: ClientID) {
    guard let r = records.values.first(where: { $0.attached == client }), r.pid > 0, r.state != .exited else {
      return
    }
    effects.signalGroup(r.pid, signal)
  }

  /// Ends a spawned program whose client went away: SIGTERM now, SIGKILL after the grace.
  private mutating func terminate(_ id: UInt64) {
    guard let r = records[id], r.state != .exited else { return }
    if r.pid == 0 {
      records[id]!.terminateWhenForked = true
      return
    }
    effects.signalGroup(r.pid, 15)
    killDeadlines[id] = effects.now() + limits.killGraceMilliseconds
  }

  /// When the next SIGKILL of a terminated program is due (monotonic ms), if any.
  public var nextDeadline: Int64? { killDeadlines.values.min() }

  /// Sends SIGKILL to terminated programs whose grace has run out by `now`.
  public mutating func deadlinesPassed(now: Int64) {
    for (id, deadline) in killDeadlines where deadline <= now {
      killDeadlines[id] = nil
      if let r = records[id], r.state != .exited, r.pid > 0 { effects.signalGroup(r.pid, 9) }
    }
  }

  private mutating func sendFDs(_ ref: [UInt8], _ targets: [FDTarget], _ fds: [FileDescriptor], _ client: ClientID) {
    guard let id = lookup(ref, client) else { return closeAll(fds) }
    guard acceptsInput(id, "send descriptors to", client) else { return closeAll(fds) }
    if records[id]!.fdsSent + fds.count > limits.maxFDsPerProcess {
      closeAll(fds)
      effects.reply(client, .failure(.limitReached, "cannot send descriptors to \(describe(id)): it would hold more than \(limits.maxFDsPerProcess)"))
      return
    }
    records[id]!.fdsSent += fds.count
    effects.send(id, .fds(targets: targets), fds: fds)
    effects.reply(client, .ok)
  }

  private mutating func sendArgs(_ ref: [UInt8], _ list: [[UInt8]], _ client: ClientID) {
    guard let id = lookup(ref, client), acceptsInput(id, "send strings to", client) else { return }
    let bytes = list.reduce(0) { $0 + $1.count }
    if records[id]!.argumentsSent + list.count > limits.maxArgumentsPerProcess {
      effects.reply(client, .failure(.limitReached, "cannot send strings to \(describe(id)): it would hold more than \(limits.maxArgumentsPerProcess) strings"))
      return
    }
    if records[id]!.argumentBytesSent + bytes > limits.maxArgumentBytesPerProcess {
      effects.reply(client, .failure(.limitReached, "cannot send strings to \(describe(id)): it would hold more than \(limits.maxArgumentBytesPerProcess) bytes"))
      return
    }
    if !records[id]!.keepsControl, list.contains(where: { $0.contains(0) }) {
      effects.reply(client, .failure(.badRequest, "cannot send strings to \(describe(id)): an argument cannot hold a NUL byte"))
      return
    }
    records[id]!.argumentBytesSent += bytes
    records[id]!.argumentsSent += list.count
    effects.send(id, .arguments(list), fds: [])
    effects.reply(client, .ok)
  }

  /// Strings and descriptors go to a process object before run, or to a running program
  /// that kept its control socket.
  private mutating func acceptsInput(_ id: UInt64, _ action: String, _ client: ClientID) -> Bool {
    let r = records[id]!
    if r.role == .defaultTemplate {
      effects.reply(client, .failure(.wrongState, "cannot \(action) the default template; make your own with exec"))
      return false
    }
    if r.state == .running && r.keepsControl && r.hasControl && r.pendingRun == nil { return true }
    if r.state == .running && r.keepsControl {
      effects.reply(client, .failure(.wrongState, "cannot \(action) \(describe(id)): its program has closed the control socket"))
      return false
    }
    return requireUnrun(id, action, client)
  }

  private mutating func run(_ ref: [UInt8], _ spec: RunSpec, _ fds: [FileDescriptor], _ client: ClientID) {
    guard let id = lookup(ref, client) else { return closeAll(fds) }
    if records[id]!.role == .defaultTemplate {
      closeAll(fds)
      effects.reply(client, .failure(.wrongState, "cannot run the default template; fork it with new"))
      return
    }
    guard requireUnrun(id, "run", client) else { return closeAll(fds) }
    var sent = fds
    if spec.keepControl {
      do {
        let p = try effects.pipe()
        effects.watchStatusPipe(id, p.read)
        sent.append(p.write)
      } catch {
        closeAll(fds)
        effects.reply(client, .failure(.internalError, "cannot create a pipe: \(Sys.describe(error))"))
        return
      }
    }
    records[id]!.state = .running
    records[id]!.program = spec.program
    records[id]!.keepsControl = spec.keepControl
    records[id]!.pendingRun = (client, spec)
    effects.send(id, .run(spec, statusPipe: spec.keepControl), fds: sent)
  }

  private mutating func wait(_ refs: [[UInt8]], _ client: ClientID) {
    var ids: [UInt64] = []
    for ref in refs {
      guard let id = lookup(ref, client) else { return }
      ids.append(id)
    }
    if ids.isEmpty {
      effects.reply(client, .failure(.badRequest, "wait needs at least one process object"))
      return
    }
    waits.append(PendingWait(client: client, ids: ids))
    answerWaits()
  }

  private mutating func kill(_ signal: Int32, _ refs: [[UInt8]], _ client: ClientID) {
    var pids: [Int32] = []
    for ref in refs {
      guard let id = lookup(ref, client) else { return }
      let r = records[id]!
      if r.state == .exited {
        effects.reply(client, .failure(.wrongState, "cannot signal \(describe(id)): it has exited"))
        return
      }
      if r.pid == 0 {
        effects.reply(client, .failure(.wrongState, "cannot signal \(describe(id)): it is still being forked"))
        return
      }
      pids.append(r.pid)
    }
    for pid in pids {
      do {
        try effects.signal(pid, signal)
      } catch {
        effects.reply(client, .failure(.badRequest, "cannot send signal \(signal) to pid \(pid): \(Sys.describe(error))"))
        return
      }
    }
    effects.reply(client, .ok)
  }

  func listing() -> [ProcessInfo] {
    records.values.sorted { $0.id < $1.id }.map { r in
      ProcessInfo(
        id: r.id, name: r.role == .defaultTemplate ? Self.defaultTemplateName : r.name, role: r.role,
        parent: r.parent, pid: r.pid, state: r.state, status: r.status, fdsSent: UInt32(r.fdsSent),
        argumentsSent: UInt32(r.argumentsSent), program: r.program)
    }
  }

  // MARK: Events from process objects and the kernel

  /// A report arrived on `id`'s control socket.
  public mutating func handle(_ report: Report, from id: UInt64) {
    guard records[id] != nil else { return }
    switch report {
    case .forked(let pid):
      guard !records[id]!.pendingForks.isEmpty else { return }
      let (child, client) = records[id]!.pendingForks.removeFirst()
      forksInFlight -= 1
      guard records[child] != nil else { return }
      records[child]!.pid = pid
      // A spawned child has its run queued already.
      records[child]!.state = records[child]!.pendingRun != nil ? .running : .ready
      pidToID[pid] = child
      if let client {
        // A client that hung up before this was written never learns the id.
        if effects.reply(client, .created(id: child, pid: pid)) {
          lastCreated[client] = child
        } else {
          abandon(child)
        }
      } else if records[child]!.terminateWhenForked {
        terminate(child)
      } else if records[child]!.ranBeforeForkReport {
        execSucceeded(child)
      } else if !records[child]!.spawned {
        // Its client left before learning of it: nobody can ever use it.
        abandon(child)
      }
      if let status = earlyExits.removeValue(forKey: pid) { childExited(pid: pid, status: status) }
      if forksInFlight == 0 { earlyExits.removeAll() }
    case .refused(let code, let message):
      guard !records[id]!.pendingForks.isEmpty else { return }
      let (child, client) = records[id]!.pendingForks.removeFirst()
      forksInFlight -= 1
      let reason = String(decoding: message, as: UTF8.self)
      discardUnborn(child, because: reason)
      if let client { effects.reply(client, .failure(code, "cannot fork \(describe(id)): \(reason)")) }
    case .execFailed(let errno):
      execFailed(id, Errno(rawValue: errno))
    case .spawned(let pid, let errno):
      guard !records[id]!.pendingForks.isEmpty else { return }
      let (child, _) = records[id]!.pendingForks.removeFirst()
      forksInFlight -= 1
      guard records[child] != nil else { return }
      records[child]!.pid = pid
      records[child]!.state = .running
      pidToID[pid] = child
      if records[child]!.terminateWhenForked { terminate(child) }
      if errno == 0 { execSucceeded(child) } else { execFailed(child, Errno(rawValue: errno)) }
      if let status = earlyExits.removeValue(forKey: pid) { childExited(pid: pid, status: status) }
      if forksInFlight == 0 { earlyExits.removeAll() }
    }
  }

  private mutating func discardUnborn(_ child: UInt64, because reason: String) {
    if records[child]?.hasControl == true { effects.closeControl(child) }
    // A spawn's only reply: its fork failed.
    if let r = records[child], r.spawned, let pending = r.pendingRun, let client = pending.client {
      effects.reply(client, .failure(.templateFailed, "cannot spawn \(String(decoding: pending.spec.program, as: UTF8.self)): \(reason)"))
    }
    remove(child)
    // A wait that names it would never be answered otherwise.
    for w in waits where w.ids.contains(child) {
      effects.reply(w.client, .failure(.templateFailed, "cannot wait for process \(child): its fork failed"))
    }
    waits.removeAll { $0.ids.contains(child) }
  }

  private mutating func execFailed(_ id: UInt64, _ errno: Errno) {
    guard let pending = records[id]?.pendingRun else { return }
    records[id]!.pendingRun = nil
    let program = String(decoding: pending.spec.program, as: UTF8.self)
    let code: ErrorCode =
      errno == .noSuchFileOrDirectory
      ? .programNotFound : (errno == .permissionDenied ? .programNotExecutable : .execFailed)
    if let client = pending.client {
      let message = records[id]!.spawned
        ? "\(program): \(Sys.describe(errno))" : "cannot run \(program) in \(describe(id)): \(Sys.describe(errno))"
      effects.reply(client, .failure(code, message))
    }
    if records[id]!.spawned {
      // Nobody will wait for a spawn whose program never ran.
      records[id]!.attached = nil
      markReported(id)
    }
  }

  private mutating func markReported(_ id: UInt64) {
    guard records[id] != nil, !records[id]!.waitedFor else { return }
    records[id]!.waitedFor = true
    reported.append(id)
    forgetIfSpent(id)
    dropReportedRecords(keeping: limits.retainedAfterWait)
  }

  /// Kills a new process whose client left before learning its id; its record goes once
  /// it has been reaped.
  private mutating func abandon(_ id: UInt64) {
    guard let r = records[id], r.pid > 0 else { return }
    records[id]!.abandoned = true
    try? effects.signal(r.pid, 9)
    forgetIfSpent(id)
  }

  /// An unnamed spawn whose status has gone to its client (or to nobody, as the client
  /// left), or an abandoned process: nothing can refer to it any more, so `list` does not
  /// fill up with them and they do not count against the limits.
  private mutating func forgetIfSpent(_ id: UInt64) {
    guard let r = records[id], r.state == .exited, !waits.contains(where: { $0.ids.contains(id) }) else { return }
    if r.abandoned {
      if r.hasControl { effects.closeControl(id) }
      if let i = reported.lastIndex(of: id) { reported.remove(at: i) }
      remove(id)
      return
    }
    guard r.spawned, r.name.isEmpty, r.waitedFor, r.attached == nil else { return }
    if let i = reported.lastIndex(of: id) { reported.remove(at: i) }
    if r.hasControl { effects.closeControl(id) }
    remove(id)
  }

  private mutating func execSucceeded(_ id: UInt64) {
    guard let pending = records[id]?.pendingRun else { return }
    if records[id]!.pid == 0 {
      records[id]!.ranBeforeForkReport = true
      return
    }
    records[id]!.pendingRun = nil
    guard let client = pending.client else { return }
    if pending.spec.waitForExit {
      records[id]!.attached = client
      let r = records[id]!
      // Race-free: the daemon is the parent, and it has not reaped the child yet (a reaped
      // one still has its exit status here, and then no pidfd is sent).
      let reaped = r.state == .exited || earlyExits[r.pid] != nil
      let pidfd = r.wantsPIDFD && !reaped ? effects.openPIDFD(r.pid) : nil
      effects.attach(client, r.spawned ? .created(id: id, pid: r.pid) : nil, fds: pidfd.map { [$0] } ?? [])
      waits.append(PendingWait(client: client, ids: [id]))
      answerWaits()
    } else {
      effects.reply(client, .ok)
    }
  }

  /// The exec status pipe of `id` said something: end of file (exec succeeded) or an errno.
  public mutating func statusPipeResult(_ id: UInt64, failure: Errno?) {
    if let failure { execFailed(id, failure) } else { execSucceeded(id) }
  }

  /// `id`'s control socket reached end of file or failed: the process exec'd (without
  /// keeping it), closed it, or died.
  public mutating func controlClosed(_ id: UInt64) {
    guard var r = records[id], r.hasControl else { return }
    effects.closeControl(id)
    r.hasControl = false
    let forks = r.pendingForks
    r.pendingForks = []
    records[id] = r
    for (child, client) in forks {
      forksInFlight -= 1
      discardUnborn(child, because: "\(describe(id)) died while forking")
      if let client { effects.reply(client, .failure(.templateFailed, "\(describe(id)) died while forking")) }
    }
    // The child may already have been reaped (a program that exits at once): the exec
    // outcome still hangs on this end of file, whatever the state says by now.
    if r.pendingRun != nil && !r.keepsControl { execSucceeded(id) }
    if id == defaultTemplate { defaultTemplate = nil }
  }

  /// A child was reaped.
  public mutating func childExited(pid: Int32, status: ExitStatus) {
    guard let id = pidToID.removeValue(forKey: pid) else {
      // Not known yet (its fork report is still on the way) or an orphan that the
      // subreaper inherited. Only the first kind matters, and only while forks are in flight.
      if forksInFlight > 0 && earlyExits.count < 4096 { earlyExits[pid] = status }
      return
    }
    records[id]!.state = .exited
    records[id]!.status = status
    killDeadlines[id] = nil
    if id == defaultTemplate { defaultTemplate = nil }
    answerWaits()
    forgetIfSpent(id)
  }

  /// A client disconnected: forget what it was waiting for. `repliesUnread`: it closed with
  /// replies unread (the kernel says so with ECONNRESET), so a process object whose id went
  /// out last was never learned, and is abandoned if it has not been used.
  public mutating func clientGone(_ client: ClientID, repliesUnread: Bool = false) {
    clientUIDs[client] = nil
    // The created reply was the last thing sent (a later request clears lastCreated), so it
    // is what went unread.
    if let id = lastCreated.removeValue(forKey: client), repliesUnread, let r = records[id], r.state == .ready,
      r.pendingRun == nil, r.pendingForks.isEmpty
    {
      abandon(id)
    }
    waits.removeAll { $0.client == client }
    for id in records.keys {
      guard records[id] != nil else { continue }
      if records[id]!.pendingRun?.client == client { records[id]!.pendingRun!.client = nil }
      if records[id]!.attached == client {
        records[id]!.attached = nil
        if records[id]!.tiedToClient {
          terminate(id)
          // Its status was for that client alone.
          markReported(id)
        }
      }
      for i in records[id]!.pendingForks.indices where records[id]!.pendingForks[i].client == client {
        records[id]!.pendingForks[i].client = nil
      }
    }
  }

  private mutating func answerWaits() {
    var i = 0
    while i < waits.count {
      let w = waits[i]
      if w.ids.allSatisfy({ records[$0]?.status != nil }) {
        waits.remove(at: i)
        for id in w.ids where records[id]!.attached == w.client { records[id]!.attached = nil }
        effects.reply(w.client, .statuses(w.ids.map { ($0, records[$0]!.status!) }))
        for id in w.ids where !records[id]!.waitedFor {
          records[id]!.waitedFor = true
          reported.append(id)
        }
        for id in w.ids { forgetIfSpent(id) }
        dropReportedRecords(keeping: limits.retainedAfterWait)
      } else {
        i += 1
      }
    }
  }

  /// Forgets the oldest exited records that a wait has already reported, down to `keeping`.
  private mutating func dropReportedRecords(keeping: Int) {
    var i = 0
    while reported.count > keeping && i < reported.count {
      let id = reported[i]
      // Still running (a spawn whose client went away): kept until it has exited.
      if waits.contains(where: { $0.ids.contains(id) }) || (records[id] != nil && records[id]!.state != .exited) {
        i += 1
        continue
      }
      reported.remove(at: i)
      // A descendant of a keep-control program may still hold the socket: close our end
      // now, as no later controlClosed can find the record.
      if records[id]?.hasControl == true { effects.closeControl(id) }
      remove(id)
    }
  }

  private mutating func closeAll(_ fds: [FileDescriptor]) {
    for f in fds { effects.close(f) }
  }

  /// Ends every process object that has not run (they exit on end of file) and leaves
  /// running programs alone.
  public mutating func closeAllControls() {
    for (id, r) in records where r.hasControl {
      effects.closeControl(id)
      records[id]!.hasControl = false
    }
  }

  /// Process objects alive that never ran a program (templates included).
  public var unrunProcessCount: Int {
    records.values.filter { $0.pid > 0 && ($0.state == .ready || $0.state == .starting) }.count
  }

  /// How many process objects are recorded (live or exited).
  public var processCount: Int { records.count }
}
