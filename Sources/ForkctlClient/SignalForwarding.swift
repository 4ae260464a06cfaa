import ForkctlSys

/// Catches the signals a terminal or a caller sends to this process (SIGINT, SIGTERM,
/// SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP) so that `awaitStatus`
/// forwards them to the program, as if it were this process's direct child. It blocks them
/// for the whole process: for a command-line client, not for a multi-threaded server.
/// A signal this process ignores is left alone: blocking it would queue it (signal(7): an
/// ignored signal is discarded only while unblocked), and the program, which ignores it too
/// (`Inherited.attributes`), must not get it from us, as `nohup` and `trap '' INT` expect.
/// Before the program runs, `spawn` ends on the `interrupting` ones instead.
public final class SignalForwarding {
  public static let signals: [Signal] = [
    .interrupt, .terminate, .hangup, .quit, .user1, .user2, .windowChange, .continue, .terminalStop,
  ]
  /// The signals that end a spawn whose program has not run yet (the caller gave up, as
  /// Ctrl-C, timeout(1) or a closing terminal say), instead of waiting to be forwarded.
  public static let interrupting: [Signal] = [.interrupt, .terminate, .hangup]
  let descriptor: SignalDescriptor
  /// Caught before the program ran, for it once it does.
  private var early: [Signal] = []
  /// The signal that ended the wait for a program that had not run yet: forkctl then dies
  /// of it, as a shell's child would.
  public private(set) var interruption: Signal?

  public init() throws(ForkctlError) {
    let ignored = Sys.ignoredSignals()
    let caught = Self.signals.filter { ignored & 1 << UInt64($0.rawValue - 1) == 0 }
    do {
      descriptor = try SignalDescriptor(caught)
    } catch {
      throw ForkctlError(.badDescriptor, "cannot catch signals: \(Sys.describe(error))", underlying: error)
    }
  }

  /// Reads what was caught while the program has not run: the first interrupting signal
  /// (also kept in `interruption`), or nil; the others wait in `takeEarly` for the program.
  func takeInterruption() -> Signal? {
    while let signal = (try? descriptor.next()) ?? nil {
      if Self.interrupting.contains(signal) {
        interruption = signal
        return signal
      }
      early.append(signal)
    }
    return nil
  }

  /// What `takeInterruption` kept for the program, now that it runs.
  func takeEarly() -> [Signal] {
    defer { early = [] }
    return early
  }
}
