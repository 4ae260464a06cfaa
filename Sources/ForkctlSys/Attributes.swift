// Process attributes: the C form the exec path applies, and the queries a client makes of its
// own (umask, resource limits, nice value, ignored signals, signal mask) to send with a spawn.
import CForkctlShims
import ForkctlWire
import Glibc

extension ProcessAttributes {
  /// Runs `body` with the C form of `attributes` (NULL for nil), valid during `body`.
  static func withC<R>(_ attributes: ProcessAttributes?, _ body: (UnsafePointer<forkctl_attributes>?) -> R) -> R {
    guard let a = attributes else { return body(nil) }
    let limits = a.limits.map { forkctl_rlimit(resource: CInt($0.resource), soft: $0.soft, hard: $0.hard) }
    return limits.withUnsafeBufferPointer { buffer in
      var c = forkctl_attributes(
        umask: a.umask, nice: a.nice, ignored_signals: a.ignoredSignals, blocked_signals: a.blockedSignals,
        limits: buffer.baseAddress, nlimits: CInt(buffer.count), flags: a.flags.rawValue,
        cap_bounding: a.capabilities.bounding, cap_permitted: a.capabilities.permitted,
        cap_effective: a.capabilities.effective, cap_inheritable: a.capabilities.inheritable,
        cap_ambient: a.capabilities.ambient)
      return withUnsafePointer(to: &c) { body($0) }
    }
  }
}
