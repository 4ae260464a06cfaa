// The process objects' descriptors and the kernel's news of processes: control sockets
// (reports in, commands out), exec status pipes, and SIGCHLD through the signalfd, which
// reaps every child (the daemon is the subreaper and the parent of every worker).
import ForkctlSys
import ForkctlWire

extension EventLoop {
  /// Reads the signalfd: SIGCHLD reaps, the others stop the daemon.
  func takeSignals() throws(Errno) {
    while let sig = try signals.next() {
      if sig == .child {
        try reapChildren()
      } else {
        log(.notice, "got \(sig.description): shutting down")
        stopping = true
      }
    }
  }

  func reapChildren() throws(Errno) {
    // What a worker said before it ended is read before its end: its last lines are kept.
    if !notifyPending.isEmpty { drainNotify() }
    // Each child is handled while it is still a zombie and reaped after: until then its pid
    // names it and no newer process (waitid(2), WNOWAIT), so what the supervisor does with
    // that pid (a signal to its group, a look at /proc) reaches no stranger.
    while let (pid, v) = try Sys.exitedChild() {
      let status: ExitStatus =
        if let code = v.exitCode { .exited(code) } else { .signaled(v.signal ?? 0, coreDumped: v.coreDumped) }
      supervisor.handle(.childExited(pid: pid, status: status))
      try Sys.reapChild(pid)
    }
  }

  func serviceControl(_ id: UInt64, _ interest: Epoll.Interest) {
    guard let p = controls[id] else { return }
    if interest.contains(.writable) && !flushControl(id, p) {
      return supervisor.handle(.controlClosed(id))
    }
    guard !interest.intersection([.readable, .hangup, .error]).isEmpty else { return }
    var open = true
    while true {
      // A process object sends no descriptor but a language host's pidfd of its child (hostChild,
      // whose decoding checks that it has exactly one): losing some is as bad as a hang-up.
      if open, case .open = p.readAvailable() {} else { open = false }
      let frame: Frame
      let pidfd: FileDescriptor?
      do {
        guard let (next, fds) = try p.nextFrame() else { break }
        if !fds.isEmpty && next.type != .hostChild {
          for f in fds { f.closeQuietly() }
          open = false
          break
        }
        frame = next
        pidfd = fds.first
      } catch {
        log(.warning, "process \(id) broke the protocol: \(error.description); closing its control socket")
        open = false
        break
      }
      guard let report = try? Report(frame) else {
        log(.warning, "process \(id) sent a frame that is not a report; closing its control socket")
        pidfd?.closeQuietly()
        open = false
        break
      }
      if case .hostChild(let pid) = report, let pidfd {
        supervisor.handle(.hostChild(pid: pid, pidfd: pidfd, from: id))
      } else {
        supervisor.handle(.report(report, from: id))
      }
      if controls[id] == nil { return }
    }
    if !open { supervisor.handle(.controlClosed(id)) }
  }

  /// Writes what is queued for process object `id` (after queueing `frame` with `fds`,
  /// which the connection then owns), and watches for writability while it must.
  @discardableResult
  func flushControl(
    _ id: UInt64, _ p: Connection, queueing frame: Frame? = nil, fds: [FileDescriptor] = []
  ) -> Bool {
    let before = p.wantsWrite
    let result = frame.map { p.enqueue($0, fds: fds) } ?? p.flush()
    if p.wantsWrite != before { rewatch(p.fd, p.wantsWrite ? [.readable, .writable] : .readable, .control(id)) }
    return result != .broken
  }

  /// A pool worker's notify socket became readable. It is read a few milliseconds later,
  /// with every other that became readable meanwhile: watched one-shot, a busy worker's
  /// BUSY=1 and IDLE=1 then cost the daemon one wake-up per batch, not one per datagram
  /// (a socket pair's queue is bounded by the sender's buffer, not by max_dgram_qlen, so
  /// hundreds wait without blocking the worker: unix(7)).
  func serviceNotify(_ id: UInt64) {
    notifyPending.append(id)
    if notifyDrainAt == nil { notifyDrainAt = Sys.monotonicMilliseconds() + Self.notifyBatchMilliseconds }
  }

  /// How long a readable notify socket waits to be read with others.
  static var notifyBatchMilliseconds: Int64 { 5 }

  /// Reads every notify socket waiting, each until it is empty (at most 512 datagrams a
  /// turn, 32 a system call: one left with more is read again at the next batch), and arms
  /// it again.
  func drainNotify() {
    let ids = notifyPending
    notifyPending.removeAll(keepingCapacity: true)
    notifyDrainAt = nil
    let slot = notifyBuffer.count / notifyLengths.count
    for id in ids {
      var empty = false
      for _ in 0..<16 {
        guard let fd = notifySockets[id] else {
          empty = true
          break
        }
        let n: Int
        do {
          n = try UnixSocket.receiveDatagrams(fd, into: &notifyBuffer, slot: slot, lengths: &notifyLengths)
        } catch .wouldBlock {
          empty = true
          break
        } catch {
          // Nothing else can happen to a datagram socket pair we hold; stop listening to it.
          epoll.remove(fd)
          notifySockets.removeValue(forKey: id)?.closeQuietly()
          empty = true
          break
        }
        for i in 0..<n where notifyLengths[i] > 0 {
          let start = i * slot
          supervisor.handle(.notified(id, notifyBuffer[start..<start + min(notifyLengths[i], slot)], sender: nil))
        }
        if n < notifyLengths.count {
          empty = true
          break
        }
      }
      guard let fd = notifySockets[id] else { continue }
      if empty {
        rewatch(fd, [.readable, .oneShot], .notify(id))
      } else {
        serviceNotify(id)
      }
    }
  }

  /// Reads a pool worker's NOTIFY_SOCKET, as `serviceNotify` its descriptor; each datagram
  /// comes with its sender's uid, which the supervisor checks.
  func serviceNotifySocket(_ id: UInt64) {
    for _ in 0..<64 {
      guard let fd = boundNotifySockets[id] else { return }
      let received: (bytes: [UInt8], uid: UInt32?)
      do {
        received = try UnixSocket.receiveDatagram(fd, maxBytes: Self.notifyMessageBytes)
      } catch .wouldBlock {
        return
      } catch {
        epoll.remove(fd)
        boundNotifySockets.removeValue(forKey: id)?.closeQuietly()
        return
      }
      if !received.bytes.isEmpty { supervisor.handle(.notified(id, received.bytes[...], sender: received.uid)) }
    }
  }

  /// The longest notify message read; the rest of a longer datagram is dropped (systemd
  /// reads 4 KiB of one too).
  static var notifyMessageBytes: Int { 4096 }

  func serviceStatusPipe(_ id: UInt64) {
    guard let fd = statusPipes.removeValue(forKey: id) else { return }
    epoll.remove(fd)
    // The worker writes an ExecFailureReport only when exec failed; end of file alone means
    // exec closed the close-on-exec write end, so the program is running. A read error or a
    // short read (which an atomic pipe write cannot give, pipe(7)) counts as nothing written:
    // the pipe has no other writer, and the program's own status comes by SIGCHLD either way.
    let bytes = (try? fd.readSome(max: ExecFailureReport.size)) ?? []
    fd.closeQuietly()
    let report = (try? ExecFailureReport.decode(bytes)) ?? nil
    supervisor.handle(.execOutcome(id, failure: report.map { Errno(rawValue: $0.errno) }))
  }
}
