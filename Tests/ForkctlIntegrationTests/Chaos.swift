// A chaos actor for the fuzzer and the load test (issue 11, "Done when"): a thread that
// SIGKILLs, SIGSTOPs and SIGCONTs the daemon's templates and process objects at random
// moments, and the programs whose statuses it then checks: each writes its token and pid to
// a log and exits with a code derived from its token, so that a status reported for the
// wrong process object, or for a program that never ran, shows.
import ForkctlSys
import ForkctlWire
import Glibc
import Synchronization

/// The program a chaos run gives token `token`: `sh -c 'echo TOKEN $$ >> LOG; exit CODE'`.
struct ChaosProgram {
  let log: String

  /// 1 to 100: never 125 to 127, which forkctl spawn exits with when it fails.
  static func code(_ token: Int) -> Int32 { Int32(token % 100 + 1) }

  func arguments(_ token: Int) -> [String] {
    ["-c", "echo \(token) $$ >> \(log); exit \(Self.code(token))"]
  }

  func spec(_ token: Int, wait: Bool = false) -> RunSpec {
    RunSpec(
      program: Array("/bin/sh".utf8), arguments: arguments(token).map { Array($0.utf8) },
      environment: [Array("PATH=/bin:/usr/bin".utf8)], waitForExit: wait)
  }

  /// Token → the pid its program ran as, from the log.
  func ran() -> [Int: Int32] {
    var out: [Int: Int32] = [:]
    for line in readFile(log).split(separator: "\n") {
      let f = line.split(separator: " ")
      if f.count == 2, let t = Int(f[0]), let p = Int32(f[1]) { out[t] = p }
    }
    return out
  }
}

/// What the actor may do to a process: `forkOnly` ones (templates, which the test only forks)
/// may be left stopped, since the daemon bounds a fork by --template-timeout; the others run
/// programs, whose waits have no bound but the program's, so they are always continued.
final class ChaosActor: Sendable {
  private struct State {
    var targets: [(pid: Int32, forkOnly: Bool)] = []
    var leftStopped: [Int32] = []
    var done = false
    var actions: [String: Int] = [:]
  }
  private let state = Mutex(State())
  let daemon: Int32
  /// The longest a process that runs programs is kept stopped, in ms.
  static let longestStopMilliseconds = 300

  init(daemon: Int32) { self.daemon = daemon }

  func add(_ pid: Int32, forkOnly: Bool) {
    state.withLock { $0.targets.append((pid, forkOnly)) }
  }

  func stop() { state.withLock { $0.done = true } }

  var actions: [String: Int] { state.withLock { $0.actions } }

  /// Acts until `stop()`, one action every 1 to 12 ms, drawn from `seed`. A pid is signalled
  /// only while /proc shows it a child of the daemon: the pid of a process that ended may
  /// have been reused by a process of the test.
  func run(seed: UInt64) {
    var rng = FuzzRandom(seed: seed)
    var stoppedOne = false
    while !state.withLock({ $0.done }) {
      usleep(UInt32(rng.within(1_000...12_000)))
      // One action in three goes to a template, where most forks are in flight; the others
      // mostly find a process that has ended or is about to.
      var targets = state.withLock { $0.targets }
      if rng.oneIn(3) && targets.contains(where: \.forkOnly) { targets = targets.filter(\.forkOnly) }
      guard !targets.isEmpty else { continue }
      let (pid, forkOnly) = targets[rng.below(targets.count)]
      guard let f = statFields(pid), f.count > 1, Int32(f[1]) == daemon, f[0] != "Z" else {
        // Ended: not a target any more.
        state.withLock { $0.targets.removeAll { $0.pid == pid } }
        continue
      }
      let action: String
      // The first template it acts on is left stopped, so that every run tests the bound
      // on forks from a template that does not answer.
      switch stoppedOne || !forkOnly ? rng.below(4) : 1 {
      case 0:
        kill(pid, SIGKILL)
        action = "SIGKILL"
      case 1 where forkOnly:
        // Left alone from now on: only the daemon's --template-timeout ends it.
        kill(pid, SIGSTOP)
        stoppedOne = true
        state.withLock { s in
          s.targets.removeAll { $0.pid == pid }
          s.leftStopped.append(pid)
        }
        action = "SIGSTOP left"
      default:
        kill(pid, SIGSTOP)
        usleep(UInt32(rng.below(Self.longestStopMilliseconds) * 1000))
        kill(pid, SIGCONT)
        action = "SIGSTOP, SIGCONT"
      }
      state.withLock { $0.actions[action, default: 0] += 1 }
    }
  }

  /// Runs the actor on a thread of its own until `end`.
  func begin(seed: UInt64) -> pthread_t {
    var t = pthread_t()
    let me = Unmanaged.passRetained(ChaosRun(self, seed)).toOpaque()
    let rc = pthread_create(
      &t, nil,
      { raw in
        let job = Unmanaged<ChaosRun>.fromOpaque(raw!).takeRetainedValue()
        job.actor.run(seed: job.seed)
        return nil
      }, me)
    precondition(rc == 0, "pthread_create: \(rc)")
    return t
  }

  /// Stops the actor, joins its thread, and continues what it left stopped.
  func end(_ thread: pthread_t) {
    stop()
    pthread_join(thread, nil)
    continueAll()
  }

  /// Continues every target, at the end, so that nothing the test left stopped outlives it.
  func continueAll() {
    for pid in state.withLock({ $0.targets.map(\.pid) + $0.leftStopped }) {
      if let f = statFields(pid), f.count > 1, Int32(f[1]) == daemon { kill(pid, SIGCONT) }
    }
  }
}

private final class ChaosRun {
  let actor: ChaosActor
  let seed: UInt64
  init(_ actor: ChaosActor, _ seed: UInt64) {
    self.actor = actor
    self.seed = seed
  }
}
