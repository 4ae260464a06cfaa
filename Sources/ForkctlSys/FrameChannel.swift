import ForkctlWire

/// A blocking, one-frame-at-a-time connection: what the client and the template use.
public struct FrameChannel: Sendable {
  public let fd: FileDescriptor
  private var decoder = FrameDecoder()
  private var pendingFDs: [FileDescriptor] = []

  public init(_ fd: FileDescriptor) { self.fd = fd }

  /// Sends one frame with its descriptors, blocking until all of it is written.
  public func send(_ frame: Frame, fds: [FileDescriptor] = []) throws(Errno) {
    precondition(frame.fdCount == fds.count, "frame declares \(frame.fdCount) fds, \(fds.count) given")
    let bytes = frame.encoded()
    var sent = try UnixSocket.send(fd, bytes[...], fds: fds)
    while sent < bytes.count {
      sent += try UnixSocket.send(fd, bytes[sent...])
    }
  }

  /// What `receive` got.
  public enum Incoming {
    case frame(Frame, [FileDescriptor])
    case endOfFile
    case violation(WireError)
  }

  /// Receives one frame, blocking. Reads never go past the frame's end, so descriptors are
  /// attributed exactly. On a violation every descriptor received is closed.
  public mutating func receive() throws(Errno) -> Incoming {
    while true {
      do {
        if let frame = try decoder.next() {
          let fds = Array(pendingFDs.prefix(frame.fdCount))
          pendingFDs.removeFirst(frame.fdCount)
          return .frame(frame, fds)
        }
      } catch {
        closeAll()
        return .violation(error)
      }
      let got = try UnixSocket.receive(fd, maxBytes: decoder.bytesWanted, maxFDs: WireLimits.maxFDsPerFrame)
      if got.bytes.isEmpty && got.fds.isEmpty {
        closeAll()
        return .endOfFile
      }
      pendingFDs += got.fds
      if got.overflow {
        closeAll()
        return .violation(.tooManyFDs(WireLimits.maxFDsPerFrame + 1))
      }
      decoder.append(got.bytes, fdCount: got.fds.count)
    }
  }

  private mutating func closeAll() {
    for f in pendingFDs { f.closeQuietly() }
    pendingFDs.removeAll()
  }
}
