// What a pool worker written in Swift says to its pool (forkctl(1), POOLS): the same words
// as `forkctl_notify` of include/forkctl.h and systemd's sd_notify(3).
import ForkctlSys

public enum PoolNotify {
  /// Sends `message` (sd_notify text: "BUSY=1", or several lines such as
  /// "READY=1\nSTATUS=warming up") as one datagram: to the descriptor in FORKCTL_NOTIFY_FD,
  /// else to NOTIFY_SOCKET. Returns false when there is nowhere to send it (not a pool
  /// worker), as sd_notify returns 0; throws what the send gave otherwise.
  @discardableResult
  public static func send(_ message: String) throws(Errno) -> Bool {
    let bytes = Array(message.utf8)
    if let text = Sys.environmentValue("FORKCTL_NOTIFY_FD"), let fd = Int32(text), fd >= 0 {
      _ = try UnixSocket.send(FileDescriptor(rawValue: fd), bytes[...])
      return true
    }
    if let address = Sys.environmentValue("NOTIFY_SOCKET"), !address.isEmpty {
      try UnixSocket.sendDatagram(bytes, to: Array(address.utf8))
      return true
    }
    return false
  }

  /// A request begins (`BUSY=1`): it counts one toward --max-requests.
  public static func busy() throws(Errno) { try send("BUSY=1") }
  /// The request is done (`IDLE=1`).
  public static func idle() throws(Errno) { try send("IDLE=1") }
  /// Started (`READY=1`).
  public static func ready() throws(Errno) { try send("READY=1") }
  /// Still working on a long request (`WATCHDOG=1`), for --timeout.
  public static func watchdog() throws(Errno) { try send("WATCHDOG=1") }
}
