// A pool's own state: what it keeps, where it stands, and the legal states of each member.
// The rules that move them are in Pools.swift (requests, reports) and PoolRegulation.swift
// (the maintenance second, starting and stopping workers).
import ForkctlWire

/// A pool of workers forked from one template.
struct Pool {
  let name: [UInt8]
  /// The user whose connection made it: its workers count against that user's limit.
  let owner: UInt32?
  /// What its workers run; nil for a ready pool.
  let workers: PoolWorkers?
  /// The template the current generation is forked from.
  var template: UInt64
  var generation: UInt32 = 1
  var sizes: PoolSizes
  /// How many workers of the current generation it keeps now: `start` at first, then moved
  /// by the idle rules and by resize.
  var target: Int
  var members: [UInt64: PoolMember] = [:]
  /// The last departures, oldest first, at most `Pool.historyLength`.
  var history: [PoolDeparture] = []
  var requests: UInt64 = 0
  var restarts: UInt32 = 0
  /// Workers started at the next maintenance second while idle ones stay too few: 1, 2, 4 ...
  /// up to 32 (Apache's ramp).
  var ramp = 1
  /// Workers that ended without reporting, soon after their start: new ones wait then
  /// (`startsAfter`) so that a program that cannot start is not forked in a loop.
  var quickDeaths = 0
  var startsAfter: Int64 = 0
  var phase = PoolPhase.serving
  /// Connections that follow `pool events`, with how many events each missed since it last
  /// got one (it did not read: its backlog passed `Pool.eventBacklog`).
  var subscribers: [ClientID] = []
  var missedEvents: [ClientID: Int] = [:]
  /// The last `error` event's message: not told again until a worker starts (a dead
  /// template would otherwise be reported at every maintenance second).
  var lastError: String?
  /// Templates the pool made for itself (a reload remakes a template made by exec): ended
  /// once it has moved on from them, or stops.
  var madeTemplates: Set<UInt64> = []

  static let historyLength = 32
  /// Bytes of events queued for a follower that does not read, past which its events are
  /// dropped (and counted in a `missed` event once it reads again), so that it cannot make
  /// the daemon hold ever more.
  static let eventBacklog = 1 << 20
  static let rampLimit = 32

  init(name: [UInt8], owner: UInt32?, workers: PoolWorkers?, template: UInt64, sizes: PoolSizes) {
    self.name = name
    self.owner = owner
    self.workers = workers
    self.template = template
    self.sizes = sizes
    self.target = Int(sizes.start)
  }

  /// Members of the current generation that are not leaving.
  var active: [(id: UInt64, member: PoolMember)] {
    members.filter { $0.value.generation == generation && !$0.value.state.isLeaving }.map { ($0.key, $0.value) }
  }

  /// Active members counted idle: idle, or starting and not heard from yet.
  var idleCount: Int { active.filter { $0.member.state.countsIdle }.count }

  /// Every member, leaving or not, until it has exited: what `max` bounds, so that a reload
  /// or a retirement replaces workers as the old ones go, never with more processes.
  var processes: Int { members.count }

  var nameText: String { String(decoding: name, as: UTF8.self) }
}

/// Where a pool stands.
enum PoolPhase: Equatable {
  case serving
  /// `pool stop`: its workers are leaving; `requesters` get its last summary once all are gone.
  case stopping(graceful: Bool, requesters: [ClientID])
}

/// One worker of a pool.
struct PoolMember {
  var state: PoolMemberState
  let generation: UInt32
  /// BUSY=1 messages counted.
  var requests: UInt32 = 0
  /// Retired after this many requests; nil: never.
  let requestLimit: UInt32?
  /// The last STATUS= text.
  var status: [UInt8] = []
  /// When it was asked for (monotonic ms).
  let startedAt: Int64
  /// It has reported something: it is alive and speaks the protocol.
  var heardFrom = false

  /// Over its request limit.
  var spent: Bool { requestLimit.map { requests >= $0 } ?? false }
}

/// The legal states of a pool worker.
enum PoolMemberState: Equatable {
  /// Forked, not heard from yet: counted idle, so that the ramp does not overshoot.
  case starting
  case idle
  /// Serving; `since` is its BUSY=1 or its last WATCHDOG=1 since.
  case busy(since: Int64)
  /// Serving, and to be stopped at its next IDLE=1, `because`.
  case finishing(because: PoolDeparture.Reason, since: Int64)
  /// Signalled to stop (SIGTERM, or SIGQUIT for a timeout), `because`; SIGKILL follows after
  /// the grace (Spawn.swift's deadlines).
  case stopping(because: PoolDeparture.Reason)
  /// Said STOPPING=1 itself: it leaves on its own, and is replaced.
  case leaving

  var countsIdle: Bool {
    switch self {
    case .starting, .idle: true
    case .busy, .finishing, .stopping, .leaving: false
    }
  }

  /// Told to go, or going by itself: no longer one of the workers the pool keeps.
  var isLeaving: Bool {
    switch self {
    case .starting, .idle, .busy: false
    case .finishing, .stopping, .leaving: true
    }
  }

  var busySince: Int64? {
    switch self {
    case .busy(let since), .finishing(_, let since): since
    case .starting, .idle, .stopping, .leaving: nil
    }
  }

  /// Why it goes, when the pool sent it away.
  var reason: PoolDeparture.Reason? {
    switch self {
    case .finishing(let r, _), .stopping(let r): r
    case .starting, .idle, .busy, .leaving: nil
    }
  }

  var listed: PoolWorkerEntry.State {
    switch self {
    case .starting: .starting
    case .idle: .idle
    case .busy: .busy
    case .finishing, .stopping, .leaving: .stopping
    }
  }
}
