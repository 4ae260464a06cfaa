// The lifecycle as a table of (phase, event) → phase, in the spirit of s6-supervise's
// `actions[state][event]`: every phase a process object can be in, put through every event
// that can reach it, with the phase it must end in. A new phase or event is a new row or
// column here, and a missing cell fails the completeness test.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

/// The phases a test can put a worker in, as `list` and the code name them.
enum PhaseName: String, CaseIterable, CustomStringConvertible {
  case starting, ready, running, started, exited, forgotten
  var description: String { rawValue }
}

extension Supervisor {
  /// The phase of `id`, with `running` split by whether the exec outcome is known.
  func phaseName(_ id: UInt64) -> PhaseName {
    guard let o = registry[id] else { return .forgotten }
    switch o.phase {
    case .starting: return .starting
    case .ready: return .ready
    case .running(_, let run):
      if case .pending = run.outcome { return .running }
      return .started
    case .exited: return .exited
    }
  }
}

/// The events of the table, each applied to worker `id` (pid `pid`) of the default template.
enum TableEvent: String, CaseIterable, CustomStringConvertible {
  case forkReport, forkRefused, parentDied, runRequest, execSucceeded, execFailed, controlClosed
  case reaped, killRequest, clientGone
  var description: String { rawValue }

  func apply(to s: inout TestSupervisor, id: UInt64, pid: Int32) {
    let template = s.defaultTemplate ?? 1
    switch self {
    case .forkReport: s.handle(.forked(pid: pid), from: template)
    case .forkRefused: s.handle(.refused(.templateFailed, message: b("no")), from: template)
    case .parentDied: s.controlClosed(template)
    case .runRequest: s.request(.run(ref: ref(id), spec: RunSpec(program: b("prog"))), client: 2)
    case .execSucceeded: s.statusPipeResult(id, failure: nil)
    case .execFailed: s.handle(.execFailed(errno: Errno.noSuchFileOrDirectory.rawValue), from: id)
    case .controlClosed: s.controlClosed(id)
    case .reaped: s.childExited(pid: pid, status: .exited(0))
    case .killRequest: s.request(.kill(signal: Signal.terminate.rawValue, refs: [ref(id)]), client: 3)
    case .clientGone: s.clientGone(1)
    }
  }
}

@Suite("Supervisor: the lifecycle table")
struct PhaseTableTests {
  static let pid: Int32 = 700

  /// A worker of the default template put in `phase` by the requests and reports that
  /// lead there (client 1 made it).
  static func worker(in phase: PhaseName) throws -> (TestSupervisor, UInt64) {
    var s = makeSupervisor()
    switch phase {
    case .starting, .forgotten:
      s.request(.new(name: []), client: 1)
      guard case .fork(let id) = s.effects.commands(to: s.defaultTemplate!).last else {
        throw HarnessError("no fork")
      }
      return (s, id)
    case .ready, .running, .started, .exited:
      let id = try s.newWorker(pid: pid, client: 1)
      if phase == .ready { return (s, id) }
      s.request(.run(ref: ref(id), spec: RunSpec(program: b("prog"))), client: 1)
      if phase == .running { return (s, id) }
      s.controlClosed(id)
      if phase == .started { return (s, id) }
      s.childExited(pid: pid, status: .exited(0))
      return (s, id)
    }
  }

  /// Every cell: the phase after the event. Reports go to the template (forkReport,
  /// forkRefused, parentDied) and touch only a starting child; the rest go to the worker.
  static let table: [PhaseName: [TableEvent: PhaseName]] = [
    .starting: [
      .forkReport: .ready, .forkRefused: .forgotten, .parentDied: .forgotten, .runRequest: .starting,
      .execSucceeded: .starting, .execFailed: .starting, .controlClosed: .starting, .reaped: .starting,
      .killRequest: .starting, .clientGone: .starting,
    ],
    .ready: [
      .forkReport: .ready, .forkRefused: .ready, .parentDied: .ready, .runRequest: .running,
      .execSucceeded: .ready, .execFailed: .ready, .controlClosed: .ready, .reaped: .exited,
      .killRequest: .ready, .clientGone: .ready,
    ],
    .running: [
      .forkReport: .running, .forkRefused: .running, .parentDied: .running, .runRequest: .running,
      .execSucceeded: .started, .execFailed: .started, .controlClosed: .started, .reaped: .exited,
      .killRequest: .running, .clientGone: .running,
    ],
    .started: [
      .forkReport: .started, .forkRefused: .started, .parentDied: .started, .runRequest: .started,
      .execSucceeded: .started, .execFailed: .started, .controlClosed: .started, .reaped: .exited,
      .killRequest: .started, .clientGone: .started,
    ],
    .exited: [
      .forkReport: .exited, .forkRefused: .exited, .parentDied: .exited, .runRequest: .exited,
      .execSucceeded: .exited, .execFailed: .exited, .controlClosed: .exited, .reaped: .exited,
      .killRequest: .exited, .clientGone: .exited,
    ],
  ]

  static let cells: [(PhaseName, TableEvent)] = table.keys.sorted { $0.rawValue < $1.rawValue }.flatMap {
    phase in TableEvent.allCases.map { (phase, $0) }
  }

  @Test("the table names every phase a worker can be put in and every event, once")
  func complete() {
    let phases = Set(PhaseName.allCases).subtracting([.forgotten])
    #expect(Set(Self.table.keys) == phases)
    for (phase, row) in Self.table { #expect(Set(row.keys) == Set(TableEvent.allCases), "row \(phase)") }
  }

  @Test("(phase, event) → phase", arguments: cells)
  func transition(phase: PhaseName, event: TableEvent) throws {
    var (s, id) = try Self.worker(in: phase)
    #expect(s.phaseName(id) == phase, "setup")
    event.apply(to: &s, id: id, pid: Self.pid)
    #expect(s.phaseName(id) == Self.table[phase]?[event], "\(phase) + \(event)")
    #expect(s.effects.sendsWithWrongFDCount.isEmpty)
  }

  @Test("forks in flight are the starting objects: early exits are kept only while there are any")
  func earlyExitsOnlyWhileStarting() throws {
    var s = makeSupervisor()
    s.childExited(pid: 900, status: .exited(1))  // nothing in flight: an orphan, dropped
    #expect(s.registry.starting == 0 && !s.registry.hasEarlyExit(pid: 900))
    let (t, _) = try Self.worker(in: .starting)
    s = t
    #expect(s.registry.starting == 1)
    s.childExited(pid: Self.pid, status: .exited(3))  // before its fork report
    #expect(s.registry.hasEarlyExit(pid: Self.pid))
    s.handle(.forked(pid: Self.pid), from: s.defaultTemplate!)
    #expect(s.registry.starting == 0 && !s.registry.hasEarlyExit(pid: Self.pid))
    #expect(s.info(2)?.status == .exited(3))
  }
}
