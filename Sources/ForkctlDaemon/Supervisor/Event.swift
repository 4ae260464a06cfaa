import ForkctlSys
import ForkctlWire

/// Everything that happens to the supervisor. The event loop turns readiness into these;
/// `Supervisor.handle(_:)` routes each to the file that owns it.
public enum Event {
  /// A connection was accepted from a peer with this uid and pid (SO_PEERCRED; 0: unknown).
  case clientConnected(ClientID, uid: UInt32, pid: Int32 = 0, confinement: Confinement = Confinement())
  /// A request arrived; its descriptors are the supervisor's from now on.
  case request(Request, fds: [FileDescriptor], from: ClientID)
  /// A connection closed. `repliesUnread`: it closed with replies unread (the kernel says
  /// so with ECONNRESET), so a process object whose id went out last was never learned.
  case clientGone(ClientID, repliesUnread: Bool)
  /// A report arrived on a process object's control socket.
  case report(Report, from: UInt64)
  /// A language host announced its child `pid` (a hostChild report), with a pidfd of it that
  /// is the supervisor's from now on.
  case hostChild(pid: Int32, pidfd: FileDescriptor, from: UInt64)
  /// A process object's exec status pipe said something: end of file (the program exec'd)
  /// or an errno.
  case execOutcome(UInt64, failure: Errno?)
  /// A process object's control socket reached end of file or failed: it exec'd (without
  /// keeping it), closed it, or died.
  case controlClosed(UInt64)
  /// A datagram arrived on a pool worker's notify socket; `sender`: the uid it came from, on
  /// its NOTIFY_SOCKET (anyone may send there), nil on its own descriptor.
  case notified(UInt64, ArraySlice<UInt8>, sender: UInt32?)
  /// A child was reaped.
  case childExited(pid: Int32, status: ExitStatus)
  /// The monotonic clock reached `now` (ms): deadlines up to it are due.
  case tick(now: Int64)
  /// The daemon is to stop (a terminating signal; a shutdown request says so itself): no
  /// new request is served, while what is in flight is let finish and be reported.
  case stopRequested
  /// The daemon is stopping: whatever is still in flight is given up, clients attached to
  /// a program or waiting are told it keeps running, and every process object that has not
  /// run is ended (they exit on end of file); running programs are left alone.
  case stopping
}
