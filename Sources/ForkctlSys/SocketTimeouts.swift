import Glibc

extension UnixSocket {
  /// Bounds every blocking send and receive on `fd`, and a blocking connect of it, to
  /// `milliseconds` (at least 1: zero would mean no bound): one that waits longer fails with
  /// EAGAIN. socket(7), SO_RCVTIMEO and SO_SNDTIMEO; a Unix stream connect waits for room in
  /// the listener's backlog for as long as SO_SNDTIMEO allows (unix_stream_connect in
  /// net/unix/af_unix.c takes sock_sndtimeo). The corresponding C function is `setsockopt`.
  public static func setTimeouts(_ fd: FileDescriptor, milliseconds: Int32) throws(Errno) {
    let ms = max(1, Int(milliseconds))
    var bound = timeval(tv_sec: ms / 1000, tv_usec: (ms % 1000) * 1000)
    let length = socklen_t(MemoryLayout<timeval>.size)
    for option in [SO_SNDTIMEO, SO_RCVTIMEO] {
      _ = try retrying { setsockopt(fd.rawValue, SOL_SOCKET, option, &bound, length) }
    }
  }
}
