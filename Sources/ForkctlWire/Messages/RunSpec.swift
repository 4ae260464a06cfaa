// What a run executes: a program, or a function of a library its process object loaded.
/// What `run` asks a process object to do.
public struct RunSpec: Equatable, Sendable {
  /// The program, found through PATH (of `environment` when given) unless it has a '/'.
  public var program: [UInt8]
  /// Arguments after the strings sent earlier with send-arg.
  public var arguments: [[UInt8]]
  /// The complete environment ("K=V" strings); nil keeps the process's own.
  public var environment: [[UInt8]]?
  /// Keep the control socket in the program, announced in FORKCTL_CONTROL_FD.
  public var keepControl: Bool
  /// A directory descriptor to change to comes with the frame.
  public var hasWorkingDirectory: Bool
  /// Reply only when the program has ended, with its status.
  public var waitForExit: Bool
  /// Whether `program` is a program to execute or a function of a loaded library to call.
  public var entry: RunEntry

  public init(
    program: [UInt8], arguments: [[UInt8]] = [], environment: [[UInt8]]? = nil,
    keepControl: Bool = false, hasWorkingDirectory: Bool = false, waitForExit: Bool = false,
    entry: RunEntry = .exec
  ) {
    self.entry = entry
    self.program = program
    self.arguments = arguments
    self.environment = environment
    self.keepControl = keepControl
    self.hasWorkingDirectory = hasWorkingDirectory
    self.waitForExit = waitForExit
  }

  static let keepControlFlag: UInt32 = 1
  static let workingDirectoryFlag: UInt32 = 2
  static let environmentFlag: UInt32 = 4
  static let waitFlag: UInt32 = 8
  /// `program` is the symbol of an entry point, `int NAME(int argc, char **argv)`.
  static let callFlag: UInt32 = 128
  /// With callFlag: the worker ends with _exit(2) rather than exit(3).
  static let quickExitFlag: UInt32 = 256
  static let flags = keepControlFlag | workingDirectoryFlag | environmentFlag | waitFlag | callFlag | quickExitFlag
  /// A bit of the message around the spec (the run request, the run and spawn commands),
  /// not of the spec: an attributes block follows the spec.
  static let attributesFlag: UInt32 = 32

  /// Writes the spec; its flags word also carries `outerFlags`, bits of the message around
  /// it that are not the spec's (the run command's status pipe).
  func write(to w: inout PayloadWriter, outerFlags: UInt32 = 0) {
    var flags = outerFlags
    if keepControl { flags |= Self.keepControlFlag }
    if hasWorkingDirectory { flags |= Self.workingDirectoryFlag }
    if environment != nil { flags |= Self.environmentFlag }
    if waitForExit { flags |= Self.waitFlag }
    if case .call(let quickExit) = entry { flags |= Self.callFlag | (quickExit ? Self.quickExitFlag : 0) }
    w.u32(flags)
    w.string(program)
    w.list(arguments)
    if let environment { w.list(environment) }
  }

  /// Reads a spec whose flags word holds no bit but its own.
  static func read(_ r: inout PayloadReader) throws(WireError) -> RunSpec {
    try read(&r, outerFlags: 0).spec
  }

  /// Reads a spec whose flags word may also hold `outerFlags`; those found are returned
  /// apart, and any other unknown bit is refused.
  static func read(
    _ r: inout PayloadReader, outerFlags: UInt32
  ) throws(WireError) -> (spec: RunSpec, outerFlags: UInt32) {
    let flags = try r.u32()
    if flags & ~(Self.flags | outerFlags) != 0 { throw .invalid("run flags \(flags)") }
    if flags & quickExitFlag != 0 && flags & callFlag == 0 { throw .invalid("run flags: quick exit without call") }
    let program = try r.string()
    if program.isEmpty { throw .invalid("empty program name") }
    if program.contains(0) { throw .invalid("program name holds a NUL byte") }
    let arguments = try r.list()
    let environment = flags & environmentFlag != 0 ? try r.list() : nil
    for s in arguments where s.contains(0) { throw .invalid("argument holds a NUL byte") }
    for s in environment ?? [] where s.contains(0) || !s.contains(UInt8(ascii: "=")) {
      throw .invalid("environment string is not NAME=VALUE without NUL")
    }
    let spec = RunSpec(
      program: program, arguments: arguments, environment: environment,
      keepControl: flags & keepControlFlag != 0,
      hasWorkingDirectory: flags & workingDirectoryFlag != 0,
      waitForExit: flags & waitFlag != 0,
      entry: flags & callFlag != 0 ? .call(quickExit: flags & quickExitFlag != 0) : .exec)
    return (spec, flags & outerFlags)
  }

  /// Descriptors that travel with a run frame.
  var fdCount: Int { hasWorkingDirectory ? 1 : 0 }
}

/// How a run starts what it names.
public enum RunEntry: Equatable, Sendable {
  /// execve(2) the program.
  case exec
  /// Call the function of that name in a library the process object loaded, and end with
  /// its return value: through exit(3), or _exit(2) with `quickExit`.
  case call(quickExit: Bool)
}
