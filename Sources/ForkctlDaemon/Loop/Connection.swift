// A non-blocking socket that carries frames both ways: bounded reads into a frame decoder
// (never past the end of the current frame, so the descriptors that arrive with a read belong
// to exactly one frame), and a write queue whose descriptors ride on the first byte of their
// frame. It knows nothing of epoll: the loop asks it to flush and watches for writability
// while `wantsWrite` says so. Tested on its own over socket pairs.
import ForkctlSys
import ForkctlWire

/// Bytes of incomplete frames that a set of connections may buffer together (issue 11,
/// item 12b): each connection holds at most one frame, but a thousand of them each 4 MiB
/// short of its end would hold gigabytes. The first `Connection.unbudgetedBytes` of each
/// frame do not count, so that small requests are read however full the budget is.
final class ReadBudget {
  let limit: Int
  private(set) var used = 0
  init(limit: Int) { self.limit = limit }

  var remaining: Int { max(0, limit - used) }

  fileprivate func take(_ n: Int) { used += n }
  fileprivate func give(_ n: Int) { used -= n }
}

final class Connection {
  let fd: FileDescriptor
  private var decoder = FrameDecoder()
  /// Shared with the other connections whose partial frames it bounds; nil: unbounded but
  /// for the one-frame limit (a process object's control socket).
  private let budget: ReadBudget?
  /// Bytes of the frame being received (none once it is taken); those beyond
  /// `unbudgetedBytes` are counted in `budget`.
  private(set) var bufferedBytes = 0
  static let unbudgetedBytes = 64 * 1024
  private var budgeted: Int { max(0, bufferedBytes - Self.unbudgetedBytes) }
  /// When the first byte of the frame being received came (monotonic ms); nil between frames.
  private(set) var frameStartedAt: Int64?
  /// Descriptors read and not yet taken with their frame.
  private(set) var receivedFDs: [FileDescriptor] = []
  /// Frames not yet written out, oldest first.
  private(set) var queue: [Outgoing] = []
  /// The queue is not empty because the socket was full: the loop watches for writability.
  private(set) var wantsWrite = false

  /// A queued write: bytes, and descriptors to attach to its first byte.
  struct Outgoing {
    var bytes: [UInt8]
    var offset = 0
    var fds: [FileDescriptor]
  }

  init(fd: FileDescriptor, budget: ReadBudget? = nil) {
    self.fd = fd
    self.budget = budget
  }

  enum FlushResult: Equatable {
    /// Everything queued has been written.
    case flushed
    /// The socket is full: the rest goes when it is writable again.
    case blocked
    /// The peer is gone (EPIPE, ECONNRESET); what was queued is closed and dropped.
    case broken
  }

  /// Bytes queued and not yet written.
  var queuedBytes: Int { queue.reduce(0) { $0 + $1.bytes.count - $1.offset } }

  /// Queues a frame with `fds` (owned by the connection from now on) and writes what it can.
  @discardableResult
  func enqueue(_ frame: Frame, fds: [FileDescriptor]) -> FlushResult {
    queue.append(Outgoing(bytes: frame.encoded(), fds: fds))
    return flush()
  }

  /// Writes what it can of the queue.
  @discardableResult
  func flush() -> FlushResult {
    while var item = queue.first {
      do {
        let n = try UnixSocket.send(
          fd, item.bytes[item.offset...], fds: item.offset == 0 ? item.fds : [], nonblocking: true)
        if item.offset == 0 {
          for f in item.fds { f.closeQuietly() }
          item.fds = []
        }
        item.offset += n
        if item.offset == item.bytes.count {
          queue.removeFirst()
        } else {
          queue[0] = item
        }
      } catch {
        if error == .wouldBlock || error == .resourceTemporarilyUnavailable {
          wantsWrite = true
          return .blocked
        }
        // EPIPE, ECONNRESET: the reader will see the hangup and clean up.
        dropQueue()
        return .broken
      }
    }
    wantsWrite = false
    return .flushed
  }

  /// What reading came to.
  enum ReadOutcome: Equatable {
    /// Still open: a frame (or a decoding error) is ready, or nothing more is there yet.
    case open
    /// End of file or a broken connection.
    case closed
    /// The peer closed with what it was sent still unread (ECONNRESET).
    case reset
    /// Descriptors sent were lost (MSG_CTRUNC): more than a frame may carry, or, with fewer
    /// than that installed, this process is out of descriptors.
    case descriptorsLost(shortage: Bool)
    /// The frame being received does not fit in what the budget has left.
    case overBudget
  }

  /// Reads until the decoder has a frame (or an error) ready, or nothing more is there;
  /// never past the end of a frame.
  func readAvailable() -> ReadOutcome {
    while !decoder.isReady {
      var room = decoder.bytesWanted
      if let budget {
        let allowed = max(0, Self.unbudgetedBytes - bufferedBytes) + budget.remaining
        if allowed == 0 { return .overBudget }
        room = min(room, allowed)
      }
      let got: UnixSocket.Received
      do {
        got = try UnixSocket.receive(fd, maxBytes: room, maxFDs: WireLimits.maxFDsPerFrame, nonblocking: true)
      } catch {
        if error == .connectionReset { return .reset }
        return error == .wouldBlock || error == .resourceTemporarilyUnavailable ? .open : .closed
      }
      if got.bytes.isEmpty && got.fds.isEmpty { return .closed }
      receivedFDs += got.fds
      // The kernel installs what fits in the room for a frame's worth and drops the rest;
      // fewer than that means a descriptor could not be had (scm_detach_fds: EMFILE).
      if got.overflow { return .descriptorsLost(shortage: got.fds.count < WireLimits.maxFDsPerFrame) }
      if frameStartedAt == nil { frameStartedAt = Sys.monotonicMilliseconds() }
      let before = budgeted
      bufferedBytes += got.bytes.count
      budget?.take(budgeted - before)
      decoder.append(got.bytes, fdCount: got.fds.count)
    }
    return .open
  }

  /// The next complete frame with its descriptors (the caller owns them), nil when none is
  /// ready. The decoder holds one frame at most; the rest waits in the socket.
  func nextFrame() throws(WireError) -> (Frame, [FileDescriptor])? {
    guard let frame = try decoder.next() else { return nil }
    // Reads never go past the end of a frame: nothing of the next one is buffered yet.
    releaseBuffered()
    let fds = Array(receivedFDs.prefix(frame.fdCount))
    receivedFDs.removeFirst(fds.count)
    return (frame, fds)
  }

  /// Sends a last frame only if nothing else is queued (so that no frame is cut in two),
  /// without waiting.
  func sendLast(_ frame: Frame) {
    guard queue.isEmpty else { return }
    _ = try? UnixSocket.send(fd, frame.encoded()[...], nonblocking: true)
  }

  /// Closes the socket and every descriptor it holds, received or queued.
  func close() {
    for f in receivedFDs { f.closeQuietly() }
    receivedFDs.removeAll()
    releaseBuffered()
    dropQueue()
    fd.closeQuietly()
  }

  private func releaseBuffered() {
    budget?.give(budgeted)
    bufferedBytes = 0
    frameStartedAt = nil
  }

  private func dropQueue() {
    for o in queue { for f in o.fds { f.closeQuietly() } }
    queue.removeAll()
  }
}
