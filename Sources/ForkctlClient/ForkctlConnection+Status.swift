// status: what the daemon is and holds, asked without changing anything (forkctl status).
import ForkctlWire

extension ForkctlConnection {
  /// The daemon's pid, version, start, uptime, log and what it holds by state. A daemon
  /// older than the status request refuses it as a protocol error, and this says so.
  public mutating func status() throws(ForkctlError) -> DaemonStatus {
    let reply: Reply
    do {
      reply = try request(.status)
    } catch  where error.refusal == .protocolError {
      throw ForkctlError(
        .refused,
        "the daemon at \(socketPath) does not know the status request: it is older than this client "
          + "(\(error.message))")
    }
    guard case .status(let s) = reply else { throw unexpected(reply) }
    return s
  }
}
