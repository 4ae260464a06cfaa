// Code in templates through the shared client: load a library into a template, call its
// functions in workers (forkctl(1) load, call, spawn --call).
import ForkctlSys
import ForkctlWire

extension ForkctlClient {
  /// Loads a library into process object `ref` and runs its init once, in this process's
  /// working directory (so that relative paths mean what they mean here); the threads it
  /// has afterwards (more than one: it refuses to fork).
  @discardableResult
  public func load(_ ref: String, _ spec: LoadSpec) throws(ForkctlError) -> ThreadCensus {
    let cwd = try Inherited.workingDirectory()
    defer { cwd.closeQuietly() }
    return try withConnection { (c) throws(ForkctlError) in try c.load(ref, spec, workingDirectory: cwd) }
  }

  /// `load` of the library at `path`, its init given `arguments`.
  @discardableResult
  public func load(_ ref: String, library path: String, _ arguments: [String] = []) throws(ForkctlError)
    -> ThreadCensus
  {
    try load(ref, LoadSpec(path: Array(path.utf8), arguments: arguments.map { Array($0.utf8) }))
  }

  /// Makes process object `ref` call `symbol` of a library it loaded, prepared as `run`
  /// prepares a program; returns once it is called, or with `waitForExit` its status.
  public func call(
    _ ref: String, _ symbol: String, _ arguments: [String] = [], waitForExit: Bool = false,
    quickExit: Bool = false
  ) throws(ForkctlError) -> ExitStatus? {
    try withConnection { (c) throws(ForkctlError) in
      try c.call(
        ref, Array(symbol.utf8), arguments: arguments.map { Array($0.utf8) }, waitForExit: waitForExit,
        quickExit: quickExit)
    }
  }

  /// `spawn` of a function: forks from `template`, which loaded a library exporting
  /// `symbol`, and calls it with this process's stdio, environment and working directory.
  public func spawn(
    call symbol: String, from template: String, _ arguments: [String] = [], detach: Bool = false,
    quickExit: Bool = false
  ) throws(ForkctlError) -> SpawnedProcess {
    try spawn(
      program: Array(symbol.utf8), arguments: arguments.map { Array($0.utf8) }, from: template, detach: detach,
      entry: .call(quickExit: quickExit))
  }
}
