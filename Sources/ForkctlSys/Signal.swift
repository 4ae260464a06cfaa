import Glibc

/// A signal number, with the standard Linux signals by readable names so that no module
/// above this one writes a libc number (signal(7)).
public struct Signal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: Int32
  public init(rawValue: Int32) { self.rawValue = rawValue }

  public static let hangup = Signal(rawValue: SIGHUP)
  public static let interrupt = Signal(rawValue: SIGINT)
  public static let quit = Signal(rawValue: SIGQUIT)
  public static let illegalInstruction = Signal(rawValue: SIGILL)
  public static let trap = Signal(rawValue: SIGTRAP)
  public static let abort = Signal(rawValue: SIGABRT)
  public static let busError = Signal(rawValue: SIGBUS)
  public static let floatingPoint = Signal(rawValue: SIGFPE)
  public static let kill = Signal(rawValue: SIGKILL)
  public static let user1 = Signal(rawValue: SIGUSR1)
  public static let segmentationFault = Signal(rawValue: SIGSEGV)
  public static let user2 = Signal(rawValue: SIGUSR2)
  public static let pipe = Signal(rawValue: SIGPIPE)
  public static let alarm = Signal(rawValue: SIGALRM)
  public static let terminate = Signal(rawValue: SIGTERM)
  public static let stackFault = Signal(rawValue: SIGSTKFLT)
  public static let child = Signal(rawValue: SIGCHLD)
  public static let `continue` = Signal(rawValue: SIGCONT)
  public static let stop = Signal(rawValue: SIGSTOP)
  public static let terminalStop = Signal(rawValue: SIGTSTP)
  public static let terminalInput = Signal(rawValue: SIGTTIN)
  public static let terminalOutput = Signal(rawValue: SIGTTOU)
  public static let urgent = Signal(rawValue: SIGURG)
  public static let cpuLimit = Signal(rawValue: SIGXCPU)
  public static let fileSizeLimit = Signal(rawValue: SIGXFSZ)
  public static let virtualAlarm = Signal(rawValue: SIGVTALRM)
  public static let profilingAlarm = Signal(rawValue: SIGPROF)
  public static let windowChange = Signal(rawValue: SIGWINCH)
  public static let io = Signal(rawValue: SIGIO)
  public static let power = Signal(rawValue: SIGPWR)
  public static let badSystemCall = Signal(rawValue: SIGSYS)

  /// The lowest real-time signal applications may use. glibc keeps the first two or three
  /// kernel real-time signals for itself, so SIGRTMIN is a function call, not a constant
  /// (signal(7), "Real-time signals").
  public static var realtimeMin: Signal { Signal(rawValue: __libc_current_sigrtmin()) }

  /// The highest real-time signal (SIGRTMAX).
  public static var realtimeMax: Signal { Signal(rawValue: __libc_current_sigrtmax()) }

  /// Every standard signal with the name kill(1) gives it, in signal-number order.
  public static let standard: [(signal: Signal, name: String)] = [
    (.hangup, "HUP"), (.interrupt, "INT"), (.quit, "QUIT"), (.illegalInstruction, "ILL"), (.trap, "TRAP"),
    (.abort, "ABRT"), (.busError, "BUS"), (.floatingPoint, "FPE"), (.kill, "KILL"), (.user1, "USR1"),
    (.segmentationFault, "SEGV"), (.user2, "USR2"), (.pipe, "PIPE"), (.alarm, "ALRM"), (.terminate, "TERM"),
    (.stackFault, "STKFLT"), (.child, "CHLD"), (.continue, "CONT"), (.stop, "STOP"), (.terminalStop, "TSTP"),
    (.terminalInput, "TTIN"), (.terminalOutput, "TTOU"), (.urgent, "URG"), (.cpuLimit, "XCPU"),
    (.fileSizeLimit, "XFSZ"), (.virtualAlarm, "VTALRM"), (.profilingAlarm, "PROF"), (.windowChange, "WINCH"),
    (.io, "IO"), (.power, "PWR"), (.badSystemCall, "SYS"),
  ]

  /// The name without the SIG prefix ("TERM"); nil for a number that is not a standard signal.
  public var name: String? { Self.standard.first { $0.signal == self }?.name }

  /// The signal named `name`, in any case, with or without the SIG prefix ("TERM", "sigterm").
  public init?(name: String) {
    let upper = name.uppercased()
    let bare = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
    guard let found = Self.standard.first(where: { $0.name == bare }) else { return nil }
    self = found.signal
  }

  /// "SIGTERM", or "signal 40" for a number without a standard name.
  public var description: String { name.map { "SIG" + $0 } ?? "signal \(rawValue)" }
}
