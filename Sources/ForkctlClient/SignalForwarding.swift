import ForkctlSys

/// Catches the signals a terminal or a caller sends to this process (SIGINT, SIGTERM,
/// SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP) so that `awaitStatus`
/// forwards them to the program, as if it were this process's direct child. It blocks them
/// for the whole process: for a command-line client, not for a multi-threaded server.
/// A signal this process ignores is left alone: blocking it would queue it (signal(7): an
/// ignored signal is discarded only while unblocked), and the program, which ignores it too
/// (`Inherited.attributes`), must not get it from us, as `nohup` and `trap '' INT` expect.
public final class SignalForwarding {
  public static let signals: [Signal] = [
    .interrupt, .terminate, .hangup, .quit, .user1, .user2, .windowChange, .continue, .terminalStop,
  ]
  let descriptor: SignalDescriptor

  public init() throws(ForkctlError) {
    let ignored = Sys.ignoredSignals()
    let caught = Self.signals.filter { ignored & 1 << UInt64($0.rawValue - 1) == 0 }
    do {
      descriptor = try SignalDescriptor(caught)
    } catch {
      throw ForkctlError(.badDescriptor, "cannot catch signals: \(Sys.describe(error))", underlying: error)
    }
  }
}
