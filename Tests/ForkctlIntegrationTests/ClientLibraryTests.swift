// ForkctlClient, the library a server uses instead of fork+exec, against a real daemon.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Synchronization
import Testing

/// Runs `body(i)` for i in 0..<count on as many POSIX threads at once, and joins them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
  final class Job {
    let body: @Sendable (Int) -> Void
    let index: Int
    init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) {
      self.body = body
      self.index = index
    }
  }
  var threads: [pthread_t] = []
  for i in 0..<count {
    var t = pthread_t()
    let job = Unmanaged.passRetained(Job(body, i)).toOpaque()
    let rc = pthread_create(
      &t, nil,
      { raw in
        let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
        job.body(job.index)
        return nil
      }, job)
    precondition(rc == 0, "pthread_create: \(rc)")
    threads.append(t)
  }
  for t in threads { pthread_join(t, nil) }
}

/// A thread-safe list of failures, for checks made on other threads.
final class Failures: Sendable {
  private let lock = Mutex([String]())
  func add(_ s: String) { lock.withLock { $0.append(s) } }
  var all: [String] { lock.withLock { $0 } }
}

@Suite struct ClientLibraryTests {
  @Test("spawn: this process's stdio by default, the program's exact status, a pidfd that signals its end")
  func spawnAndWait() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    let out = try Sys.open(w.dir + "/lib.out", .writeOnly, options: [.create, .truncate])
    defer { out.closeQuietly() }
    // It waits for end of file on stdin, so it is alive when the daemon opens its pidfd.
    let gate = try Sys.pipe()
    let p = try client.spawn(
      program: Array("sh".utf8),
      arguments: [Array("-c".utf8), Array("cat; echo $0 $$; exit 9".utf8), Array("hi".utf8)],
      fds: [(gate.read, 0), (out, 1)])
    gate.read.closeQuietly()
    #expect(p.pid > 0)
    let pidfd = try #require(p.pidfd)
    #expect(!Sys.isReadableNow(pidfd))
    gate.write.closeQuietly()
    #expect(try p.wait() == .exited(9))
    #expect(try p.wait() == .exited(9))
    // The pidfd is readable once the process has ended.
    #expect(Sys.isReadableNow(pidfd))
    pidfd.closeQuietly()
    #expect(readFile(w.dir + "/lib.out") == "hi \(p.pid)\n")
  }

  @Test("failures are typed: refused as .programNotFound for a missing program, .unknownProcess for an id")
  func typedErrors() {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    #expect { try client.spawn("no-such-program-x") } throws: {
      let e = $0 as? ForkctlError
      return e?.code == .refused && e?.refusal == .programNotFound
    }
    #expect { try client.wait(["4711"]) } throws: {
      let e = $0 as? ForkctlError
      return e?.code == .refused && e?.refusal == .unknownProcess
    }
    let nowhere = ForkctlClient(socketPath: "/proc/forkctl/sock")
    #expect { try nowhere.list() } throws: { ($0 as? ForkctlError)?.code == .daemonUnavailable }
    // The client is still usable after refusals.
    #expect((try? client.list().count) == 1)
  }

  @Test("new, send-fd, send-arg, run, wait and kill through the library")
  func stepByStep() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    let out = try Sys.open(w.dir + "/steps.out", .writeOnly, options: [.create, .truncate])
    defer { out.closeQuietly() }
    let a = try client.new(name: "step")
    try client.sendFDs("step", [(out, 1)])
    try client.sendArguments("step", [Array("one".utf8)])
    #expect(
      try client.run(
        "step",
        RunSpec(
          program: Array("echo".utf8), arguments: [Array("two".utf8)],
          environment: ["PATH=/bin:/usr/bin"].map { Array($0.utf8) })) == nil)
    #expect(try client.wait(["step"]).map(\.status) == [.exited(0)])
    #expect(readFile(w.dir + "/steps.out") == "one two\n")
    let b = try client.new()
    var spec = RunSpec(
      program: Array("sleep".utf8), arguments: [Array("100".utf8)],
      environment: ["PATH=/bin:/usr/bin"].map { Array($0.utf8) })
    spec.waitForExit = false
    _ = try client.run(String(b.id), spec)
    try client.kill([String(b.id)], signal: SIGTERM)
    #expect(try client.wait([String(b.id)]).map(\.status) == [.signaled(SIGTERM, coreDumped: false)])
    #expect(a.id != b.id)
  }

  @Test("32 threads spawning at once, 320 programs: each status exact, nothing left behind")
  func manyThreads() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    _ = try client.list()  // one daemon before the rush
    let failures = Failures()
    onThreads(32) { t in
      for k in 0..<10 {
        let code = Int32((t * 10 + k) % 200)
        do {
          let p = try client.spawn("/bin/sh", ["-c", "exit \(code)"])
          let status = try p.wait()
          if status != .exited(code) { failures.add("thread \(t) run \(k): \(status), wanted \(code)") }
          p.pidfd?.closeQuietly()
        } catch {
          failures.add("thread \(t) run \(k): \(error)")
        }
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
    // The daemon answers for a child while it is a zombie and reaps it right after.
    #expect(eventually("no zombie of the daemon") { zombieChildren(of: w.daemonPID).isEmpty })
    #expect(try client.list().count == 1)
  }

  @Test("signal() from one thread reaches the program while another waits")
  func signalWhileWaiting() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    let out = try Sys.open(w.dir + "/trap.out", .writeOnly, options: [.create, .truncate])
    let p = try client.spawn(
      program: Array("/bin/sh".utf8),
      arguments: ["-c", "trap 'exit 42' USR1; echo ready; while :; do sleep 0.05; done"].map { Array($0.utf8) },
      fds: [(out, 1)])
    out.closeQuietly()
    let path = w.dir + "/trap.out"
    let result = Mutex<ForkctlWire.ExitStatus?>(nil)
    let waiter = SpawnedBox(p)
    onThreads(2) { i in
      if i == 0 {
        let status = try? waiter.p.wait()
        result.withLock { $0 = status }
      } else {
        // The trap is set once the shell runs its first command.
        _ = eventually("trap set") { readFile(path) == "ready\n" }
        for _ in 0..<100 where result.withLock({ $0 == nil }) {
          try? waiter.p.signal(SIGUSR1)
          usleep(50_000)
        }
      }
    }
    #expect(result.withLock { $0 } == .exited(42))
  }

  @Test("dropping an unwaited SpawnedProcess ends its program; with detach it runs on")
  func droppedProcess() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    var pid: Int32 = 0
    do {
      let p = try client.spawn("/bin/sleep", ["101"])
      pid = p.pid
    }
    #expect(eventually("the dropped program ended") { !isAlive(pid) })
    var detachedPID: Int32 = 0
    var detachedID: UInt64 = 0
    do {
      let p = try client.spawn("/bin/sleep", ["102"], detach: true)
      detachedPID = p.pid
      detachedID = p.id
    }
    #expect(isAlive(detachedPID))
    try client.kill([String(detachedID)], signal: SIGKILL)
    #expect(try client.wait([String(detachedID)]).map(\.status) == [.signaled(SIGKILL, coreDumped: false)])
  }

  @Test("sequential spawns reuse one pooled connection once each has been waited for")
  func connectionReuse() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    for i in 0..<20 {
      let p = try client.spawn("/bin/sh", ["-c", "exit \(i)"])
      #expect(try p.wait() == .exited(Int32(i)))
      try? p.signal(SIGTERM)  // after wait: not sent on the pooled connection
      p.pidfd?.closeQuietly()
    }
    #expect(clientConnections(of: w.daemonPID).count == 1)
    #expect(try client.list().count == 1)
  }

  @Test("pooled connections survive a daemon restart: the next call starts a new daemon")
  func daemonRestart() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    _ = try client.list()
    let first = w.daemonPID
    try client.shutdown()
    #expect(eventually("old daemon gone") { !isAlive(first) })
    #expect(try client.list().count == 0)
    #expect(w.daemonPID != first)
  }
}

/// Shares a SpawnedProcess between test threads.
final class SpawnedBox: Sendable {
  let p: SpawnedProcess
  init(_ p: SpawnedProcess) { self.p = p }
}

@Suite struct EmptyEnvironmentTests {
  @Test("run without an environment: the program gets its template's, which is empty, and does not crash")
  func runWithoutEnvironment() throws {
    let w = World()
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    let out = try Sys.open(w.dir + "/env.out", .writeOnly, options: [.create, .truncate])
    defer { out.closeQuietly() }
    let p = try client.new()
    try client.sendFDs(String(p.id), [(out, 1)])
    var spec = RunSpec(program: Array("/usr/bin/env".utf8))
    spec.waitForExit = true
    #expect(try client.run(String(p.id), spec) == .exited(0))
    #expect(readFile(w.dir + "/env.out") == "")
  }
}
