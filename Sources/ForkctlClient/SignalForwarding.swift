import ForkctlSys

/// Catches the signals a terminal or a caller sends to this process (SIGINT, SIGTERM,
/// SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP) so that `awaitStatus`
/// forwards them to the program, as if it were this process's direct child. It blocks them
/// for the whole process: for a command-line client, not for a multi-threaded server.
public final class SignalForwarding {
  public static let signals: [Signal] = [
    .interrupt, .terminate, .hangup, .quit, .user1, .user2, .windowChange, .continue, .terminalStop,
  ]
  let descriptor: SignalDescriptor

  public init() throws(ForkctlError) {
    do {
      descriptor = try SignalDescriptor(Self.signals)
    } catch {
      throw ForkctlError(.badDescriptor, "cannot catch signals: \(Sys.describe(error))", underlying: error)
    }
  }
}
