// One process object and the one place that lists its legal states. Each part of its state is
// a type of its own, so a new phase (a template loading code, an idle or busy pool worker) is a
// compile error at every switch that must handle it, as a new row is in s6-supervise's
// state-by-event table.
import ForkctlWire

/// One process object: a template, the default template, or a worker forked from one.
struct ProcessObject {
  let id: UInt64
  /// Changed only through Registry.update, which keeps the name index true: a ready pool's
  /// member takes the name (and a spawn's origin) of the request it is handed to.
  var name: [UInt8]
  var origin: Origin
  /// The process object it was forked from; 0 for a template.
  let parent: UInt64
  /// The user whose connection made it; nil for the default template.
  let owner: UInt32?
  var phase: Phase
  var control: ControlSocket
  /// Who gets its exit status.
  var status: StatusRecipient = .anyWaiter
  /// What was sent to it (or to the template it was forked from, which it inherited).
  var holdings = Holdings()
  /// Forks (and spawns) asked of this process object, answered by its reports in order.
  var forks: [PendingFork] = []
  /// Loads asked of it, answered by its `loaded` and `loadRefused` reports in order.
  var loads: [PendingLoad] = []
  /// Starting, the fork that makes it, once its parent died before reporting it: its own
  /// announcement (it was born) or its control socket's end of file (it never was) decides.
  var orphanedFork: OrphanedFork?
  /// The files it and its parent map, for `audit` (Telemetry.swift).
  var mappings = MappingSnapshots()
  /// The language when it is a language host, or forked from one (Hosts.swift); nil for a
  /// native process object.
  var host: HostLanguage?
}

/// How a process object came to be.
enum Origin: Equatable {
  /// The template `new` and `spawn` fork from when no other is named.
  case defaultTemplate
  /// A fresh template, made by `exec`.
  case template
  /// Forked from a template or another unrun process object, by `new` or `fork`.
  case fork
  /// Made by `spawn`: the client learns of it once its program runs, and it is attached.
  case spawn

  var role: ProcessEntry.Role {
    switch self {
    case .defaultTemplate: .defaultTemplate
    case .template: .template
    case .fork, .spawn: .forked
    }
  }
}

/// The lifecycle of a process object:
///
///     starting ──fork report──▶ ready ──run──▶ running ──reaped──▶ exited
///        │  └─────spawned report (its run was queued with the fork)──▶ running
///        └──refused, or its parent died──▶ (discarded)
///
/// A template is started directly in `ready`. Any live phase goes to `exited` when reaped.
enum Phase {
  /// Its parent was asked to fork it; the pid comes with the parent's report. A spawn's run
  /// is queued behind the fork already; `then` is what happened before the pid was known.
  case starting(run: Run?, then: Deferred)
  /// Alive and not run: takes descriptors, strings, forks and one run.
  case ready(pid: Int32)
  /// Its program was started (or is being started: see `Run.outcome`).
  case running(pid: Int32, Run)
  /// Reaped. A run's exec outcome can still be pending: a program that exits at once can be
  /// reaped before its control socket's end of file is read.
  case exited(pid: Int32, ExitStatus, run: Run?)

  /// The pid, once known.
  var pid: Int32? {
    switch self {
    case .starting: nil
    case .ready(let pid), .running(let pid, _), .exited(let pid, _, _): pid
    }
  }

  /// The live pid: nil while starting and once exited.
  var livePID: Int32? {
    switch self {
    case .ready(let pid), .running(let pid, _): pid
    case .starting, .exited: nil
    }
  }

  var run: Run? {
    get {
      switch self {
      case .starting(let run, _), .exited(_, _, let run): run
      case .running(_, let run): run
      case .ready: nil
      }
    }
    set {
      switch self {
      case .starting(_, let then): self = .starting(run: newValue, then: then)
      case .running(let pid, let old): self = .running(pid: pid, newValue ?? old)
      case .exited(let pid, let status, _): self = .exited(pid: pid, status, run: newValue)
      case .ready: break
      }
    }
  }

  var exitStatus: ExitStatus? {
    if case .exited(_, let status, _) = self { return status }
    return nil
  }

  var isExited: Bool { exitStatus != nil }

  /// A run whose exec outcome is not known yet.
  var awaitsExec: Bool {
    if case .pending? = run?.outcome { return true }
    return false
  }

  /// Unrun: starting or ready, with no run queued.
  var isUnrun: Bool {
    switch self {
    case .starting(let run, _): run == nil
    case .ready: true
    case .running, .exited: false
    }
  }

  /// The state `list` shows.
  var listed: ProcessEntry.State {
    switch self {
    case .starting: .starting
    case .ready: .ready
    case .running: .running
    case .exited: .exited
    }
  }
}

/// What happened to a starting process object before its pid was known, done on arrival.
struct Deferred: OptionSet {
  let rawValue: UInt8
  /// Its spawning client went away: end it as soon as it exists.
  static let terminate = Deferred(rawValue: 1 << 0)
  /// Its status pipe said the program exec'd: `created` (which needs the pid) waits.
  static let execSucceeded = Deferred(rawValue: 1 << 1)
}

/// A program run in a process object.
struct Run {
  var program: [UInt8]
  /// run --keep-control: the control socket stays open into the program.
  var keepsControl: Bool
  var outcome: ExecOutcome
}

/// Whether the program's execve has been seen to succeed or fail.
enum ExecOutcome {
  /// Not known yet; `client` (nil once it left) gets the answer.
  case pending(client: ClientID?, waitForExit: Bool)
  case started
  case failed
}

/// The daemon's end of a process object's control socket.
enum ControlSocket: Equatable {
  /// Never had one: a spawn started by its template directly, as posix_spawn does.
  case none
  /// Open and watched by the event loop.
  case open
  /// Closed: the process exec'd, exited, or the daemon closed it.
  case closed
}

/// Who gets a process object's exit status.
enum StatusRecipient: Equatable {
  /// Not reported yet: kept for whoever waits.
  case anyWaiter
  /// A connection that waits for it (spawn, run --wait) and may forward signals until then.
  case attached(Attachment)
  /// Reported by a wait, or owed to nobody (its client left): kept only for repeated waits,
  /// among the `retainedAfterWait` most recently reported.
  case reported
  /// Killed because its client left before learning its id: forgotten once reaped.
  case abandoned
  /// run --detach: nobody will wait; forgotten once reaped and its exec outcome known.
  case detached

  var attachedClient: ClientID? {
    if case .attached(let a) = self { return a.client }
    return nil
  }
}

/// A connection attached to a process object.
struct Attachment: Equatable {
  var client: ClientID
  /// What happens to the program if the connection goes first.
  var onDisconnect: OnDisconnect
  /// The `created` reply carries a pidfd of the program.
  var wantsPIDFD: Bool

  enum OnDisconnect: Equatable {
    /// spawn without --detach: SIGTERM, then SIGKILL after the grace.
    case terminate
    /// spawn --detach, run --wait: the program runs on, its status kept for a wait.
    case detach
  }
}

/// What a process object holds of what was sent to it, counted against the limits.
struct Holdings: Equatable {
  var fds = 0
  var arguments = 0
  var argumentBytes = 0
  /// The paths of the libraries it loaded, in order: a call needs one.
  var libraries: [[UInt8]] = []
}

/// A load asked of a process object, and who is told how it went.
struct PendingLoad {
  /// Nil for a load the daemon asked itself (a template remade for a pool's reload).
  var client: ClientID?
  var path: [UInt8]
  /// An eval (Eval.swift), not a load: nothing is added to the libraries.
  var isEval = false
}

/// A fork asked of a process object: the child's id, and the client told when it exists
/// (nil: nobody, as for a spawn, or its client left).
/// A fork whose parent went away before reporting it, with why: the reason its client is
/// given if the child turns out never to have been born.
struct OrphanedFork {
  var fork: PendingFork
  var parentGone: String
}

struct PendingFork {
  var child: UInt64
  var client: ClientID?
  /// Its number among every fork asked (Registry.askFork), to tell its child's early exit
  /// from an older process's with the same pid.
  var sequence: UInt64
}
