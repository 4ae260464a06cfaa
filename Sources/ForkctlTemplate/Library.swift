// Code in a template: libraries loaded once (dlopen, then their init), whose code and data
// every worker forked afterwards shares, and functions called in workers instead of a
// program exec'd (AnyEvent::Fork's require and run("Module::function"), for native code).
// Library code runs in the worker, so a worker of a template that loaded code is a real
// glibc fork() (atfork handlers, the thread's cached id, robust mutexes), made from a helper
// so that it is still the daemon's child: Sys.forkAdopted, next-capabilities.md 1.2-1.4.
import ForkctlSys
import ForkctlWire

extension Template {
  /// How long a fork waits for threads that are exiting before it refuses.
  static let threadGraceMilliseconds = 100

  /// "process 7 has 3 threads (forkctl/object, ticker, ticker); forking it is unsafe".
  static func threadRefusal(_ names: [String], _ action: String) -> String {
    "process \(Sys.processID) has \(names.count) threads (\(names.joined(separator: ", "))); \(action) it is unsafe"
  }

  /// A new worker: glibc's fork() once code is loaded (with stdio flushed first, or each
  /// worker would write what the template buffered), the raw clone before.
  func forkWorker() throws(Errno) -> Int32 {
    if libraries.isEmpty { return try Sys.forkAsSibling() }
    Sys.flushStdio()
    return try Sys.forkAdopted()
  }

  /// The load command: dlopen with RTLD_NOW (so a missing symbol fails here, not in a
  /// worker), then the init once. A library that does not load changes nothing; an init
  /// that fails ends this process with its code, after the report says so.
  mutating func load(_ spec: LoadSpec, workingDirectory: FileDescriptor?) {
    let path = String(decoding: spec.path, as: UTF8.self)
    if let workingDirectory {
      // The caller's directory, for the library's path and the init's own; it stays this
      // process's (a worker gets its caller's directory from each run or call).
      defer { workingDirectory.closeQuietly() }
      do throws(Errno) {
        try Sys.changeDirectory(to: workingDirectory)
      } catch {
        let message = "cannot change to the caller's working directory: \(Sys.describe(error))"
        return report(.loadRefused(.workingDirectoryFailed, message: Array(message.utf8)))
      }
    }
    guard Sys.canLoadCode else {
      let message =
        "it runs a statically linked image, as the default template and the processes forked from it do, "
        + "and that cannot load code: start a template with forkctl exec"
      return report(.loadRefused(.wrongState, message: Array(message.utf8)))
    }
    let library: LibraryHandle
    switch Sys.openLibrary(spec.path, global: spec.global) {
    case .success(let l): library = l
    case .failure(let e): return report(.loadRefused(.loadFailed, message: Array(e.message.utf8)))
    }
    let initName = spec.initSymbol.isEmpty ? LoadSpec.defaultInit : spec.initSymbol
    if let initialize = Sys.symbol(initName, in: library) {
      let code = Sys.callEntry(initialize, arguments: [spec.path] + spec.arguments)
      if code != 0 {
        let message = "its init \(String(decoding: initName, as: UTF8.self)) returned \(code); the process exits"
        report(.loadRefused(.loadFailed, message: Array(message.utf8)))
        Sys.flushStdio()
        Sys.exitImmediately(code)
      }
    } else if !spec.initSymbol.isEmpty {
      Sys.closeLibrary(library)
      let message = "\(path) does not export \(String(decoding: spec.initSymbol, as: UTF8.self))"
      return report(.loadRefused(.symbolNotFound, message: Array(message.utf8)))
    }
    libraries.append(library)
    let names = Sys.threadNames(graceMilliseconds: Template.threadGraceMilliseconds)
    report(.loaded(ThreadCensus(names: names.map { Array($0.utf8) })))
  }

  /// The entry point `name` in the first loaded library that exports it.
  func entry(_ name: [UInt8]) -> EntryPoint? {
    for library in libraries {
      if let f = Sys.symbol(name, in: library) { return f }
    }
    return nil
  }

  /// `call` in this process object: prepared as `run` prepares a program, then the function
  /// is called, and its return value is the exit status. What the daemon watches (the
  /// control socket, or the status pipe) is closed just before the call, as exec closes it.
  mutating func call(
    _ spec: RunSpec, quickExit: Bool, statusPipe: Bool, _ attributes: ProcessAttributes?,
    _ received: [FileDescriptor]
  ) -> Never {
    var setup = runSetup(spec, statusPipe: statusPipe, received)
    guard let function = entry(spec.program) else {
      failRun(ExecFailure(step: .symbol, errno: Errno.noSuchFileOrDirectory.rawValue), setup)
    }
    // forkctl's own descriptors go, the library's (opened by its init) stay. A control socket
    // the function keeps has its copy on its slot (a move) by then. What the daemon watches
    // comes last (`setup.keep`): closed with the rest once all is prepared, which tells the
    // daemon that the function started, as exec closes it; on failure the report goes
    // through it, on its new number.
    var close = received.filter { $0 != setup.pipe } + fds.map(\.fd)
    if spec.keepControl { close.append(FileDescriptor(rawValue: Template.controlFD)) }
    close += setup.keep
    if let failure = Sys.prepareCall(
      moves: setup.moves, workingDirectory: setup.workingDirectory, environment: setup.environment,
      attributes: attributes, close: &close, processName: spec.program)
    {
      setup.keep = Array(close.suffix(setup.keep.count))
      failRun(failure, setup)
    }
    callAndExit(function, spec, quickExit: quickExit)
  }

  /// Calls `function` with argv its name, the strings sent, then the call's own, and ends
  /// the worker with its return value: exit(3), or _exit(2) with `quickExit`.
  private func callAndExit(_ function: EntryPoint, _ spec: RunSpec, quickExit: Bool) -> Never {
    let code = Sys.callEntry(function, arguments: [spec.program] + arguments + spec.arguments)
    if quickExit { Sys.exitImmediately(code) }
    Sys.exitProcess(code)
  }

  /// A spawn of a function: a worker forked at once, which calls it with the descriptors of
  /// the request. Answered by `spawned` once the worker is prepared (or failed to be); the
  /// worker announces its own pid first, as a spawn's process does.
  mutating func spawnCall(
    _ targets: [FDTarget], _ spec: RunSpec, quickExit: Bool, _ attributes: ProcessAttributes?,
    _ received: [FileDescriptor]
  ) {
    let extra = Array(received.prefix(targets.count))
    let cwd = spec.hasWorkingDirectory ? received.last : nil
    defer { for f in received { f.closeQuietly() } }
    guard singleThreaded("spawning from") else { return }
    guard let function = entry(spec.program) else {
      let message = "no library loaded into the template exports \(String(decoding: spec.program, as: UTF8.self))"
      return report(.refused(.symbolNotFound, message: Array(message.utf8)))
    }
    let prepared: (read: FileDescriptor, write: FileDescriptor)
    do {
      prepared = try Sys.pipe()
    } catch {
      let message = "the template cannot create a pipe: \(Sys.describe(error))"
      return report(.refused(.templateFailed, message: Array(message.utf8)))
    }
    let pid: Int32
    do {
      pid = try forkWorker()
    } catch {
      prepared.read.closeQuietly()
      prepared.write.closeQuietly()
      return report(.refused(.templateFailed, message: Self.cannotCreateProcess(error)))
    }
    if pid == 0 {
      // Its process group, or with a terminal its session, comes with the attributes
      // (prepareCall): a group leader could not start a session.
      report(.spawning(pid: Sys.processID))
      prepared.read.closeQuietly()
      // The pipe last: on failure the report goes through it, on its new number.
      var close = received + fds.map(\.fd) + [FileDescriptor(rawValue: Template.controlFD), prepared.write]
      let moves = placements(fds + zip(extra, targets).map { ($0, $1) })
      if let failure = Sys.prepareCall(
        moves: moves, workingDirectory: cwd, environment: spec.environment ?? Sys.environment(),
        attributes: attributes, close: &close, processName: spec.program)
      {
        try? close[close.count - 1].writeFully(ExecFailureReport(errno: failure.rawValue).encode())
        Sys.exitImmediately(126)
      }
      callAndExit(function, spec, quickExit: quickExit)
    }
    prepared.write.closeQuietly()
    // End of file: prepared, and calling; otherwise the failure of the step that failed.
    let bytes = (try? prepared.read.readAll(limit: ExecFailureReport.size)) ?? []
    prepared.read.closeQuietly()
    let failure = (try? ExecFailureReport.decode(bytes)) ?? nil
    report(.spawned(pid: pid, errno: failure?.errno ?? 0))
  }
}
