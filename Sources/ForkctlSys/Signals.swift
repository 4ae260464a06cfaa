import CForkctlShims
import Glibc

extension Sys {
  /// Ignores SIGPIPE, so that writing to a vanished peer fails with EPIPE.
  /// The corresponding C function is `signal`.
  public static func ignoreBrokenPipe() { forkctl_ignore_sigpipe() }

  /// Restores `signal`'s default action and raises it on this process: how a client dies the
  /// way its worker died, so that a shell sees the same status. The corresponding C function is `raise`.
  public static func reraise(_ signal: Signal) { forkctl_reraise(signal.rawValue) }
}

/// Signals delivered as readable events on a descriptor (signalfd(2)).
public struct SignalDescriptor: ~Copyable {
  public let fd: FileDescriptor

  /// Blocks `signals` and opens a signalfd for them. The corresponding C function is `signalfd`.
  public init(_ signals: [Signal]) throws(Errno) {
    let list = signals.map(\.rawValue) + [0]
    _ = try retrying { forkctl_block_signals(list) }
    let fd = try retrying { forkctl_signalfd(list) }
    self.fd = FileDescriptor(rawValue: fd)
  }

  deinit { fd.closeQuietly() }

  /// The next pending signal, nil when none. The corresponding C function is `read`.
  public func next() throws(Errno) -> Signal? {
    let s = try retrying { forkctl_read_signalfd(fd.rawValue) }
    return s == 0 ? nil : Signal(rawValue: s)
  }
}
