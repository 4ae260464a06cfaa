// Terminals: pseudo-terminals, line settings, window sizes, foreground process groups, and
// the few process facts a terminal relay needs (termios(3), ioctl_tty(2), pty(7)).
import CForkctlShims
import Glibc

/// A terminal's line settings (struct termios), to save, change and restore whole.
public struct TerminalSettings: Sendable {
  var value: termios

  /// These settings made raw as cfmakeraw does: no echo, no line editing, no signals from
  /// keys, no output processing, 8-bit bytes, one at a time. The corresponding C function is
  /// `cfmakeraw`.
  public var raw: TerminalSettings {
    var copy = value
    cfmakeraw(&copy)
    return TerminalSettings(value: copy)
  }

  /// These settings with the usual line editing on: canonical input with echo, signal keys,
  /// CR read as NL, NL written as CR NL; the special characters are kept.
  public var cooked: TerminalSettings {
    var copy = value
    copy.c_lflag |= tcflag_t(ICANON | ISIG | IEXTEN | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE)
    copy.c_iflag |= tcflag_t(ICRNL)
    copy.c_oflag |= tcflag_t(OPOST | ONLCR)
    return TerminalSettings(value: copy)
  }
}

/// A terminal's window size in characters and pixels (struct winsize).
public struct WindowSize: Equatable, Sendable {
  public var rows: UInt16
  public var columns: UInt16
  public var width: UInt16
  public var height: UInt16

  public init(rows: UInt16, columns: UInt16, width: UInt16 = 0, height: UInt16 = 0) {
    self.rows = rows
    self.columns = columns
    self.width = width
    self.height = height
  }
}

/// A pseudo-terminal pair: the program gets the slave, forkctl keeps the master.
public struct PseudoTerminal: ~Copyable {
  public let master: FileDescriptor
  public let slave: FileDescriptor

  /// Opens a new pseudo-terminal, both ends close-on-exec and neither this process's
  /// controlling terminal. The corresponding C functions are `posix_openpt`, `grantpt`,
  /// `unlockpt` and `ioctl(TIOCGPTPEER)`.
  public init() throws(Errno) {
    var m: CInt = -1
    var s: CInt = -1
    _ = try retrying { forkctl_open_pty(&m, &s) }
    master = FileDescriptor(rawValue: m)
    slave = FileDescriptor(rawValue: s)
  }
}

/// When `setTerminalSettings` applies the settings (tcsetattr(3)).
public enum TerminalChange: Sendable {
  /// At once (TCSANOW).
  case now
  /// Once the output written so far has gone out (TCSADRAIN).
  case afterOutput
}

extension FileDescriptor {
  /// Whether this descriptor is a terminal. The corresponding C function is `isatty`.
  public var isTerminal: Bool { isatty(rawValue) == 1 }

  /// The terminal's line settings. The corresponding C function is `tcgetattr`.
  public func terminalSettings() throws(Errno) -> TerminalSettings {
    var t = termios()
    _ = try retrying { tcgetattr(rawValue, &t) }
    return TerminalSettings(value: t)
  }

  /// Changes the terminal's line settings. From a background process group this stops the
  /// process with SIGTTOU unless it ignores or blocks it (termios(3), "Job control"); forkctl
  /// only calls it in the foreground. The corresponding C function is `tcsetattr`.
  public func setTerminalSettings(_ settings: TerminalSettings, _ when: TerminalChange) throws(Errno) {
    var t = settings.value
    let action = when == .now ? TCSANOW : TCSADRAIN
    _ = try retrying { tcsetattr(rawValue, action, &t) }
  }

  /// The terminal's window size. The corresponding C function is `ioctl(TIOCGWINSZ)`.
  public func windowSize() throws(Errno) -> WindowSize {
    var s: [UInt16] = [0, 0, 0, 0]
    _ = try retrying { forkctl_get_window_size(rawValue, &s) }
    return WindowSize(rows: s[0], columns: s[1], width: s[2], height: s[3])
  }

  /// Sets the terminal's window size; the kernel sends SIGWINCH to the terminal's foreground
  /// process group when it changes (ioctl_tty(2)). The corresponding C function is
  /// `ioctl(TIOCSWINSZ)`.
  public func setWindowSize(_ size: WindowSize) throws(Errno) {
    let s: [UInt16] = [size.rows, size.columns, size.width, size.height]
    _ = try retrying { forkctl_set_window_size(rawValue, s) }
  }

  /// Writes what it can of `bytes` at once: a non-blocking descriptor takes what fits, and
  /// EAGAIN is 0 bytes. The corresponding C function is `write`.
  public func writeSome(_ bytes: [UInt8]) throws(Errno) -> Int {
    do {
      return try retrying { bytes.withUnsafeBytes { Glibc.write(rawValue, $0.baseAddress!, $0.count) } }
    } catch {
      if error == .wouldBlock { return 0 }
      throw error
    }
  }

  /// The device number of the file this descriptor refers to (st_rdev), nil when it cannot
  /// be had. The corresponding C function is `fstat`.
  public var deviceNumber: UInt64? {
    var st = Glibc.stat()
    return fstat(rawValue, &st) == 0 ? UInt64(st.st_rdev) : nil
  }

  /// The foreground process group of the terminal: the caller's controlling terminal, or the
  /// master side of a pseudo-terminal, which answers for its slave (ioctl_tty(2) TIOCGPGRP;
  /// ENOTTY for any other terminal). The corresponding C function is `tcgetpgrp`.
  public func foregroundProcessGroup() throws(Errno) -> Int32 {
    try retrying { tcgetpgrp(rawValue) }
  }
}

/// What `Sys.waitReady` waits for on a descriptor, and what it found.
public struct PollEvents: OptionSet, Sendable {
  public let rawValue: Int16
  public init(rawValue: Int16) { self.rawValue = rawValue }
  public static let readable = PollEvents(rawValue: Int16(POLLIN))
  public static let writable = PollEvents(rawValue: Int16(POLLOUT))
  /// Always reported, never asked for (poll(2)).
  public static let hangup = PollEvents(rawValue: Int16(POLLHUP))
  public static let error = PollEvents(rawValue: Int16(POLLERR))
}

extension Sys {
  /// The calling process's process group. The corresponding C function is `getpgrp`.
  public static var processGroup: Int32 { getpgrp() }

  /// This process's controlling terminal (/dev/tty), opened for writing, close-on-exec.
  /// The corresponding C function is `open`.
  public static func openControllingTerminal() throws(Errno) -> FileDescriptor {
    try open("/dev/tty", .writeOnly, options: FileDescriptor.OpenOptions(rawValue: O_NOCTTY))
  }

  /// Waits until one of `fds` is ready for what it asks (a nil descriptor is left out) or
  /// `timeoutMS` passes (-1: no limit); what each was found ready for. Unlike epoll, poll
  /// takes any descriptor, a regular file or /dev/null included. The corresponding C
  /// function is `poll`.
  public static func waitReady(_ fds: [(fd: FileDescriptor?, events: PollEvents)], timeoutMS: Int32) throws(Errno)
    -> [PollEvents]
  {
    var polls = fds.map { pollfd(fd: $0.fd?.rawValue ?? -1, events: $0.events.rawValue, revents: 0) }
    _ = try retrying {
      polls.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), timeoutMS) }
    }
    return polls.map { PollEvents(rawValue: $0.revents) }
  }

  /// The one-letter state of process `pid` from /proc/PID/stat ("R", "S", "T" stopped by a
  /// signal, "t" stopped by a tracer, "Z"...: proc_pid_stat(5)), nil when it cannot be read.
  /// The corresponding C function is `read`.
  public static func processState(_ pid: Int32) -> UInt8? {
    guard let fd = try? open("/proc/\(pid)/stat", .readOnly) else { return nil }
    defer { fd.closeQuietly() }
    guard let text = try? fd.readSome(max: 512) else { return nil }
    // The command name in parentheses may itself hold ") ": the state follows the last one.
    guard let close = text.lastIndex(of: UInt8(ascii: ")")), close + 2 < text.count else { return nil }
    return text[close + 2]
  }

  /// The descriptor process `pid` is blocked reading with read(2), from /proc/PID/syscall
  /// (the system call number, then its arguments: proc_pid_syscall(5)); nil when it is in
  /// another call or running, or when this process may not look (that needs ptrace access,
  /// which a Yama ptrace_scope of 1 or more refuses to a non-ancestor). The corresponding C
  /// function is `read`.
  public static func blockedRead(_ pid: Int32) -> Int32? {
    guard let fd = try? open("/proc/\(pid)/syscall", .readOnly) else { return nil }
    defer { fd.closeQuietly() }
    guard let text = try? fd.readSome(max: 256) else { return nil }
    let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
    guard fields.count > 1, Int(fields[0]) == forkctl_read_syscall_number(), fields[1].hasPrefix("0x") else {
      return nil
    }
    return Int32(fields[1].dropFirst(2), radix: 16)
  }

  /// The device number of the file `path` names (its st_rdev: which terminal, for a
  /// terminal), nil when it cannot be had. The corresponding C function is `stat`.
  public static func deviceNumber(_ path: String) -> UInt64? {
    var device: UInt64 = 0
    return forkctl_device_number(path, &device) == 0 ? device : nil
  }

  /// Stops this process with `signal` (a terminal stop: SIGTSTP, SIGTTIN or SIGTTOU) as the
  /// terminal would, even while the signal is blocked for a signalfd, so that its shell
  /// reports the job stopped; returns once the process is continued. The corresponding C
  /// function is `raise`.
  public static func stop(with signal: Signal) { forkctl_stop_self(signal.rawValue) }
}
