// Language hosts (issue 14): templates that are Python or Perl processes. A host forks with its
// language's own fork, so its workers are its children, not the daemon's: it announces each one
// (hostChild, with a pidfd opened before it could reap it) and reports its end (childEnded)
// before it reaps it. The daemon keeps the pidfd until the end is known, signals the worker only
// through it (after the host reaps, the pid may name another process), and takes the report as
// its own waitid result, once. A host that dies leaves its children to the daemon, the
// subreaper, whose own reaping then gives their exact status.
import ForkctlSys
import ForkctlWire

/// A child of a language host, by the pid the host announced.
struct HostedChild {
  /// pidfd_open(2) of the child, from the host's hostChild report: the daemon's to close.
  var pidfd: FileDescriptor
  /// The process object that announced it (a host template, or an unrun process forked from one).
  var host: UInt64
  var state: State

  enum State: Equatable {
    /// The host reaps it and reports its end; if the host dies first, the daemon reaps it.
    case announced
    /// Its end came by childEnded: the host reaps it, and should the host die before, the
    /// daemon's own reaping of the zombie is ignored.
    case reported
  }
}

/// A host made by exec, until it says hostReady: the exec it answers.
struct StartingHost {
  var client: ClientID
  var spec: HostSpec
}

extension Supervisor {
  /// The exec of host `id` is answered at its hostReady, or with why it could not start: an
  /// interpreter too old for the script, a missing module (Socket::MsgHdr), or none that
  /// speaks the protocol. The template's timeout bounds the wait.
  mutating func awaitHostReady(_ id: UInt64, _ spec: HostSpec, _ client: ClientID) {
    startingHosts[id] = StartingHost(client: client, spec: spec)
    reportDeadlines[id] = effects.now() + limits.templateTimeoutMilliseconds
  }

  /// Host `id` said hostReady. Only the first time, of a host made by exec, answers anything
  /// (a host remade for a pool's reload says it too, to nobody).
  mutating func hostReadied(_ id: UInt64) {
    guard let starting = startingHosts.removeValue(forKey: id) else { return }
    reportArrived(from: id)
    guard let pid = registry[id]?.phase.livePID else { return }
    effects.reply(starting.client, .created(id: id, pid: pid))
  }

  /// Host `id` ended with `status`; if it had not said hostReady, its exec fails, and it is
  /// forgotten: nobody learned its id.
  mutating func hostEndedStarting(_ id: UInt64, _ status: ExitStatus) {
    guard let starting = startingHosts.removeValue(forKey: id) else { return }
    reportDeadlines[id] = nil
    abandon(id)
    let how: String
    switch status {
    case .exited(let code): how = "exited with status \(code)"
    case .signaled(let signal, _): how = "was killed by signal \(signal)"
    }
    failStartingHost(starting, "it \(how) before it served")
  }

  /// Host `id` did not say hostReady in time: killed, and its exec fails.
  mutating func hostStartOverdue(_ id: UInt64, bound: String) {
    guard let starting = startingHosts.removeValue(forKey: id) else { return }
    abandon(id)
    failStartingHost(starting, "it did not say it was ready within \(bound) s, and was killed")
  }

  private mutating func failStartingHost(_ starting: StartingHost, _ what: String) {
    let interpreter = String(decoding: starting.spec.interpreter, as: UTF8.self)
    fail(
      starting.client, .templateFailed,
      "cannot start a \(starting.spec.language.name) host with \(interpreter): \(what) "
        + "(what it said is on the daemon's standard error, its log)")
  }

  /// Starts a language host as the template of process object `id`: its process, or nil after
  /// replying why not.
  mutating func startHost(id: UInt64, _ host: HostSpec, control: FileDescriptor, _ client: ClientID) -> Int32? {
    do {
      return try effects.startHost(id: id, host, control: control)
    } catch {
      let interpreter = String(decoding: host.interpreter, as: UTF8.self)
      let reason: String
      switch error {
      case .noSuchFileOrDirectory, .permissionDenied, .execFormatError:
        reason = "\(interpreter) is not an executable file (\(Sys.describe(error)))"
      default:
        reason = "\(interpreter) did not start: \(Sys.describe(error))"
      }
      effects.reply(client, .failure(.templateFailed, "cannot start a \(host.language.name) host: \(reason)"))
      return nil
    }
  }

  /// Host `id` announced `pid` as its own child, with `pidfd` of it. Both are checked: a host
  /// runs its user's code, and a pid or pidfd of another process (another user's worker) would
  /// let it report a status that is not that process's, or have the daemon signal it.
  mutating func hostChildAnnounced(_ pid: Int32, pidfd: FileDescriptor, from id: UInt64) {
    guard let o = registry[id], o.host != nil, let hostPID = o.phase.livePID else {
      effects.close(pidfd)
      return hostBrokeProtocol(id, "it announced a child (hostChild) but is no language host")
    }
    let process = effects.processAndParent(ofPIDFD: pidfd)
    // The process object that announced pid itself (a spawn's `spawning`, a fork's report) is
    // one forked from this host.
    let vouched = registry.id(ofPID: pid).flatMap { registry[$0]?.parent } == id
    switch process {
    case (pid, hostPID)?:
      break
    case (pid, daemonPID)?:
      // The host died since, and the kernel gave the child to the daemon, whose own reaping
      // will give its status.
      effects.close(pidfd)
      return
    case nil where !effects.hasEnded(pidfd: pidfd):
      // Neither reaped nor readable in /proc (no /proc mounted): taken on the host's word.
      break
    case _ where vouched && effects.hasEnded(pidfd: pidfd):
      // Ended, and perhaps reaped while /proc was read: a child that ends at once is reported
      // (childEnded) and reaped by its host right after this report, which the daemon may read
      // only later, so /proc can no longer tell. Its own announcement vouches for it.
      break
    default:
      effects.close(pidfd)
      return hostBrokeProtocol(id, "it announced pid \(pid) (hostChild) with a pidfd of no child of its own")
    }
    forgetReapedChildren(of: id)
    // A pid announced again: the first child was reaped unreported and its pid reused.
    if let old = hosted[pid] { effects.close(old.pidfd) }
    hosted[pid] = HostedChild(pidfd: pidfd, host: id, state: .announced)
  }

  /// Host `id` reports that its child `pid` ended with `status`, before reaping it.
  mutating func hostChildEnded(_ pid: Int32, _ status: ExitStatus, from id: UInt64) {
    guard let child = hosted[pid], child.host == id else {
      return hostBrokeProtocol(id, "it reported the end of pid \(pid), which it never announced (childEnded)")
    }
    // A second report of the same end: the first one counted.
    guard child.state == .announced else { return }
    hosted[pid]?.state = .reported
    forgetReapedChildren(of: id)
    processEnded(pid, status)
  }

  /// `pid` ended with `status`: reaped by the daemon, or reported by its host. When it was a
  /// host itself, what it announced is settled (hostReaped).
  mutating func processEnded(_ pid: Int32, _ status: ExitStatus) {
    let host = registry.id(ofPID: pid).flatMap { id in registry[id]?.host != nil ? id : nil }
    childExited(pid: pid, status: status)
    if let host { hostReaped(host) }
  }

  /// Whether the daemon's own reaping of `pid` is to be ignored: its host reported its end
  /// already, and this is that process (its pidfd still names an unreaped one: the zombie the
  /// host left when it died between its report and its reaping). A pid reused by a new child
  /// of the daemon is not ignored.
  mutating func ignoresReap(of pid: Int32) -> Bool {
    guard let child = hosted.removeValue(forKey: pid) else { return false }
    defer { effects.close(child.pidfd) }
    return child.state == .reported && isUnreaped(child)
  }

  /// Whether the process of a hosted child exists still, alive or a zombie: signal 0 through its
  /// pidfd fails with ESRCH only once it has been reaped (pidfd_send_signal(2)).
  private mutating func isUnreaped(_ child: HostedChild) -> Bool {
    (try? effects.signal(pidfd: child.pidfd, 0)) != nil
  }

  /// Forgets the children whose end host `id` reported and which it has reaped since: their
  /// pidfds say so. A host reaps right after its report, so few are ever kept.
  private mutating func forgetReapedChildren(of id: UInt64) {
    for (pid, child) in hosted where child.host == id && child.state == .reported && !isUnreaped(child) {
      hosted[pid] = nil
      effects.close(child.pidfd)
    }
  }

  /// The process of host `id` was reaped: its children that were not reaped are the daemon's
  /// now (the kernel gave them to the subreaper when the host died), and its reaping decides
  /// for them; those reaped already are forgotten.
  mutating func hostReaped(_ id: UInt64) {
    forgetReapedChildren(of: id)
  }

  /// Whether `pid` is a process the daemon has not seen reaped, alive or not: for a host's child
  /// the host's word and its pidfd, for the daemon's own child waitid(2).
  mutating func isUnreapedChild(_ pid: Int32) -> Bool {
    guard let child = hosted[pid] else { return effects.isUnreapedChild(pid) }
    return child.state == .announced && isUnreaped(child)
  }

  /// Sends `signal` to the process of pid `pid`: through its pidfd when it is a host's child.
  mutating func signalProcess(_ pid: Int32, _ signal: Int32) throws(Errno) {
    guard let child = hosted[pid] else { return try effects.signal(pid, signal) }
    try effects.signal(pidfd: child.pidfd, signal)
  }

  /// Sends `signal` to the process group `pid` leads (effects.signalGroup). A host's child is
  /// checked through its pidfd first, which is readable once it has ended: while it runs its
  /// host does not reap it, so its pid, and its group's id, name nothing else. It may end and be
  /// reaped between the check and the signal; a process group has no descriptor to close that
  /// window. Once the leader has ended, its group's other members get nothing.
  mutating func signalProcessGroup(_ pid: Int32, _ signal: Int32) {
    if let child = hosted[pid], child.state == .reported || effects.hasEnded(pidfd: child.pidfd) { return }
    effects.signalGroup(pid, signal)
  }

  /// A process object broke the protocol: its control socket closes, as for any violation.
  private mutating func hostBrokeProtocol(_ id: UInt64, _ what: String) {
    effects.log(.warning, "\(describe(id)) broke the protocol: \(what); closing its control socket")
    controlClosed(id, because: "\(describe(id)) broke the protocol: \(what)")
  }
}
