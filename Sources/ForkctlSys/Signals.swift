import CForkctlShims
import Glibc

extension Sys {
  /// Ignores SIGPIPE, so that writing to a vanished peer fails with EPIPE.
  public static func ignoreBrokenPipe() { forkctl_ignore_sigpipe() }

  /// Restores `signal`'s default action and raises it on this process: how a client dies the
  /// way its worker died, so that a shell sees the same status.
  public static func reraise(_ signal: Signal) { forkctl_reraise(signal.rawValue) }
}

/// Signals delivered as readable events on a descriptor (signalfd(2)).
public struct SignalDescriptor: ~Copyable {
  public let fd: FileDescriptor

  /// Blocks `signals` and opens a signalfd for them.
  public init(_ signals: [Signal]) throws(Errno) {
    let list = signals.map(\.rawValue) + [0]
    if forkctl_block_signals(list) < 0 { throw currentErrno() }
    let fd = forkctl_signalfd(list)
    if fd < 0 { throw currentErrno() }
    self.fd = FileDescriptor(rawValue: fd)
  }

  deinit { fd.closeQuietly() }

  /// The next pending signal, nil when none.
  public func next() throws(Errno) -> Signal? {
    let s = forkctl_read_signalfd(fd.rawValue)
    if s < 0 { throw currentErrno() }
    return s == 0 ? nil : Signal(rawValue: s)
  }
}
