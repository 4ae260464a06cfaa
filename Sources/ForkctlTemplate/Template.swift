// The template role: a small, single-threaded process that only waits for commands on its
// control socket, keeps the descriptors and strings sent to it, forks copies of itself, and
// finally becomes the program it is told to run. The same loop serves a template made by
// `exec` and a worker-to-be made by `fork`: in AnyEvent::Fork terms both are process objects
// that have not run yet. It runs no Foundation, Dispatch or Swift concurrency, so a fork
// never copies another thread's half-held lock (seed 003).
import ForkctlSys
import ForkctlWire

public struct Template {
  /// The descriptor the daemon puts the control socket on.
  public static let controlFD: CInt = 3
  /// Environment variable that tells a program run with --keep-control where its control
  /// socket is.
  public static let controlFDVariable = "FORKCTL_CONTROL_FD"
  /// The name (comm) of every process object until it execs: with a '/', which exec never
  /// gives (Sys.hasExecuted).
  public static let processName = "forkctl/object"

  var channel = FrameChannel(FileDescriptor(rawValue: Template.controlFD))
  var fds: [(fd: FileDescriptor, target: FDTarget)] = []
  var arguments: [[UInt8]] = []
  /// The libraries loaded so far, in order (Library.swift): a call looks its entry up in
  /// them, and once there is one, forks are glibc's fork(), which library code needs.
  var libraries: [LibraryHandle] = []
  /// This process object's id, as the daemon named it (for messages).
  var objectID: String

  /// Runs the template loop of process object `id` until the daemon closes the control
  /// socket or the process executes a program.
  public static func main(id: String) -> Never {
    Sys.initializeProcessTitle()
    Sys.setProcessTitle("forkctl: template \(id)")
    // A name no exec can give (it has a '/'), inherited by every fork: the daemon tells from
    // it whether a process that ended with a run pending had exec'd its program.
    Sys.setProcessName(Template.processName)
    var t = Template(objectID: id)
    t.serve()
  }

  private mutating func serve() -> Never {
    while true {
      let incoming: FrameChannel.Incoming
      do {
        incoming = try channel.receive()
      } catch {
        Sys.exitImmediately(0)
      }
      switch incoming {
      case .endOfFile:
        // The daemon let go of this process object: it ends, as an AnyEvent::Fork object
        // that is destroyed before run does.
        Sys.exitImmediately(0)
      case .violation:
        Sys.exitImmediately(70)
      case .frame(let frame, let received):
        let command: Command
        do {
          command = try Command(frame)
        } catch {
          for f in received { f.closeQuietly() }
          Sys.exitImmediately(70)
        }
        handle(command, received)
      }
    }
  }

  private mutating func handle(_ command: Command, _ received: [FileDescriptor]) {
    switch command {
    case .fds(let targets):
      for (fd, target) in zip(received, targets) { fds.append((fd, target)) }
    case .arguments(let list):
      arguments += list
    case .fork(let id):
      fork(id: id, control: received[0])
    case .run(let spec, let statusPipe, let attributes):
      if case .call(let quickExit) = spec.entry {
        call(spec, quickExit: quickExit, statusPipe: statusPipe, attributes, received)
      } else {
        run(spec, statusPipe: statusPipe, attributes, received)
      }
    case .spawn(_, let targets, let spec, let attributes):
      if case .call(let quickExit) = spec.entry {
        spawnCall(targets, spec, quickExit: quickExit, attributes, received)
      } else {
        spawn(targets, spec, attributes, received)
      }
    case .load(let spec):
      load(spec, workingDirectory: received.first)
    case .eval:
      for f in received { f.closeQuietly() }
      let message = Template.evalRefusal(objectID)
      report(.loadRefused(.wrongState, message: Array(message.utf8)))
    }
  }

  /// Why a native template answers eval with loadRefused (issue 14: only a language host runs
  /// an interpreter).
  static func evalRefusal(_ id: String) -> String {
    "process \(id) is a native template, which runs no interpreter: eval needs a template made with exec --python"
      + " or --perl"
  }

  /// A spawn: the program starts at once in a new process that shares this one's memory
  /// until it execs (as with posix_spawn), so nothing is copied, and this process goes on
  /// as it was. The program gets what a fork of this process would: its descriptors and
  /// strings, plus those of the request, and the client's attributes.
  private func spawn(
    _ targets: [FDTarget], _ spec: RunSpec, _ attributes: ProcessAttributes?, _ received: [FileDescriptor]
  ) {
    let extra = Array(received.prefix(targets.count))
    let cwd = spec.hasWorkingDirectory ? received.last : nil
    defer { for f in received { f.closeQuietly() } }
    guard singleThreaded("spawning from") else { return }
    let moves = placements(fds + zip(extra, targets).map { ($0, $1) })
    let argv = [spec.program] + arguments + spec.arguments
    // The new process reports its own pid before it can run anything: if this process dies
    // once the program runs, the daemon still knows whose status it reaps (issue 11 item 3).
    let control = FileDescriptor(rawValue: Template.controlFD)
    let announcement = (control, Report.spawning(pid: 0).frame().encoded(), Report.spawningPIDOffset)
    do {
      let started = try Sys.vforkSibling(
        program: spec.program, arguments: argv, environment: spec.environment ?? Sys.environment(), moves: moves,
        workingDirectory: cwd, attributes: attributes, keep: [control], announcement: announcement)
      report(.spawned(pid: started.pid, errno: started.execFailure?.rawValue ?? 0))
    } catch {
      report(.refused(.templateFailed, message: Self.cannotCreateProcess(error)))
    }
  }

  /// fork(2) in a process with more than one thread copies only the caller, and a lock
  /// another thread held stays held for ever in the child (a CLONE_VM child shares them
  /// all): refuses, reporting why, unless this process has exactly one thread. Threads
  /// that are exiting get a short grace, as Android's zygote gives them.
  func singleThreaded(_ action: String) -> Bool {
    if Sys.threadCount() == 1 { return true }
    let names = Sys.threadNames(graceMilliseconds: Template.threadGraceMilliseconds)
    if names.count <= 1 { return true }
    report(.refused(.templateFailed, message: Array(Template.threadRefusal(names, action).utf8)))
    return false
  }

  func report(_ r: Report) {
    // The daemon is the only peer; if it is gone the next receive sees end of file.
    try? channel.send(r.frame())
  }

  private mutating func fork(id: UInt64, control: FileDescriptor) {
    guard singleThreaded("forking") else {
      control.closeQuietly()
      return
    }
    let pid: Int32
    do {
      pid = try forkWorker()
    } catch {
      control.closeQuietly()
      report(.refused(.templateFailed, message: Self.cannotCreateProcess(error)))
      return
    }
    if pid == 0 {
      // The child: its own control socket replaces the parent's on the fixed number; the
      // strings and descriptors sent so far are its own copies now.
      do {
        try FileDescriptor.move(control, to: Template.controlFD)
      } catch {
        Sys.exitImmediately(71)
      }
      control.closeQuietly()
      // Its own process group: a program's kill(0, ...) cannot reach the daemon, and
      // signals forwarded by spawn reach the program's children as a terminal's would.
      Sys.makeProcessGroup()
      channel = FrameChannel(FileDescriptor(rawValue: Template.controlFD))
      objectID = String(id)
      // Its pid before anything else: should the parent die before reporting the fork, the
      // daemon still knows whose status it reaps, and that it was born (issue 11 item 3).
      report(.spawning(pid: Sys.processID))
      Sys.setProcessTitle("forkctl: process \(id)")
      return
    }
    control.closeQuietly()
    report(.forked(pid: pid))
  }

  /// Fixed targets first; every other descriptor takes the lowest number nobody else has, in
  /// the order it was sent.
  func placements() -> [(source: FileDescriptor, target: Int32)] { placements(fds) }

  func placements(_ fds: [(fd: FileDescriptor, target: FDTarget)]) -> [(source: FileDescriptor, target: Int32)] {
    let fixed = Set(fds.compactMap(\.target))
    var next: Int32 = 0
    var out: [(source: FileDescriptor, target: Int32)] = []
    for (fd, target) in fds {
      if let target {
        out.append((fd, target))
      } else {
        while fixed.contains(next) { next += 1 }
        out.append((fd, next))
        next += 1
      }
    }
    return out
  }

  /// What a run (or a call) prepares: where each descriptor goes, the environment, and what
  /// the daemon watches for its outcome (`keep`: the control socket unless the program
  /// keeps it, then the status pipe if there is one).
  struct RunSetup {
    var workingDirectory: FileDescriptor?
    var pipe: FileDescriptor?
    var moves: [(source: FileDescriptor, target: Int32)]
    var environment: [[UInt8]]
    var keep: [FileDescriptor]
  }

  func runSetup(_ spec: RunSpec, statusPipe: Bool, _ received: [FileDescriptor]) -> RunSetup {
    let pipe = statusPipe ? received.last : nil
    var setup = RunSetup(
      workingDirectory: spec.hasWorkingDirectory ? received.first : nil, pipe: pipe, moves: placements(),
      environment: spec.environment ?? Sys.environment(), keep: [])
    let control = FileDescriptor(rawValue: Template.controlFD)
    if spec.keepControl {
      let slot = max(2, setup.moves.map(\.target).max() ?? 2) + 1
      setup.moves.append((control, slot))
      let prefix = Array("\(Template.controlFDVariable)=".utf8)
      setup.environment.removeAll { $0.starts(with: prefix) }
      setup.environment.append(prefix + Array(String(slot).utf8))
    } else {
      setup.keep.append(control)
    }
    if let pipe { setup.keep.append(pipe) }
    return setup
  }

  private mutating func run(
    _ spec: RunSpec, statusPipe: Bool, _ attributes: ProcessAttributes?, _ received: [FileDescriptor]
  ) -> Never {
    var setup = runSetup(spec, statusPipe: statusPipe, received)
    let argv = [spec.program] + arguments + spec.arguments
    let failure = Sys.execute(
      program: spec.program, arguments: argv, environment: setup.environment, moves: setup.moves,
      workingDirectory: setup.workingDirectory, attributes: attributes, keep: &setup.keep)
    failRun(failure, setup)
  }

  /// The program did not start: tells the daemon why (on the status pipe, or the control
  /// socket), then exits as a shell does: 127 not found, 126 other.
  func failRun(_ failure: ExecFailure, _ setup: RunSetup) -> Never {
    if setup.pipe != nil {
      try? setup.keep.last!.writeFully(ExecFailureReport(errno: failure.rawValue).encode())
    } else {
      try? FrameChannel(setup.keep[0]).send(Report.execFailed(errno: failure.rawValue).frame())
    }
    let notFound = failure.errno == Errno.noSuchFileOrDirectory.rawValue && [.exec, .symbol].contains(failure.step)
    Sys.exitImmediately(notFound ? 127 : 126)
  }
}
