// Issue 14's language hosts: how exec asks for one, and what eval carries.

/// The interpreter a host template runs (the exec request's u8 language).
public enum HostLanguage: UInt8, Sendable, CaseIterable {
  case python = 1
  case perl = 2

  /// The name `list` shows and the CLI's option names: python, perl.
  public var name: String {
    switch self {
    case .python: return "python"
    case .perl: return "perl"
    }
  }
}

/// The optional block of an exec request that makes the template a language host: the daemon
/// runs `interpreter` on its embedded host script, with `environment`.
public struct HostSpec: Equatable, Sendable {
  public var language: HostLanguage
  /// The interpreter's absolute path, resolved by the client through its own PATH.
  public var interpreter: [UInt8]
  /// The client's environment, each "K=V".
  public var environment: [[UInt8]]

  public init(language: HostLanguage, interpreter: [UInt8], environment: [[UInt8]] = []) {
    self.language = language
    self.interpreter = interpreter
    self.environment = environment
  }

  /// u8 language, string interpreter, list environment.
  func write(to w: inout PayloadWriter) {
    w.u8(language.rawValue)
    w.string(interpreter)
    w.list(environment)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> HostSpec {
    let tag = try r.u8()
    guard let language = HostLanguage(rawValue: tag) else { throw .invalid("host language \(tag)") }
    let interpreter = try r.string()
    if interpreter.first != UInt8(ascii: "/") || interpreter.contains(0) {
      throw .invalid("interpreter path not absolute or holding a NUL byte")
    }
    let environment = try r.list()
    for s in environment where s.contains(0) { throw .invalid("environment entry holds a NUL byte") }
    return HostSpec(language: language, interpreter: interpreter, environment: environment)
  }
}

/// Code for a host to run in its template (`eval`): Python exec()s it in __main__'s namespace with
/// sys.argv = ["-c", arguments...], Perl evals it with @ARGV = arguments.
public struct EvalSpec: Equatable, Sendable {
  /// The code: not empty, no NUL byte.
  public var code: [UInt8]
  public var arguments: [[UInt8]]
  /// A directory descriptor comes with the frame: the host changes to it first, as load does.
  public var hasWorkingDirectory: Bool

  public init(code: [UInt8], arguments: [[UInt8]] = [], hasWorkingDirectory: Bool = false) {
    self.code = code
    self.arguments = arguments
    self.hasWorkingDirectory = hasWorkingDirectory
  }

  /// The same bit as load's (LoadSpec.workingDirectoryFlag), so that a host reads both alike.
  static let workingDirectoryFlag: UInt32 = 2

  /// Descriptors that travel with an eval frame.
  var fdCount: Int { hasWorkingDirectory ? 1 : 0 }

  /// u32 flags, string code, list arguments.
  func write(to w: inout PayloadWriter) {
    w.u32(hasWorkingDirectory ? Self.workingDirectoryFlag : 0)
    w.string(code)
    w.list(arguments)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> EvalSpec {
    let flags = try r.u32()
    if flags & ~workingDirectoryFlag != 0 { throw .invalid("eval flags \(flags)") }
    let code = try r.string()
    if code.isEmpty || code.contains(0) { throw .invalid("eval code empty or holding a NUL byte") }
    let arguments = try r.list()
    for s in arguments where s.contains(0) { throw .invalid("argument holds a NUL byte") }
    return EvalSpec(code: code, arguments: arguments, hasWorkingDirectory: flags & workingDirectoryFlag != 0)
  }
}
