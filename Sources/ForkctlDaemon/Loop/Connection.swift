// A non-blocking socket that carries frames both ways: bounded reads into a frame decoder
// (never past the end of the current frame, so the descriptors that arrive with a read belong
// to exactly one frame), and a write queue whose descriptors ride on the first byte of their
// frame. It knows nothing of epoll: the loop asks it to flush and watches for writability
// while `wantsWrite` says so. Tested on its own over socket pairs.
import ForkctlSys
import ForkctlWire

final class Connection {
  let fd: FileDescriptor
  private var decoder = FrameDecoder()
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

  init(fd: FileDescriptor) { self.fd = fd }

  enum FlushResult: Equatable {
    /// Everything queued has been written.
    case flushed
    /// The socket is full: the rest goes when it is writable again.
    case blocked
    /// The peer is gone (EPIPE, ECONNRESET); what was queued is closed and dropped.
    case broken
  }

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
  }

  /// Reads until the decoder has a frame (or an error) ready, or nothing more is there;
  /// never past the end of a frame.
  func readAvailable() -> ReadOutcome {
    while !decoder.isReady {
      let got: UnixSocket.Received
      do {
        got = try UnixSocket.receive(
          fd, maxBytes: decoder.bytesWanted, maxFDs: WireLimits.maxFDsPerFrame, nonblocking: true)
      } catch {
        if error == .connectionReset { return .reset }
        return error == .wouldBlock || error == .resourceTemporarilyUnavailable ? .open : .closed
      }
      if got.bytes.isEmpty && got.fds.isEmpty { return .closed }
      receivedFDs += got.fds
      // The kernel installs what fits in the room for a frame's worth and drops the rest;
      // fewer than that means a descriptor could not be had (scm_detach_fds: EMFILE).
      if got.overflow { return .descriptorsLost(shortage: got.fds.count < WireLimits.maxFDsPerFrame) }
      decoder.append(got.bytes, fdCount: got.fds.count)
    }
    return .open
  }

  /// The next complete frame with its descriptors (the caller owns them), nil when none is
  /// ready. The decoder holds one frame at most; the rest waits in the socket.
  func nextFrame() throws(WireError) -> (Frame, [FileDescriptor])? {
    guard let frame = try decoder.next() else { return nil }
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
    dropQueue()
    fd.closeQuietly()
  }

  private func dropQueue() {
    for o in queue { for f in o.fds { f.closeQuietly() } }
    queue.removeAll()
  }
}
