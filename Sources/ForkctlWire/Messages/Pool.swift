// Pools: the `pool` request's operations (create, status, resize, reload, stop, events), what
// a pool is made of (PoolSpec), and what `pool status` reports (PoolSummary).

/// One operation on pools, carried by the `pool` request: a u8 operation, then its fields.
public enum PoolRequest: Equatable, Sendable {
  /// Make a pool; replies `ok` once it exists (its workers start in the background).
  case create(PoolSpec)
  /// Replies `pools` with the named pool (empty: every pool).
  case status(name: [UInt8])
  /// Changes a pool's sizes, or its target by `delta` workers; replies `ok`.
  case resize(name: [UInt8], PoolResize)
  /// Starts a new generation forked from `from` (empty: the same template), replacing the
  /// workers one by one as they go idle; replies `ok` at once.
  case reload(name: [UInt8], from: [UInt8])
  /// Stops every worker (a busy one at its next IDLE=1 with `graceful`) and forgets the
  /// pool; replies `pools` with its last summary once every worker has exited.
  case stop(name: [UInt8], graceful: Bool)
  /// Replies `poolEvent` frames, one per event, until the pool is gone; then `ok`.
  case events(name: [UInt8])

  enum Operation: UInt8 {
    case create = 0
    case status = 1
    case resize = 2
    case reload = 3
    case stop = 4
    case events = 5
  }

  func write(to w: inout PayloadWriter) {
    switch self {
    case .create(let spec):
      w.u8(Operation.create.rawValue)
      spec.write(to: &w)
    case .status(let name):
      w.u8(Operation.status.rawValue)
      w.string(name)
    case .resize(let name, let resize):
      w.u8(Operation.resize.rawValue)
      w.string(name)
      resize.write(to: &w)
    case .reload(let name, let from):
      w.u8(Operation.reload.rawValue)
      w.string(name)
      w.string(from)
    case .stop(let name, let graceful):
      w.u8(Operation.stop.rawValue)
      w.string(name)
      w.u8(graceful ? 1 : 0)
    case .events(let name):
      w.u8(Operation.events.rawValue)
      w.string(name)
    }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolRequest {
    let raw = try r.u8()
    guard let op = Operation(rawValue: raw) else { throw .invalid("pool operation \(raw)") }
    switch op {
    case .create: return .create(try PoolSpec.read(&r))
    case .status: return .status(name: try r.string())
    case .resize: return .resize(name: try r.string(), try PoolResize.read(&r))
    case .reload: return .reload(name: try r.string(), from: try r.string())
    case .stop:
      let name = try r.string()
      let graceful = try r.u8()
      if graceful > 1 { throw .invalid("pool stop flag \(graceful)") }
      return .stop(name: name, graceful: graceful == 1)
    case .events: return .events(name: try r.string())
    }
  }
}

/// What a pool is: its name, the template its workers are forked from, and what they run.
public struct PoolSpec: Equatable, Sendable {
  public var name: [UInt8]
  /// The process object (a template, not run) the workers are forked from.
  public var from: [UInt8]
  public var kind: PoolKind
  public var sizes: PoolSizes

  public init(name: [UInt8], from: [UInt8], kind: PoolKind, sizes: PoolSizes = PoolSizes()) {
    self.name = name
    self.from = from
    self.kind = kind
    self.sizes = sizes
  }

  /// string name, string from, u8 kind (0 workers, 1 ready), the sizes, then for workers:
  /// u32 max requests, u32 jitter, u32 timeout ms, i32 notify fd, u32 flags (1: NOTIFY_SOCKET),
  /// and the run spec.
  func write(to w: inout PayloadWriter) {
    w.string(name)
    w.string(from)
    switch kind {
    case .ready:
      w.u8(1)
      sizes.write(to: &w)
    case .workers(let workers):
      w.u8(0)
      sizes.write(to: &w)
      workers.write(to: &w)
    }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolSpec {
    let name = try r.string()
    let from = try r.string()
    let kind = try r.u8()
    let sizes = try PoolSizes.read(&r)
    switch kind {
    case 0: return PoolSpec(name: name, from: from, kind: .workers(try PoolWorkers.read(&r)), sizes: sizes)
    case 1:
      if sizes.minIdle > sizes.max || sizes.max == 0 { throw .invalid("ready pool sizes: min above max, or max 0") }
      return PoolSpec(name: name, from: from, kind: .ready, sizes: sizes)
    default: throw .invalid("pool kind \(kind)")
    }
  }
}

/// What a pool keeps.
public enum PoolKind: Equatable, Sendable {
  /// Long-running workers that run `run` and report on their notify descriptor.
  case workers(PoolWorkers)
  /// Forked process objects that have not run, handed to `new`, `fork` and `spawn` from the
  /// template instead of forking on the request path: `sizes.minIdle` is the refill threshold
  /// (fewer ready than that, and the pool forks until it holds `sizes.max`).
  case ready
}

/// How many workers a pool keeps. For a ready pool only `minIdle` (its --min) and `max` count.
public struct PoolSizes: Equatable, Sendable {
  /// Workers started when the pool is made.
  public var start: UInt32
  /// Fewer idle workers than this, and the pool starts more (1, 2, 4 ... 32 per second).
  public var minIdle: UInt32
  /// More idle workers than this, and the pool stops one per second.
  public var maxIdle: UInt32
  /// Never more workers than this.
  public var max: UInt32

  public init(start: UInt32 = 1, minIdle: UInt32 = 0, maxIdle: UInt32 = UInt32.max, max: UInt32 = 1) {
    self.start = start
    self.minIdle = minIdle
    self.maxIdle = maxIdle
    self.max = max
  }

  /// u32 start, u32 min idle, u32 max idle, u32 max.
  func write(to w: inout PayloadWriter) {
    w.u32(start)
    w.u32(minIdle)
    w.u32(maxIdle)
    w.u32(max)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolSizes {
    let s = PoolSizes(start: try r.u32(), minIdle: try r.u32(), maxIdle: try r.u32(), max: try r.u32())
    if s.start > s.max || s.minIdle > s.maxIdle { throw .invalid("pool sizes: start above max, or min above max idle") }
    return s
  }
}

/// What the workers of a worker pool run, and how they are held to account.
public struct PoolWorkers: Equatable, Sendable {
  /// The program (or, with `entry: .call`, the function) each worker runs. Its environment
  /// must be given: the daemon adds FORKCTL_NOTIFY_FD and FORKCTL_POOL to it.
  public var spec: RunSpec
  /// A worker is retired after this many requests (BUSY=1 messages), plus a random 0 to
  /// `jitter` of its own; 0: never.
  public var maxRequests: UInt32
  public var jitter: UInt32
  /// A worker busy this long without WATCHDOG=1 gets SIGQUIT, then SIGKILL; 0: never.
  public var timeoutMilliseconds: UInt32
  /// Where the notify descriptor lands in each worker.
  public var notifyFD: Int32
  /// Also give each worker NOTIFY_SOCKET, an abstract address, for programs that use
  /// sd_notify(3).
  public var notifySocket: Bool

  public init(
    spec: RunSpec, maxRequests: UInt32 = 0, jitter: UInt32 = 0, timeoutMilliseconds: UInt32 = 0,
    notifyFD: Int32 = 9, notifySocket: Bool = false
  ) {
    self.spec = spec
    self.maxRequests = maxRequests
    self.jitter = jitter
    self.timeoutMilliseconds = timeoutMilliseconds
    self.notifyFD = notifyFD
    self.notifySocket = notifySocket
  }

  static let notifySocketFlag: UInt32 = 1

  func write(to w: inout PayloadWriter) {
    w.u32(maxRequests)
    w.u32(jitter)
    w.u32(timeoutMilliseconds)
    w.i32(notifyFD)
    w.u32(notifySocket ? Self.notifySocketFlag : 0)
    spec.write(to: &w)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolWorkers {
    let maxRequests = try r.u32()
    let jitter = try r.u32()
    let timeout = try r.u32()
    let notifyFD = try r.i32()
    if notifyFD < 3 || notifyFD > WireLimits.maxTargetFD { throw .invalid("notify descriptor \(notifyFD)") }
    let flags = try r.u32()
    if flags & ~notifySocketFlag != 0 { throw .invalid("pool flags \(flags)") }
    let spec = try RunSpec.read(&r)
    if spec.waitForExit || spec.keepControl || spec.hasWorkingDirectory {
      throw .invalid("a pool's run spec cannot wait, keep its control socket or carry a directory")
    }
    if spec.environment == nil { throw .invalid("a pool's run spec carries its environment") }
    return PoolWorkers(
      spec: spec, maxRequests: maxRequests, jitter: jitter, timeoutMilliseconds: timeout, notifyFD: notifyFD,
      notifySocket: flags & notifySocketFlag != 0)
  }
}

/// A change of a pool's sizes: each field present only when set.
public struct PoolResize: Equatable, Sendable {
  public var max: UInt32?
  public var minIdle: UInt32?
  public var maxIdle: UInt32?
  /// Workers to add to (or take from) the pool's target, as TTIN and TTOU do.
  public var delta: Int32

  public init(max: UInt32? = nil, minIdle: UInt32? = nil, maxIdle: UInt32? = nil, delta: Int32 = 0) {
    self.max = max
    self.minIdle = minIdle
    self.maxIdle = maxIdle
    self.delta = delta
  }

  /// u32 flags (1 max, 2 min idle, 4 max idle), the u32 of each flag set in that order, i32
  /// delta.
  func write(to w: inout PayloadWriter) {
    w.u32((max != nil ? 1 : 0) | (minIdle != nil ? 2 : 0) | (maxIdle != nil ? 4 : 0))
    for v in [max, minIdle, maxIdle] { if let v { w.u32(v) } }
    w.i32(delta)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolResize {
    let flags = try r.u32()
    if flags & ~7 != 0 { throw .invalid("resize flags \(flags)") }
    var resize = PoolResize()
    if flags & 1 != 0 { resize.max = try r.u32() }
    if flags & 2 != 0 { resize.minIdle = try r.u32() }
    if flags & 4 != 0 { resize.maxIdle = try r.u32() }
    resize.delta = try r.i32()
    return resize
  }
}

/// One pool as `pool status` reports it.
public struct PoolSummary: Equatable, Sendable {
  public var name: [UInt8]
  public var ready: Bool
  /// The template the current generation is forked from.
  public var template: UInt64
  public var generation: UInt32
  /// How many workers the pool keeps now.
  public var target: UInt32
  public var sizes: PoolSizes
  /// BUSY=1 messages counted, over every worker the pool had.
  public var requests: UInt64
  /// Workers started to replace one that died or was retired.
  public var restarts: UInt32
  public var workers: [PoolWorkerEntry]
  /// The last workers that ended, oldest first.
  public var history: [PoolDeparture]

  public init(
    name: [UInt8], ready: Bool, template: UInt64, generation: UInt32, target: UInt32, sizes: PoolSizes,
    requests: UInt64, restarts: UInt32, workers: [PoolWorkerEntry], history: [PoolDeparture]
  ) {
    self.name = name
    self.ready = ready
    self.template = template
    self.generation = generation
    self.target = target
    self.sizes = sizes
    self.requests = requests
    self.restarts = restarts
    self.workers = workers
    self.history = history
  }

  func write(to w: inout PayloadWriter) {
    w.string(name)
    w.u8(ready ? 1 : 0)
    w.u64(template)
    w.u32(generation)
    w.u32(target)
    sizes.write(to: &w)
    w.u64(requests)
    w.u32(restarts)
    w.u32(UInt32(workers.count))
    for e in workers { e.write(to: &w) }
    w.u32(UInt32(history.count))
    for d in history { d.write(to: &w) }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolSummary {
    let name = try r.string()
    let ready = try r.u8()
    if ready > 1 { throw .invalid("pool kind \(ready)") }
    let template = try r.u64()
    let generation = try r.u32()
    let target = try r.u32()
    let sizes = try PoolSizes.read(&r)
    let requests = try r.u64()
    let restarts = try r.u32()
    var workers: [PoolWorkerEntry] = []
    for _ in 0..<(try r.count(itemSize: PoolWorkerEntry.minimumSize)) { workers.append(try PoolWorkerEntry.read(&r)) }
    var history: [PoolDeparture] = []
    for _ in 0..<(try r.count(itemSize: PoolDeparture.size)) { history.append(try PoolDeparture.read(&r)) }
    return PoolSummary(
      name: name, ready: ready == 1, template: template, generation: generation, target: target, sizes: sizes,
      requests: requests, restarts: restarts, workers: workers, history: history)
  }
}

/// One live worker of a pool.
public struct PoolWorkerEntry: Equatable, Sendable {
  public enum State: UInt8, Sendable, CaseIterable {
    /// Forked, and has not reported yet: counted idle.
    case starting = 0
    case idle = 1
    case busy = 2
    /// Asked to stop (SIGTERM sent, or to be sent at its next IDLE=1).
    case stopping = 3

    public var word: String {
      switch self {
      case .starting: "starting"
      case .idle: "idle"
      case .busy: "busy"
      case .stopping: "stopping"
      }
    }
  }

  public var id: UInt64
  public var pid: Int32
  public var state: State
  public var requests: UInt32
  public var generation: UInt32
  /// Its last STATUS= text.
  public var status: [UInt8]

  public init(id: UInt64, pid: Int32, state: State, requests: UInt32, generation: UInt32, status: [UInt8]) {
    self.id = id
    self.pid = pid
    self.state = state
    self.requests = requests
    self.generation = generation
    self.status = status
  }

  /// u64 id, i32 pid, u8 state, u32 requests, u32 generation, empty status (u32).
  static let minimumSize = 8 + 4 + 1 + 4 + 4 + 4

  func write(to w: inout PayloadWriter) {
    w.u64(id)
    w.i32(pid)
    w.u8(state.rawValue)
    w.u32(requests)
    w.u32(generation)
    w.string(status)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolWorkerEntry {
    let id = try r.u64()
    let pid = try r.i32()
    let raw = try r.u8()
    guard let state = State(rawValue: raw) else { throw .invalid("pool worker state \(raw)") }
    return PoolWorkerEntry(
      id: id, pid: pid, state: state, requests: try r.u32(), generation: try r.u32(), status: try r.string())
  }
}

/// A worker that ended, and why the pool let it go (or did not).
public struct PoolDeparture: Equatable, Sendable {
  public enum Reason: UInt8, Sendable, CaseIterable {
    /// It ended by itself: the pool replaces it.
    case died = 0
    /// --max-requests.
    case retired = 1
    /// More idle workers than --max-idle, or a smaller target.
    case shrunk = 2
    /// Busy past --timeout without WATCHDOG=1.
    case timedOut = 3
    /// Replaced by a newer generation.
    case reloaded = 4
    /// The pool was stopped.
    case stopped = 5
    /// Its program could not be started.
    case failedToStart = 6

    public var word: String {
      switch self {
      case .died: "died"
      case .retired: "retired"
      case .shrunk: "shrunk"
      case .timedOut: "timed out"
      case .reloaded: "reloaded"
      case .stopped: "stopped"
      case .failedToStart: "failed to start"
      }
    }
  }

  public var id: UInt64
  /// 0 for a worker never born (its template died before forking it).
  public var pid: Int32
  /// Nil for a worker never born: it has no exit status.
  public var status: ExitStatus?
  public var reason: Reason

  public init(id: UInt64, pid: Int32, status: ExitStatus?, reason: Reason) {
    self.id = id
    self.pid = pid
    self.status = status
    self.reason = reason
  }

  /// u64 id, i32 pid, the status (tag 0: none), u8 reason.
  static let size = 8 + 4 + ExitStatus.size + 1

  func write(to w: inout PayloadWriter) {
    w.u64(id)
    w.i32(pid)
    if let status {
      status.write(to: &w)
    } else {
      ExitStatus.writeNone(to: &w)
    }
    w.u8(reason.rawValue)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> PoolDeparture {
    let id = try r.u64()
    let pid = try r.i32()
    let status = try ExitStatus.read(&r, noneIsZero: true)
    let raw = try r.u8()
    guard let reason = Reason(rawValue: raw) else { throw .invalid("pool departure reason \(raw)") }
    return PoolDeparture(id: id, pid: pid, status: status, reason: reason)
  }
}
