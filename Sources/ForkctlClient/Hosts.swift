// Language hosts from the client's side (issue 14): the interpreter found as this process finds
// programs, and code run in a host's template (forkctl(1) exec --python, eval).
import ForkctlSys
import ForkctlWire

extension HostSpec {
  /// The interpreter each language uses unless told otherwise, looked up in PATH.
  public static func defaultInterpreter(_ language: HostLanguage) -> String {
    switch language {
    case .python: return "python3"
    case .perl: return "perl"
    }
  }

  /// A host of `language` running `interpreter` (default `defaultInterpreter`), resolved here,
  /// through this process's PATH when it has no '/', to an absolute path, with this process's
  /// environment: the daemon, whose PATH and directory are its own, then runs what the caller
  /// would have run.
  public static func resolving(_ language: HostLanguage, interpreter: String? = nil) throws(ForkctlError) -> HostSpec {
    let name = interpreter ?? defaultInterpreter(language)
    guard let path = absolutePath(of: name) else {
      throw ForkctlError(
        .interpreterNotFound,
        name.contains("/")
          ? "cannot start a \(language.name) host: \(name) is not an executable file"
          : "cannot start a \(language.name) host: \(name) is not in PATH")
    }
    return HostSpec(language: language, interpreter: Array(path.utf8), environment: Sys.environment())
  }

  /// `name` as execvp(3) would find it (an executable file in a directory of PATH; an empty
  /// entry is the working directory), or with a '/' itself; made absolute; nil when not found.
  private static func absolutePath(of name: String) -> String? {
    var candidates: [String]
    if name.contains("/") {
      candidates = [name]
    } else {
      let path = Sys.environmentValue("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
      candidates = path.split(separator: ":", omittingEmptySubsequences: false).map {
        $0.isEmpty ? name : "\($0)/\(name)"
      }
    }
    guard let found = candidates.first(where: Sys.isExecutableFile) else { return nil }
    if found.hasPrefix("/") { return found }
    guard let cwd = try? Sys.currentDirectoryPath() else { return nil }
    return cwd == "/" ? "/\(found)" : "\(cwd)/\(found)"
  }
}

extension ForkctlConnection {
  /// Runs `spec.code` in language host `ref` (which has not run): Python exec() in __main__,
  /// Perl eval. Returns the threads it has afterwards. Not bounded by FORKCTL_TIMEOUT, as a load
  /// is not. `workingDirectory`: a directory the host changes to first, as for load.
  public mutating func eval(
    _ ref: String, _ spec: EvalSpec, workingDirectory: FileDescriptor? = nil
  ) throws(ForkctlError) -> ThreadCensus {
    var spec = spec
    spec.hasWorkingDirectory = workingDirectory != nil
    return try threadsAfter(.eval(ref: Array(ref.utf8), spec), workingDirectory)
  }
}

extension ForkctlClient {
  /// `eval` of `code` with `arguments`, in this process's working directory.
  @discardableResult
  public func eval(_ ref: String, _ code: String, _ arguments: [String] = []) throws(ForkctlError) -> ThreadCensus {
    let cwd = try Inherited.workingDirectory()
    defer { cwd.closeQuietly() }
    let spec = EvalSpec(code: Array(code.utf8), arguments: arguments.map { Array($0.utf8) })
    return try withConnection { (c) throws(ForkctlError) in try c.eval(ref, spec, workingDirectory: cwd) }
  }
}
