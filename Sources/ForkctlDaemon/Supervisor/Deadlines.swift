// Deadlines on the answers the daemon waits for from its process objects: a template (or an
// unrun process object) asked to fork must report within `limits.templateTimeoutMilliseconds`
// of being asked, or of its previous report while more forks wait behind it. One that does
// not (stopped with SIGSTOP, which any admitted user may send it, or wedged) is killed, and
// every request queued on it is answered with what happened instead of waiting for ever
// (issue 11, item 6). Killed, not just given up on: the commands already written to its
// control socket would otherwise run when it wakes, after their clients were told they
// failed. A stopped process dies of SIGKILL without running again (signal(7)).
import ForkctlSys

extension Supervisor {
  /// The clock reached `now`: kill deadlines of spawned programs, and reports overdue.
  mutating func tick(now: Int64) {
    deadlinesPassed(now: now)
    reportsOverdue(now: now)
    poolsDue(now: now)
  }

  /// `parent` was asked to fork: it must answer in time. With forks already in flight, the
  /// clock runs from its last answer.
  mutating func expectReport(from parent: UInt64) {
    if reportDeadlines[parent] == nil {
      reportDeadlines[parent] = effects.now() + limits.templateTimeoutMilliseconds
    }
  }

  /// `parent` answered one fork: the next in its queue has the whole bound again.
  mutating func reportArrived(from parent: UInt64) {
    let waiting = registry[parent].map { !$0.forks.isEmpty } ?? false
    reportDeadlines[parent] = waiting ? effects.now() + limits.templateTimeoutMilliseconds : nil
  }

  /// When the next report is due, if any fork is in flight.
  var nextReportDeadline: Int64? { reportDeadlines.values.min() }

  private mutating func reportsOverdue(now: Int64) {
    for (id, deadline) in reportDeadlines where deadline <= now {
      reportDeadlines[id] = nil
      let ms = limits.templateTimeoutMilliseconds
      let bound = ms % 1000 == 0 ? "\(ms / 1000)" : "\(Double(ms) / 1000)"
      if startingHosts[id] != nil {
        hostStartOverdue(id, bound: bound)
        continue
      }
      // A load is not bounded (an init may take long): its answer restarts the clock.
      guard let o = registry[id], !o.forks.isEmpty, o.control == .open, o.loads.isEmpty else { continue }
      if let pid = o.phase.livePID { try? signalProcess(pid, Signal.kill.rawValue) }
      let what = id == registry.defaultTemplate ? "the default template (process \(id))" : describe(id)
      effects.log(.warning, "\(what) did not answer a fork within \(bound) s: killed it")
      controlClosed(
        id,
        because: "\(what) did not answer within \(bound) s (it is stopped or wedged); "
          + "it was killed, and what was queued on it did not run")
    }
  }
}
