// Code in templates: libraries loaded into a process object, and functions of them called
// in workers instead of programs exec'd (forkctl(1) load and call).
import ForkctlSys
import ForkctlWire

extension ForkctlConnection {
  /// Loads a library into the process object `ref` (which has not run), and runs its init;
  /// returns the threads it has afterwards (more than one: it will refuse to fork). An init
  /// may take long, so the reply is not bounded by FORKCTL_TIMEOUT.
  /// `workingDirectory`: a directory descriptor the process object changes to first, for a
  /// relative library path and the init's own paths (nil: its own directory, the daemon's).
  public mutating func load(
    _ ref: String, _ spec: LoadSpec, workingDirectory: FileDescriptor? = nil
  ) throws(ForkctlError) -> ThreadCensus {
    var spec = spec
    spec.hasWorkingDirectory = workingDirectory != nil
    return try threadsAfter(.load(ref: Array(ref.utf8), spec), workingDirectory)
  }

  /// Sends `request` (a load or an eval) with `workingDirectory`, and returns the threads its
  /// `loaded` reply counts; not bounded by FORKCTL_TIMEOUT, as the code it runs may take long.
  mutating func threadsAfter(_ request: Request, _ workingDirectory: FileDescriptor?) throws(ForkctlError)
    -> ThreadCensus
  {
    try send(request, fds: workingDirectory.map { [$0] } ?? [])
    let reply = try receiveReply(bounded: false).reply
    guard case .loaded(let threads) = reply else { throw unexpected(reply) }
    return threads
  }

  /// Makes `ref` call `symbol` (`int symbol(int argc, char **argv)`, from a library it
  /// loaded) with `arguments` after the strings sent to it, prepared as `run` prepares a
  /// program. As `run`: returns once the function is being called, or with
  /// `spec.waitForExit` its status once it returned.
  public mutating func call(
    _ ref: String, _ symbol: [UInt8], arguments: [[UInt8]] = [], environment: [[UInt8]]? = nil,
    workingDirectory: FileDescriptor? = nil, waitForExit: Bool = false, quickExit: Bool = false,
    attributes: ProcessAttributes? = nil
  ) throws(ForkctlError) -> ExitStatus? {
    let spec = RunSpec(
      program: symbol, arguments: arguments, environment: environment, waitForExit: waitForExit,
      entry: .call(quickExit: quickExit))
    return try run(ref, spec, workingDirectory: workingDirectory, forwarding: nil, attributes: attributes)
  }
}
