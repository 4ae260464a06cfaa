// A terminal of its own for a spawned program. A worker is forked by the daemon, in another
// session: it can never join the caller's, so the caller's terminal cannot be its controlling
// terminal (credentials(7), "Sessions"). It gets a pseudo-terminal instead, whose master this
// relay copies to and from the caller's terminal in raw mode, with the window size and job
// control carried across, as sudo's use_pty, ssh -t and script(1) do.
import ForkctlSys
import ForkctlWire

/// When `forkctl spawn` gives the program a pseudo-terminal (`--tty`).
public enum TerminalMode: String, Sendable {
  /// When standard input is the caller's controlling terminal.
  case auto
  /// Always, even without a terminal (standard input is then copied to it).
  case always
  /// Never: the program gets the caller's descriptors as they are.
  case never
}

/// A pseudo-terminal for one spawned program, and the relay between its master and the
/// caller's terminal. Single-threaded: `relay` runs until the program's status arrives, and
/// the caller's terminal is restored on every way out of it.
public final class TerminalRelay {
  private let pty: PseudoTerminal
  /// The caller's controlling terminal (standard input), nil with `always` and no terminal.
  private let terminal: FileDescriptor?
  /// Its settings when the relay made it raw, restored exactly whenever it leaves raw mode.
  private var saved: TerminalSettings?
  /// Where the program's output goes: the caller's standard output or error when it is the
  /// terminal, else the terminal itself, opened for it.
  private let output: FileDescriptor
  private let ownedOutput: FileDescriptor?
  /// Which of the program's 0, 1 and 2 are the slave.
  public let slaveTargets: [Int32]
  private var raw = false

  /// A pseudo-terminal for a program spawned from this process with `mode`, or nil when it
  /// gets none: `never`, `detach` under `auto` (the program outlives the relay), or standard
  /// input that is not this process's controlling terminal.
  public init?(mode: TerminalMode, detach: Bool) throws(ForkctlError) {
    let stdin = FileDescriptor.standardInput
    // tcgetpgrp succeeds only on the caller's own controlling terminal (tcgetpgrp(3)).
    let controlling = stdin.isTerminal && (try? stdin.foregroundProcessGroup()) != nil
    switch mode {
    case .never: return nil
    case .auto: if detach || !controlling { return nil }
    case .always: break
    }
    do {
      pty = try PseudoTerminal()
    } catch {
      throw ForkctlError(.badDescriptor, "cannot open a pseudo-terminal: \(Sys.describe(error))", underlying: error)
    }
    terminal = controlling ? stdin : nil
    if controlling, let settings = try? stdin.terminalSettings() {
      // The program starts with the caller's line settings (erase and interrupt keys, modes)
      // and window size, as if it had the caller's terminal. A job started in the background
      // runs while its shell edits the next line in a mode of its own (readline's): it gets
      // the usual line editing instead.
      let foreground = (try? stdin.foregroundProcessGroup()) == Sys.processGroup
      try? pty.slave.setTerminalSettings(foreground ? settings : settings.cooked, .now)
      if let size = try? stdin.windowSize() { try? pty.slave.setWindowSize(size) }
    }
    let standard: [Int32] = [0, 1, 2]
    slaveTargets = mode == .always ? standard : standard.filter { FileDescriptor(rawValue: $0).isTerminal }
    if mode == .always || FileDescriptor.standardOutput.isTerminal {
      (output, ownedOutput) = (.standardOutput, nil)
    } else if FileDescriptor.standardError.isTerminal {
      (output, ownedOutput) = (.standardError, nil)
    } else {
      // Only standard input is the terminal: what the program echoes still belongs on it.
      let tty = try? Sys.openControllingTerminal()
      (output, ownedOutput) = (tty ?? .standardOutput, tty)
    }
  }

  deinit {
    restore()
    pty.slave.closeQuietly()
    pty.master.closeQuietly()
    ownedOutput?.closeQuietly()
  }

  /// The descriptors to pass to the program: `passed`, with the slave on each of
  /// `slaveTargets` instead.
  public func descriptors(_ passed: [(fd: FileDescriptor, target: FDTarget)]) -> [(
    fd: FileDescriptor, target: FDTarget
  )] {
    passed.filter { $0.target.map { !slaveTargets.contains($0) } ?? true } + slaveTargets.map { (pty.slave, $0) }
  }

  /// Whether this process is in the foreground of its terminal, so that it may read the
  /// terminal and change its settings without SIGTTIN or SIGTTOU.
  private var inForeground: Bool {
    guard let terminal else { return false }
    return (try? terminal.foregroundProcessGroup()) == Sys.processGroup
  }

  /// Puts the terminal back as it was, if it is raw. Failure is ignored: the terminal may
  /// have hung up, and nothing better can be done with it.
  private func restore() {
    guard raw, let terminal, let saved else { return }
    try? terminal.setTerminalSettings(saved, .afterOutput)
    raw = false
  }

  /// Makes the terminal raw, its settings saved first: the shell may have given them to the
  /// job anew (bash does at each `fg`).
  private func makeRaw() {
    guard !raw, let terminal, let settings = try? terminal.terminalSettings() else { return }
    saved = settings
    raw = (try? terminal.setTerminalSettings(settings.raw, .afterOutput)) != nil
    copyWindowSize()
  }

  /// The terminal's size onto the pseudo-terminal; the kernel sends the program SIGWINCH
  /// when it changes (ioctl_tty(2), TIOCSWINSZ).
  private func copyWindowSize() {
    if let size = try? terminal?.windowSize() { try? pty.master.setWindowSize(size) }
  }

  /// Relays between the terminal and the program `pid` (spawned on `connection`, which
  /// `pidfd` refers to when not nil) until the daemon sends its status on `connection`;
  /// the signals `forwarding` catches go to the program. Returns with the terminal
  /// restored and the status unread.
  public func relay(
    connection: FileDescriptor, program pid: Int32, pidfd: FileDescriptor?, forwarding: SignalForwarding
  ) throws(ForkctlError) {
    defer { restore() }
    var job = JobWatch(pid: pid, pidfd: pidfd, terminal: pty.slave.deviceNumber, master: pty.master)
    var input = RelayInput()
    var masterOpen = true
    do {
      try pty.master.setNonblocking(true)
    } catch {
      throw ForkctlError(.badDescriptor, "cannot relay the pseudo-terminal: \(Sys.describe(error))", underlying: error)
    }
    while true {
      let foreground = inForeground
      if foreground && !input.released { makeRaw() }
      // Read the terminal only in the foreground: from the background that would stop this
      // process with SIGTTIN even for a program that never reads (termios(3)).
      let reading = input.open && input.pending.isEmpty && (terminal == nil || foreground && !input.released)
      let ready: [PollEvents]
      do {
        ready = try Sys.waitReady(
          [
            (reading ? FileDescriptor.standardInput : nil, .readable),
            (masterOpen ? pty.master : nil, input.pending.isEmpty ? .readable : [.readable, .writable]),
            (forwarding.descriptor.fd, .readable), (connection, .readable),
          ], timeoutMS: job.nextCheckMS)
      } catch {
        throw ForkctlError(.connectionLost, "cannot wait for the terminal: \(Sys.describe(error))", underlying: error)
      }
      if !ready[3].isEmpty {
        if masterOpen { drainMaster() }
        return
      }
      if !ready[2].isEmpty { try handleSignals(forwarding, connection: connection, input: &input, job: &job) }
      if !ready[0].isEmpty {
        // The suspend key goes through as any other: the pseudo-terminal stops the program,
        // whose monitor stops too (monitor.c), and `follow` carries the stop to this process.
        input.read(from: .standardInput, isTerminal: terminal != nil)
        job.expectChange()
      }
      if masterOpen && !ready[1].isEmpty {
        if ready[1].contains(.writable) { input.write(to: pty.master) }
        masterOpen = copyMasterOutput()
      }
      if job.due() { try follow(&job, foreground: foreground, connection: connection) }
    }
  }

  /// Copies what the program wrote; false once the master fails.
  private func copyMasterOutput() -> Bool {
    switch Result(catching: { () throws(Errno) in try pty.master.readSome(max: 65536) }) {
    case .success(let bytes):
      if bytes.isEmpty { return false }
      try? output.writeFully(bytes)
      return true
    case .failure(let e): return e == .wouldBlock
    }
  }

  /// After the status: what the program wrote last may still be on its way through the
  /// pseudo-terminal's buffer (the kernel moves it to the master in a work queue). Copy until
  /// the master has been quiet a moment (this process holds the slave, so it never reads end
  /// of file); a child that still writes does not hold the caller up for long.
  private func drainMaster() {
    for _ in 0..<100 {
      guard let ready = try? Sys.waitReady([(pty.master, .readable)], timeoutMS: 20), !ready[0].isEmpty,
        copyMasterOutput()
      else { return }
    }
  }

  private func handleSignals(
    _ forwarding: SignalForwarding, connection: FileDescriptor, input: inout RelayInput, job: inout JobWatch
  ) throws(ForkctlError) {
    while let signal = (try? forwarding.descriptor.next()) ?? nil {
      switch signal {
      case .windowChange where terminal != nil:
        // The pseudo-terminal's own SIGWINCH reaches the program; forwarding would send two.
        copyWindowSize()
        continue
      case .terminate, .hangup:
        // forkctl may be killed next: the terminal goes back now, and stays as it is.
        restore()
        input.released = true
      default: break
      }
      try ForkctlConnection.forward(signal.rawValue, on: connection)
      job.expectChange()
    }
  }

  /// Carries a change in the program's job state to this process. The program stopped (by
  /// its terminal's Ctrl-Z, SIGTTIN, SIGTTOU or a signal): restore the terminal, stop this
  /// process the same way so that the shell reports the job stopped, and once continued
  /// (`fg`, `bg`) continue the program. The program waits for terminal input while this
  /// process is in the background: directly it would have been stopped by SIGTTIN, so this
  /// process is.
  private func follow(_ job: inout JobWatch, foreground: Bool, connection: FileDescriptor) throws(ForkctlError) {
    let stop: Signal
    switch job.check(foreground: foreground || terminal == nil) {
    case .running: return
    case .stopped: stop = .terminalStop
    case .waitingForInput: stop = .terminalInput
    }
    restore()
    Sys.stop(with: stop)
    job.continued()
    // The monitor puts the program back in its terminal's foreground and continues it.
    if stop == .terminalStop { try ForkctlConnection.forward(Signal.continue.rawValue, on: connection) }
  }
}

/// The caller's input on its way to the program, and whether it may still come.
private struct RelayInput {
  var pending: [UInt8] = []
  /// Standard input has not reached end of file.
  var open = true
  /// After SIGTERM or SIGHUP: the terminal stays restored and is read no more.
  var released = false

  mutating func read(from fd: FileDescriptor, isTerminal: Bool) {
    guard let bytes = try? fd.readSome(max: 4096), !bytes.isEmpty else {
      open = false
      // Without a terminal (`always`), end of input is the pseudo-terminal's end-of-file
      // character, as script(1) sends it: a reader in canonical mode then reads 0 bytes.
      if !isTerminal { pending = [0x04] }
      return
    }
    pending += bytes
  }

  mutating func write(to master: FileDescriptor) {
    guard let written = try? master.writeSome(pending) else { return }
    pending.removeFirst(written)
  }
}

/// Watches the program's job state. Nothing notifies a process that another one, not its
/// child, stopped: the daemon is the parent of the program's monitor, which stops when the
/// program does (it alone can wait for it with WUNTRACED, wait(2)). So the monitor's state is
/// read from /proc, soon after anything that may change it (input, a signal) and then less
/// and less often.
private struct JobWatch {
  enum State { case running, stopped, waitingForInput }
  /// The monitor, the process the daemon started.
  let pid: Int32
  let pidfd: FileDescriptor?
  /// The device number of the program's terminal, the slave.
  let terminal: UInt64?
  /// The pseudo-terminal's master, which names the slave's foreground process group: the
  /// program's, or the job it has put there.
  let master: FileDescriptor
  /// Milliseconds until the next look, doubling from the shortest to the longest.
  private(set) var nextCheckMS: Int32 = Self.shortestMS
  private var nextCheck = Sys.monotonicMilliseconds() + Int64(Self.shortestMS)
  /// The program has been continued but not yet seen running: a stop seen meanwhile is the
  /// one already followed.
  private var continuing = false
  static let shortestMS: Int32 = 10
  static let longestMS: Int32 = 250

  init(pid: Int32, pidfd: FileDescriptor?, terminal: UInt64?, master: FileDescriptor) {
    self.pid = pid
    self.pidfd = pidfd
    self.terminal = terminal
    self.master = master
  }

  mutating func expectChange() {
    nextCheckMS = Self.shortestMS
    nextCheck = Sys.monotonicMilliseconds() + Int64(nextCheckMS)
  }

  mutating func continued() {
    continuing = true
    expectChange()
  }

  mutating func due() -> Bool {
    let now = Sys.monotonicMilliseconds()
    guard now >= nextCheck else {
      nextCheckMS = Int32(nextCheck - now)
      return false
    }
    return true
  }

  mutating func check(foreground: Bool) -> State {
    nextCheckMS = min(nextCheckMS * 2, Self.longestMS)
    nextCheck = Sys.monotonicMilliseconds() + Int64(nextCheckMS)
    let state = Sys.processState(pid)
    // The foreground job blocked reading its terminal: directly, that read would have stopped
    // it with SIGTTIN. Where /proc does not say (no ptrace access), it just waits for `fg`.
    // The group's leader is the one looked at (TIOCGPGRP works on the master, tty_ioctl(4)).
    let reader = (try? master.foregroundProcessGroup()) ?? pid
    let waiting =
      !foreground && Sys.processState(reader) == UInt8(ascii: "S") && terminal != nil
      && Sys.blockedRead(reader).map { Sys.deviceNumber("/proc/\(reader)/fd/\($0)") == terminal } == true
    // A pid is reused only once the daemon has reaped it, after its pidfd became readable:
    // a look taken while the pidfd is not readable was at the program.
    if let pidfd, Sys.isReadableNow(pidfd) { return .running }
    if state == UInt8(ascii: "T") {
      return continuing ? .running : .stopped
    }
    continuing = false
    return waiting ? .waitingForInput : .running
  }
}
