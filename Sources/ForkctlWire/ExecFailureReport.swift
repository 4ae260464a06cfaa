// The status pipe, the one channel that is not framed. A run that keeps its control socket
// cannot learn from that socket's end of file that exec succeeded, so the daemon sends a
// pipe with the run command (flag 16); its write end is close-on-exec in the worker. End of
// file with nothing written: exec succeeded. Otherwise the worker wrote why exec failed, as
// four bytes, before exiting. forkctl-protocol(7), REPORTS.

/// What a worker writes on its status pipe when exec fails: the failure word
/// (`ExecFailure.rawValue`, the step and the errno), as an i32 in little-endian order.
public struct ExecFailureReport: Equatable, Sendable {
  /// The report's exact size. Below PIPE_BUF, so the one write is atomic (pipe(7)): a reader
  /// sees all of it or none.
  public static let size = 4

  public var errno: Int32

  public init(errno: Int32) { self.errno = errno }

  public func encode() -> [UInt8] {
    var w = PayloadWriter()
    w.i32(errno)
    return w.bytes
  }

  /// What the pipe held at end of file: nil for nothing (exec succeeded), else the report.
  /// Any other length than 0 or `size` is not something a worker writes.
  public static func decode(_ bytes: [UInt8]) throws(WireError) -> ExecFailureReport? {
    if bytes.isEmpty { return nil }
    if bytes.count < size { throw .truncated }
    var r = PayloadReader(bytes)
    let report = ExecFailureReport(errno: try r.i32())
    try r.finish()
    return report
  }
}
