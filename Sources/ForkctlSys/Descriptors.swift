import CForkctlShims
import Glibc

extension FileDescriptor {
  /// Closes the descriptor. Never retried: after EINTR the descriptor is already gone on
  /// Linux (close(2)). EBADF means our own bookkeeping is wrong, which is a bug.
  /// The corresponding C function is `close`.
  public func closeQuietly() {
    if Glibc.close(rawValue) < 0 && Glibc.errno == EBADF {
      preconditionFailure("close(\(rawValue)): descriptor was not open")
    }
  }

  /// Whether the descriptor is open in this process (fcntl F_GETFD). The corresponding C function is `fcntl`.
  public var isOpen: Bool { forkctl_fd_flags(rawValue) >= 0 }

  /// Turns O_NONBLOCK on or off. The corresponding C function is `fcntl`.
  public func setNonblocking(_ on: Bool) throws(Errno) {
    _ = try retrying { forkctl_set_nonblocking(rawValue, on ? 1 : 0) }
  }

  /// A close-on-exec copy of this descriptor on the lowest free number (F_DUPFD_CLOEXEC).
  /// The corresponding C function is `fcntl`.
  public func duplicate() throws(Errno) -> FileDescriptor {
    FileDescriptor(rawValue: try retrying { Glibc.fcntl(rawValue, F_DUPFD_CLOEXEC, 0) })
  }

  /// Makes this descriptor a close-on-exec copy of `other` on this number.
  /// The corresponding C function is `dup3`.
  public static func move(_ other: FileDescriptor, to target: CInt) throws(Errno) {
    _ = try retrying { forkctl_dup3_cloexec(other.rawValue, target) }
  }

  /// Writes all of `bytes`, blocking. Not named `writeAll`, which would shadow swift-system's
  /// generic `writeAll(_:)` so that a reader could not tell which one a call gets.
  /// The corresponding C function is `write`.
  public func writeFully(_ bytes: [UInt8]) throws(Errno) {
    var done = 0
    while done < bytes.count {
      let n = try retrying {
        bytes.withUnsafeBytes { buf in Glibc.write(rawValue, buf.baseAddress! + done, buf.count - done) }
      }
      done += n
    }
  }

  /// Reads up to `max` bytes; an empty result is end of file. Throws EAGAIN when
  /// non-blocking and nothing is there. The corresponding C function is `read`.
  public func readSome(max: Int) throws(Errno) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: max)
    let n = try retrying {
      out.withUnsafeMutableBytes { buf in Glibc.read(rawValue, buf.baseAddress!, buf.count) }
    }
    out.removeLast(max - n)
    return out
  }

  /// Reads until end of file, up to `limit` bytes. The corresponding C function is `read`.
  public func readAll(limit: Int = 1 << 20) throws(Errno) -> [UInt8] {
    var out = [UInt8]()
    while out.count < limit {
      let chunk = try readSome(max: min(65536, limit - out.count))
      if chunk.isEmpty { break }
      out.append(contentsOf: chunk)
    }
    return out
  }
}

extension Sys {
  /// A pipe, both ends close-on-exec. The corresponding C function is `pipe2`.
  public static func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) {
    var fds: [CInt] = [-1, -1]
    _ = try retrying { forkctl_pipe(&fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
  }

  /// Whether `fd` is readable, hung up or broken right now, without waiting. The
  /// corresponding C function is `poll`.
  public static func isReadableNow(_ fd: FileDescriptor) -> Bool {
    var p = pollfd(fd: fd.rawValue, events: Int16(POLLIN) | Int16(FORKCTL_POLLRDHUP), revents: 0)
    // A failed poll counts as readable, so that the caller's read reports the error.
    return (try? retrying { poll(&p, 1, 0) }) != 0
  }

  /// Whether `fd` can take a write of up to PIPE_BUF bytes right now without blocking: a
  /// pipe with room (pipe(7)), a socket with buffer space, a terminal not stopped, any
  /// regular file. The corresponding C function is `poll`.
  public static func isWritableNow(_ fd: FileDescriptor) -> Bool {
    var p = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
    return (try? retrying { poll(&p, 1, 0) }) == 1 && p.revents & Int16(POLLOUT) != 0
  }

  /// Whether the peer of stream socket `fd` has closed it and nothing it sent is left to read,
  /// right now. The corresponding C functions are `poll` and `ioctl(FIONREAD)`.
  public static func isPeerGoneWithNothingUnread(_ fd: FileDescriptor) -> Bool {
    forkctl_peer_gone_unread(fd.rawValue) == 1
  }

  /// Waits until `fds` are readable (or hung up); returns which, in order. The
  /// corresponding C function is `poll`.
  /// With `timeoutMilliseconds` (-1: none), all false when it passes first.
  public static func waitReadable(_ fds: [FileDescriptor], timeoutMilliseconds: Int32 = -1) throws(Errno) -> [Bool] {
    var polls = fds.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
    // A poll interrupted by a signal starts again with the whole timeout: the callers (wait
    // --timeout) catch no signal, so none interrupts it.
    _ = try retrying {
      polls.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeoutMilliseconds) }
    }
    return polls.map { $0.revents != 0 }
  }

  /// The most descriptors this process may have open (the soft RLIMIT_NOFILE), or nil when
  /// unlimited or unknown. The corresponding C function is `getrlimit`.
  public static func descriptorLimit() -> Int? {
    var r = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &r) == 0, r.rlim_cur != rlim_t.max else { return nil }
    return Int(clamping: r.rlim_cur)
  }

  /// Whether `error` means that no descriptor could be had: the process (EMFILE) or the
  /// system (ENFILE) is at its limit.
  public static func isDescriptorShortage(_ error: Errno) -> Bool {
    error == .tooManyOpenFiles || error == .tooManyOpenFilesInSystem
  }

  /// Writes a line to standard error, ignoring failure. The corresponding C function is `write`.
  public static func printError(_ line: String) {
    try? FileDescriptor.standardError.writeFully(Array((line + "\n").utf8))
  }
}

extension Sys {
  /// Which of the descriptors 0 to `highest` are open, indexed by number, opening nothing.
  /// One poll(2) that asks for no events answers for all of them at once (a closed number
  /// comes back POLLNVAL, and a zero timeout waits for nothing), where a fcntl(F_GETFD) per
  /// number costs ten times as long. poll refuses more entries than the soft RLIMIT_NOFILE
  /// (EINVAL), so a number at or above it, open from before the limit was lowered, is asked
  /// with fcntl. The corresponding C function is `poll`.
  public static func openDescriptors(upTo highest: Int32) -> [Bool] {
    let count = Int(highest) + 1
    var polled = min(count, descriptorLimit() ?? count)
    var open = [Bool](repeating: false, count: count)
    var polls = (0..<polled).map { pollfd(fd: CInt($0), events: 0, revents: 0) }
    let answered = try? retrying {
      polls.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), 0) }
    }
    if answered == nil { polled = 0 }
    for n in 0..<polled { open[n] = polls[n].revents & Int16(POLLNVAL) == 0 }
    for n in polled..<count { open[n] = FileDescriptor(rawValue: CInt(n)).isOpen }
    return open
  }
}
