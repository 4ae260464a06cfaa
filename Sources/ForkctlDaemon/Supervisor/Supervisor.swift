// The daemon's bookkeeping as a state machine: events in (a request, a report from a process
// object, a closed control socket, a reaped child), effects out through `SupervisorEffects`.
// It makes no system call itself, so it is unit-tested with a recording fake.
//
// Where things are: the legal states of a process object in ProcessObject.swift; its
// indexes in Registry.swift; one file per concern, each an extension of `Supervisor`:
// Creation (new, exec, fork, fork reports), Input (send-fd, send-arg), Run (run, exec
// outcome), Load (libraries loaded into templates), Spawn (spawn, attachment, signal
// forwarding, kill deadlines), Wait (wait, kill,
// statuses, forgetting), Forget (forget, prune), Clients (connections coming and going),
// Shutdown (the daemon's own stop and drain), Telemetry (memory, audit).
import ForkctlSys
import ForkctlWire

public struct Supervisor<Effects: SupervisorEffects> {
  public var effects: Effects
  public let limits: SupervisorLimits
  let daemonPID: Int32

  var registry = Registry()
  /// Waits not answered yet.
  var waits: [PendingWait] = []
  /// Where the daemon stands in its own lifecycle.
  public internal(set) var daemonPhase = DaemonPhase.serving
  /// Connections that asked for the stop (shutdown, shutdown --wait): the event loop answers
  /// them once the daemon has let go of its socket and pid file.
  public internal(set) var stopRequesters: [ClientID] = []
  /// The process object whose `created` reply each connection got last.
  var lastCreated: [ClientID: UInt64] = [:]
  /// The peer uid of each connection, as the event loop learned it (SO_PEERCRED).
  var clientUIDs: [ClientID: UInt32] = [:]
  /// The pid that opened each connection (SO_PEERCRED), for the log alone: it may have
  /// exited or passed the connection on since.
  var clientPIDs: [ClientID: Int32] = [:]
  /// What the programs of each confined connection are held to.
  var clientConfinement: [ClientID: Confinement] = [:]
  /// The process groups of spawned programs sent SIGTERM because their client went away:
  /// SIGKILL is due then to whatever remains of each, its leader exited or not.
  var killDeadlines: [Int32: Int64] = [:]
  /// Process objects asked to fork: when their next report is due (Deadlines.swift).
  var reportDeadlines: [UInt64: Int64] = [:]
  /// Pools by name (Pools.swift), the pool of each worker, and the next regulation second.
  var pools: [[UInt8]: Pool] = [:]
  var poolOf: [UInt64: [UInt8]] = [:]
  var poolMaintenanceAt: Int64?
  /// The children of language hosts, by pid, until their end is known (Hosts.swift).
  var hosted: [Int32: HostedChild] = [:]
  /// Hosts made by exec that have not said hostReady yet: whose exec waits (Hosts.swift).
  var startingHosts: [UInt64: StartingHost] = [:]
  /// How each template made by exec was made (Recipes.swift), its loads not answered yet,
  /// the descriptors every recipe keeps, and the templates remade for a pool's reload that
  /// are still loading (with the pool, and the template they replace).
  var recipes: [UInt64: Recipe] = [:]
  var recipeLoads: [UInt64: [(LoadSpec, FileDescriptor?)]] = [:]
  var recipeDescriptors = 0
  var remakes: [UInt64: (pool: [UInt8], old: UInt64)] = [:]
  /// What `status` says of the daemon itself, set by the event loop at start.
  public var identity = DaemonIdentity()

  public init(effects: Effects, limits: SupervisorLimits = SupervisorLimits(), daemonPID: Int32) {
    self.effects = effects
    self.limits = limits
    self.daemonPID = daemonPID
  }

  /// The reserved name of the default template.
  public static var defaultTemplateName: [UInt8] { Registry.defaultTemplateName }

  /// Handles one event.
  public mutating func handle(_ event: Event) {
    switch event {
    case .clientConnected(let client, let uid, let pid, let confinement):
      clientUIDs[client] = uid
      if pid > 0 { clientPIDs[client] = pid }
      if !confinement.isEmpty { clientConfinement[client] = confinement }
    case .request(let request, let fds, let client): handle(request, fds: fds, from: client)
    case .clientGone(let client, let unread): clientGone(client, repliesUnread: unread)
    case .report(let report, let id): handle(report, from: id)
    case .hostChild(let pid, let pidfd, let id): hostChildAnnounced(pid, pidfd: pidfd, from: id)
    case .execOutcome(let id, let failure):
      if let failure { execFailed(id, failure) } else { execEnded(id) }
    case .controlClosed(let id): controlClosed(id)
    case .notified(let id, let message, let sender): notified(id, message, sender: sender)
    case .childExited(let pid, let status):
      if !ignoresReap(of: pid) { processEnded(pid, status) }
    case .tick(let now): tick(now: now)
    case .stopRequested: daemonPhase = .stopping
    case .stopping: stopNow()
    }
    stopIfDrained()
  }

  private mutating func handle(_ request: Request, fds: [FileDescriptor], from client: ClientID) {
    if case .signal(let signal) = request {
      // Never replied to, also when shutting down: the client is busy with its program.
      return forwardSignal(signal, from: client)
    }
    // A later request: the client has read its last created reply (or never needs it).
    lastCreated[client] = nil
    if let refusal = refusalWhileStopping(request) {
      closeAll(fds)
      effects.reply(client, .failure(.shuttingDown, refusal))
      return
    }
    switch request {
    case .hello:
      effects.reply(client, .welcome(version: WireLimits.version, daemonPID: daemonPID))
    case .status:
      effects.reply(client, .status(status()))
    case .new(let name):
      guard let template = ensureDefaultTemplate(client) else { return }
      fork(template, name: name, client: client)
    case .exec(let name, let host):
      exec(name: name, host: host, client: client)
    case .fork(let ref, let name):
      guard let id = lookup(ref, client) else { return }
      fork(id, name: name, client: client)
    case .sendFDs(let ref, let targets):
      sendFDs(ref, targets, fds, client)
    case .sendArgs(let ref, let list):
      sendArgs(ref, list, client)
    case .run(let ref, let spec, let attributes, let detach):
      run(ref, spec, attributes, fds, client, detach: detach)
    case .wait(let refs):
      wait(refs, client)
    case .waitAll:
      waitAll(client)
    case .kill(let signal, let refs, let group):
      kill(signal, refs, group: group, client)
    case .list:
      effects.reply(client, .listing(Self.fitted(listing())))
    case .shutdown:
      stop(requestedBy: client)
    case .drain:
      drain(requestedBy: client)
    case .spawn(let s):
      spawn(s, fds, client)
    case .forget(let refs):
      forget(refs, client)
    case .prune:
      prune(client)
    case .load(let ref, let spec):
      load(ref, spec, fds, client)
    case .memory(let refs):
      memory(refs, client)
    case .audit(let ref):
      audit(ref, client)
    case .pool(let request):
      pool(request, client)
    case .eval(let ref, let spec):
      eval(ref, spec, fds, client)
    case .signal:
      preconditionFailure("signal frames are forwarded above")
    }
  }

  // MARK: Shared by the concerns

  /// A client for the log: its number, its user and the pid that connected.
  func describeClient(_ client: ClientID) -> String {
    let pid = clientPIDs[client].map { ", pid \($0)" } ?? ""
    return "client \(client) (uid \(clientUIDs[client].map(String.init) ?? "unknown")\(pid))"
  }

  func describe(_ id: UInt64) -> String {
    guard let o = registry[id], !o.name.isEmpty else { return "process \(id)" }
    return "process \(id) (\(String(decoding: o.name, as: UTF8.self)))"
  }

  /// The id `ref` names, or nil after replying that it names nothing.
  mutating func lookup(_ ref: [UInt8], _ client: ClientID) -> UInt64? {
    if let id = registry.resolve(ref) { return id }
    effects.reply(
      client, .failure(.unknownProcess, "no process object \(String(decoding: ref, as: UTF8.self))"))
    return nil
  }

  /// A decimal id, or the newest process object with that name.
  func resolve(_ ref: [UInt8]) -> UInt64? { registry.resolve(ref) }

  var defaultTemplate: UInt64? { registry.defaultTemplate }

  mutating func closeAll(_ fds: [FileDescriptor]) {
    for f in fds { effects.close(f) }
  }

  mutating func fail(_ client: ClientID?, _ code: ErrorCode, _ message: String) {
    guard let client else { return }
    effects.reply(client, .failure(code, message))
  }

  // MARK: Read by the event loop

  /// When the next deadline is due (monotonic ms), if any.
  public var nextDeadline: Int64? {
    [killDeadlines.values.min(), nextReportDeadline, nextPoolDeadline].compactMap { $0 }.min()
  }

  /// Process objects alive that never ran a program (templates included).
  public var unrunProcessCount: Int { registry.unrun }

  /// How many process objects are recorded (live or exited).
  public var processCount: Int { registry.count }
}
