// What the exec path reports when a program did not start: the errno, and the step that
// failed, packed in one 32-bit word so that every report that carried a bare errno (the
// spawned and execFailed reports, the status pipe) carries it unchanged: the step in the
// high 16 bits, the errno in the low 16. Step 0 is the exec itself, so a bare errno still
// reads as an exec failure; step 1, the working directory, is the errno plus 0x10000 that a
// failed fchdir reported before the other steps existed. forkctl-protocol(7), REPORTS.

/// Why a worker's program did not start.
public struct ExecFailure: Equatable, Sendable {
  public var step: Step
  public var errno: Int32

  public init(step: Step = .exec, errno: Int32) {
    self.step = step
    self.errno = errno
  }

  /// The word on the wire.
  public init(rawValue: Int32) {
    let word = UInt32(bitPattern: rawValue)
    step = Step(rawValue: word >> 16)
    errno = Int32(word & 0xffff)
  }

  public var rawValue: Int32 { Int32(bitPattern: step.rawValue << 16 | UInt32(errno) & 0xffff) }

  /// What the worker was doing (the C shim's FORKCTL_STEP_ values).
  public struct Step: RawRepresentable, Equatable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The descriptors, execve(2), or the search of PATH.
    public static let exec = Step(rawValue: 0)
    /// fchdir(2) to the directory sent with the run or spawn: the daemon answers it with its
    /// own error code, so that a directory the worker may not enter is not blamed on the
    /// program.
    public static let workingDirectory = Step(rawValue: 1)
    public static let session = Step(rawValue: 2)
    public static let controllingTerminal = Step(rawValue: 3)
    public static let nice = Step(rawValue: 4)
    public static let noNewPrivileges = Step(rawValue: 5)
    public static let capabilities = Step(rawValue: 6)
    public static let signals = Step(rawValue: 7)
    /// Looking up a call's entry symbol in the libraries the process loaded (dlsym(3)):
    /// answered with its own error code, as nothing ran.
    public static let symbol = Step(rawValue: 8)
    /// Setting the limit of `resource` (0 to 15, RLIMIT_CPU to RLIMIT_RTTIME).
    public static func limit(_ resource: UInt32) -> Step { Step(rawValue: 0x100 + resource) }

    /// The resource whose limit failed, if that was the step.
    public var resource: UInt32? {
      rawValue >= 0x100 && rawValue < 0x100 + ProcessAttributes.resourceCount ? rawValue - 0x100 : nil
    }

    /// What could not be done, for a message: "cannot apply the caller's RLIMIT_NOFILE";
    /// nil for the exec step, whose message names the program.
    public var failedAction: String? {
      if let resource { return "cannot apply the caller's \(ProcessAttributes.resourceNames[Int(resource)])" }
      switch self {
      case .exec: return nil
      case .workingDirectory: return "cannot change to the working directory"
      case .session: return "cannot start a new session"
      case .controllingTerminal: return "cannot make descriptor 0 the controlling terminal"
      case .nice: return "cannot apply the caller's nice value"
      case .noNewPrivileges: return "cannot set no_new_privs"
      case .capabilities: return "cannot limit the capabilities to the caller's"
      case .signals: return "cannot apply the caller's signal dispositions and mask"
      case .symbol: return "cannot find the function in the loaded libraries"
      default: return "cannot prepare the program (step \(rawValue))"
      }
    }
  }
}

extension ProcessAttributes {
  /// The resources' names, by number (getrlimit(2)).
  public static let resourceNames = [
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
    "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
  ]
}
