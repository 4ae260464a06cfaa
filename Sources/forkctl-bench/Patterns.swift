// `forkctl-bench loop KIND`: forkctl's side of the AnyEvent::Fork groups. One untimed
// iteration, then -n timed ones; prints the microseconds they took (Scripts/bench runs
// Scripts/bench.d/anyevent-fork.pl the same way for AnyEvent::Fork's side).
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc

enum Patterns {
  static let kinds = ["spawn", "new-run", "new-kill", "fork-call", "spawn-call"]

  static func run(_ o: Options) {
    let client = o.client()
    var template: CodeTemplate?
    let iteration: () -> Void
    switch o.kind {
    case "spawn": iteration = { spawn(client) }
    case "new-run": iteration = { newRun(client) }
    case "new-kill": iteration = { newKill(client) }
    case "fork-call", "spawn-call":
      // A template that loaded the library, made before the untimed iteration.
      let t = CodeTemplate(client, library: o.library)
      template = t
      iteration =
        o.kind == "fork-call" ? { FunctionWorkers.forkCall(client, t) } : { FunctionWorkers.spawnCall(client, t) }
    default: fail("unknown loop kind '\(o.kind)' (one of \(kinds.joined(separator: ", ")))")
    }
    iteration()
    let ns = timed { for _ in 0..<o.count { iteration() } }
    template?.end()
    Report.line("\(ns / 1000)")
  }

  /// The manual's "faster fork+exec" in one request: /bin/true with argv [/bin/true, hi],
  /// our stdout and stderr on 1 and 2 (stdin /dev/null), our environment and directory;
  /// then its status.
  static func spawn(_ client: ForkctlClient) {
    client.spawnAndWait(
      "/bin/true", ["hi"], fds: [(FileDescriptor.standardOutput, 1), (FileDescriptor.standardError, 2)])
  }

  /// The same pattern step by step, as AnyEvent::Fork does it: a process object forked
  /// from the default template, our stdout and stderr sent to it, one string, then `run`
  /// of /bin/true that answers when it has ended. Four requests on one pooled connection.
  static func newRun(_ client: ForkctlClient) {
    do {
      let ref = String(try client.new().id)
      try client.sendFDs(ref, [(FileDescriptor.standardOutput, 1), (FileDescriptor.standardError, 2)])
      try client.sendArguments(ref, [Array("hi".utf8)])
      let status = try client.run(ref, RunSpec(program: Array("/bin/true".utf8), waitForExit: true))
      if status != .exited(0) { fail("new + run /bin/true: ended with \(String(describing: status))") }
    } catch {
      fail("new + run /bin/true: \(error)")
    }
  }

  /// A process that ends without exec: a process object forked from the default template,
  /// killed (SIGKILL) before it runs anything, and waited for. Three requests.
  static func newKill(_ client: ForkctlClient) {
    do {
      let ref = String(try client.new().id)
      try client.kill([ref], signal: SIGKILL)
      let status = try client.wait([ref])
      guard status.count == 1, case .signaled(SIGKILL, _) = status[0].status else {
        fail("new + kill: ended with \(status)")
      }
    } catch {
      fail("new + kill + wait: \(error)")
    }
  }
}
