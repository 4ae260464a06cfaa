// The status pipe, the one channel that is not framed. A run that keeps its control socket
// cannot learn from that socket's end of file that exec succeeded, so the daemon sends a
// pipe with the run command (flag 16); its write end is close-on-exec in the worker. End of
// file with nothing written: exec succeeded. Otherwise the worker wrote why exec failed, as
// four bytes, before exiting. forkctl-protocol(7), REPORTS.

/// What a worker writes on its status pipe when exec fails: the errno, as an i32 in
/// little-endian order.
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

/// Which step of a worker's exec path failed, and why: what the i32 of report exec-failed,
/// of report spawned and of the status pipe carries. It is the errno, plus
/// `workingDirectoryStep` when the worker could not change to the working directory, so
/// that a directory the worker may not enter is not blamed on the program
/// (forkctl-protocol(7), REPORTS).
public struct ExecFailure: Equatable, Sendable {
  public enum Step: Equatable, Sendable {
    /// execve(2), or the search of PATH.
    case execute
    /// fchdir(2) to the directory sent with the run or spawn.
    case workingDirectory
  }

  /// Added to the errno of a failed fchdir: above every errno (Linux's are below 4096), and
  /// the same number as FORKCTL_EXEC_FAILED_CHDIR in CForkctlShims, which writes it.
  public static let workingDirectoryStep: Int32 = 0x10000

  public var step: Step
  public var errno: Int32

  public init(step: Step, errno: Int32) {
    self.step = step
    self.errno = errno
  }

  /// Decodes the reported value.
  public init(reported: Int32) {
    if reported >= Self.workingDirectoryStep {
      self.init(step: .workingDirectory, errno: reported - Self.workingDirectoryStep)
    } else {
      self.init(step: .execute, errno: reported)
    }
  }

  /// The value a worker reports.
  public var reported: Int32 { step == .workingDirectory ? errno + Self.workingDirectoryStep : errno }
}
