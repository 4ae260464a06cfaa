// run, and the exec outcome that answers it: the control socket's end of file (close-on-exec)
// or the status pipe (a program that keeps its control socket) says the program started; an
// errno from the process or the pipe says it did not.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  mutating func run(
    _ ref: [UInt8], _ spec: RunSpec, _ requested: ProcessAttributes?, _ fds: [FileDescriptor], _ client: ClientID,
    detach: Bool = false
  ) {
    guard let id = lookup(ref, client) else { return closeAll(fds) }
    guard case .some(let attributes) = confined(requested, for: client, "run") else { return closeAll(fds) }
    if registry[id]?.origin == .defaultTemplate {
      closeAll(fds)
      effects.reply(client, .failure(.wrongState, "cannot run the default template; fork it with new"))
      return
    }
    guard requireUnrun(id, "run", client), requireLibrary(id, spec, client) else { return closeAll(fds) }
    var sent = fds
    if spec.keepControl {
      do {
        let p = try effects.pipe()
        effects.watchStatusPipe(id, p.read)
        sent.append(p.write)
      } catch {
        closeAll(fds)
        effects.reply(client, .failure(.internalError, "cannot create a pipe: \(Sys.describe(error))"))
        return
      }
    }
    let run = Run(
      program: Run.kept(spec.program), keepsControl: spec.keepControl,
      outcome: .pending(client: client, waitForExit: spec.waitForExit))
    registry.update(id) {
      if detach { $0.status = .detached }
      switch $0.phase {
      // The run queues behind the fork on the control socket; the fork report makes it running.
      case .starting(_, let then): $0.phase = .starting(run: run, then: then)
      case .ready(let pid): $0.phase = .running(pid: pid, run)
      case .running, .exited: preconditionFailure("requireUnrun let a run through")
      }
    }
    effects.send(id, .run(spec, statusPipe: spec.keepControl, attributes: attributes), fds: sent)
  }

  /// What closes on exec in `id` (its control socket, or a status pipe) reached end of file
  /// with no failure said: the program exec'd, or the process died before it could (killed
  /// while the run was in flight: issue 11 item 4), which its name tells (`ranProgram`).
  mutating func execEnded(_ id: UInt64) {
    guard let o = registry[id], let run = o.phase.run, case .pending = run.outcome else { return }
    guard let pid = o.phase.pid else {
      // Before its template's fork report: `created` needs the pid, so it waits for it.
      registry.update(id) {
        if case .starting(let run, let then) = $0.phase {
          $0.phase = .starting(run: run, then: then.union(.execSucceeded))
        }
      }
      return
    }
    // Exited with the outcome still pending: its reaping found it had not exec'd (childExited).
    if o.phase.isExited || !effects.ranProgram(pid) {
      diedBeforeExec(id)
    } else {
      programStarted(id)
    }
  }

  /// The process of `id` ended without running its program, and said no exec failure: it was
  /// killed first. Its status goes to a wait, as any process's.
  mutating func diedBeforeExec(_ id: UInt64) {
    // A detached run that has exited already is forgotten once the outcome is known.
    defer { forgetIfSpent(id) }
    guard let o = registry[id], let run = o.phase.run, case .pending(let client, _) = run.outcome else { return }
    registry.update(id) { $0.phase.run?.outcome = .failed }
    let program = String(decoding: run.program, as: UTF8.self)
    // Its status may not be reaped yet: `wait` tells it.
    let how = "it ended before running it"
    if o.origin == .spawn {
      fail(client, .templateFailed, "cannot spawn \(program): \(how)")
      // Nobody will wait for a spawn whose program never ran.
      markReported(id)
    } else {
      fail(client, .templateFailed, "cannot run \(program) in \(describe(id)): \(how)")
    }
  }

  /// The program of `id` exec'd.
  mutating func programStarted(_ id: UInt64) {
    defer { forgetIfSpent(id) }
    guard let o = registry[id], let run = o.phase.run, case .pending(let client, let waitForExit) = run.outcome,
      let pid = o.phase.pid
    else { return }
    registry.update(id) { $0.phase.run?.outcome = .started }
    guard let client else { return }
    guard waitForExit else {
      effects.reply(client, .ok)
      return
    }
    var attachment = Attachment(client: client, onDisconnect: .detach, wantsPIDFD: false)
    if case .attached(let a) = o.status { attachment = a }
    registry.update(id) { $0.status = .attached(attachment) }
    // Race-free: the daemon is the parent, and it has not reaped the child yet (a reaped
    // one has its exit status here already, and then no pidfd is sent).
    let reaped = o.phase.isExited || registry.hasEarlyExit(pid: pid)
    let pidfd = attachment.wantsPIDFD && !reaped ? effects.openPIDFD(pid) : nil
    let created: Reply? = o.origin == .spawn ? .created(id: id, pid: pid, withPIDFD: pidfd != nil) : nil
    effects.attach(client, created, fds: pidfd.map { [$0] } ?? [])
    waits.append(PendingWait(client: client, ids: [id]))
    answerWaits()
  }

  /// The program of `id` could not be exec'd. `reported` is the word the process reported:
  /// an errno, with the step that failed above it (ExecFailure).
  mutating func execFailed(_ id: UInt64, _ reported: Errno) {
    defer { forgetIfSpent(id) }
    guard let o = registry[id], let run = o.phase.run, case .pending(let client, _) = run.outcome else { return }
    registry.update(id) { $0.phase.run?.outcome = .failed }
    let failure = ExecFailure(rawValue: reported.rawValue)
    let errno = Errno(rawValue: failure.errno)
    let program = String(decoding: run.program, as: UTF8.self)
    let spawned = o.origin == .spawn
    switch failure.step {
    case .workingDirectory:
      // The client names the directory: the daemon has only its descriptor.
      fail(client, .workingDirectoryFailed, Sys.describe(errno))
    case .symbol:
      let libraries = o.holdings.libraries.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ", ")
      // A host's worker imports the function's module itself when the template had not: why
      // that failed is the traceback (Perl: the die) it wrote on its stderr.
      let why =
        o.host != nil
        ? "its module cannot be imported there or does not define it (the worker's stderr says which)"
        : "no library it loaded exports it" + (libraries.isEmpty ? "" : " (\(libraries))")
      fail(client, .symbolNotFound, "cannot call \(program)\(spawned ? "" : " in \(describe(id))"): \(why)")
    case .exec:
      let code: ErrorCode =
        errno == .noSuchFileOrDirectory
        ? .programNotFound : (errno == .permissionDenied ? .programNotExecutable : .execFailed)
      fail(
        client, code,
        spawned
          ? "\(program): \(Sys.describe(errno))" : "cannot run \(program) in \(describe(id)): \(Sys.describe(errno))")
    default:
      // Another step before exec is the process not made as asked, not the program:
      // forkctl's own failure (exit 125), as a failed fork is.
      fail(client, .templateFailed, "\(failure.step.failedAction ?? ""): \(Sys.describe(errno))")
    }
    if spawned {
      // Nobody will wait for a spawn whose program never ran.
      markReported(id)
    }
  }
}
