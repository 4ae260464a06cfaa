// No client waits for ever (issue 11, item 6): a stopped template, a stopped daemon, a socket
// nobody accepts on, and a spawn interrupted before its program runs.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

extension World {
  /// Starts this world's daemon in the background with `options`.
  func startDaemon(_ options: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    ok(["daemon", "--socket", socket, "--background"] + options, sourceLocation: sourceLocation)
  }

  /// Runs `command` (a path and its arguments) with this world's environment plus `extra`;
  /// its outcome and how long it took, in ms. A command that hangs is killed after 20 s
  /// (then 137), so that the test fails instead of hanging.
  func timed(_ command: [String], environment extra: [String] = [], tag: String) -> (Outcome, Int64) {
    let command = ["/usr/bin/timeout", "-s", "KILL", "20"] + command
    let out = "\(dir)/\(tag).out"
    let err = "\(dir)/\(tag).err"
    let o = try! Sys.open(out, .writeOnly, options: [.create, .truncate])
    let e = try! Sys.open(err, .writeOnly, options: [.create, .truncate])
    let started = Sys.monotonicMilliseconds()
    // An entry of `extra` replaces the world's of that name.
    let names = Set(extra.map { $0.prefix { $0 != "=" } })
    let base = environment.filter { !names.contains($0.prefix { $0 != "=" }) }
    let pid = try! Sys.posixSpawn(path: command[0], arguments: command, environment: base + extra, fds: [nil, o, e])
    o.closeQuietly()
    e.closeQuietly()
    let status = try! Sys.waitChild(pid)
    let took = Sys.monotonicMilliseconds() - started
    return (Outcome(status: status, stdout: readFile(out), stderr: readFile(err)), took)
  }

}

@Suite("Hangs: every wait for the daemon or a template is bounded")
struct HangTests {
  @Test("a stopped template makes new and spawn fail within --template-timeout, naming it")
  func stoppedTemplateFailsNewAndSpawn() throws {
    let w = World()
    w.startDaemon(["--template-timeout", "1"])
    _ = w.ok(["new"])
    let template = try #require(w.entries().first { $0.id == 1 }).pid
    kill(template, SIGSTOP)
    let (new, newTook) = w.timed([forkctlBinary, "new"], tag: "new")
    #expect(new.code == 125)
    #expect(new.stderr.contains("the default template (process 1) did not answer within 1 s"), "\(new.stderr)")
    #expect(newTook < 5000, "new took \(newTook) ms")
    // It was killed: the next request starts a fresh default template, and that one, stopped
    // too, fails a spawn the same way.
    #expect(eventually("the stopped template is reaped") { !isAlive(template) })
    _ = w.ok(["new"])
    let fresh = try #require(w.entries().first { $0.state == "ready" && $0.pid != template && $0.id > 2 }).pid
    kill(fresh, SIGSTOP)
    let (spawn, spawnTook) = w.timed([forkctlBinary, "spawn", "true"], tag: "spawn")
    #expect(spawn.code == 125)
    #expect(spawn.stderr.contains("cannot spawn true: the default template"), "\(spawn.stderr)")
    #expect(spawn.stderr.contains("did not answer within 1 s"), "\(spawn.stderr)")
    #expect(spawnTook < 5000, "spawn took \(spawnTook) ms")
  }

  @Test("a start lock another process holds makes a client fail within FORKCTL_TIMEOUT, naming the lock")
  func heldStartLockFailsClient() throws {
    try requireProgram("/usr/bin/flock", package: "util-linux")
    let w = World()
    _ = mkdir(w.dir + "/run", 0o700)
    // A starter that never finishes: flock(1) holds the lock until it is killed.
    let ready = try Sys.pipe()
    let holder = try Sys.posixSpawn(
      path: "/usr/bin/flock",
      arguments: ["flock", w.socket + ".start.lock", "sh", "-c", "echo held; exec sleep 60"], environment: [],
      fds: [nil, ready.write, nil])
    ready.write.closeQuietly()
    defer {
      kill(holder, SIGKILL)
      _ = try? Sys.waitChild(holder)
    }
    _ = try ready.read.readAll(limit: 5)  // "held\n": the lock is taken
    ready.read.closeQuietly()
    let (list, took) = w.timed([forkctlBinary, "list"], environment: ["FORKCTL_TIMEOUT=1"], tag: "list")
    #expect(list.code == 125)
    #expect(
      list.stderr.contains("another process held \(w.socket).start.lock for 1 s (FORKCTL_TIMEOUT)"), "\(list.stderr)")
    #expect(took < 5000, "list took \(took) ms")
    #expect(daemons(for: w.socket).isEmpty)
  }

  @Test("a stopped daemon makes a client fail within FORKCTL_TIMEOUT, saying so")
  func stoppedDaemonFailsClient() {
    let w = World()
    w.startDaemon([])
    let daemon = w.daemonPID
    kill(daemon, SIGSTOP)
    defer { kill(daemon, SIGCONT) }
    let (list, took) = w.timed([forkctlBinary, "list"], environment: ["FORKCTL_TIMEOUT=1"], tag: "list")
    #expect(list.code == 125)
    #expect(list.stderr.contains("daemon at \(w.socket) did not answer within 1 s"), "\(list.stderr)")
    #expect(took < 5000, "list took \(took) ms")
  }

  @Test("a socket whose backlog nobody accepts makes connect fail within FORKCTL_TIMEOUT")
  func unacceptedBacklogFailsConnect() throws {
    try requireProgram("/usr/bin/python3", package: "python3")
    let w = World()
    _ = mkdir(w.dir + "/run", 0o700)
    // listen(0) holds one connection, made here; nothing is ever accepted.
    let script = """
      import os, socket, sys, time
      s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0)
      c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])
      print("listening", flush=True); time.sleep(60)
      """
    let ready = try Sys.pipe()
    let python = try Sys.posixSpawn(
      path: "/usr/bin/python3", arguments: ["python3", "-c", script, w.socket], environment: [],
      fds: [nil, ready.write, nil])
    ready.write.closeQuietly()
    defer {
      kill(python, SIGKILL)
      _ = try? Sys.waitChild(python)
    }
    _ = try ready.read.readAll(limit: 10)
    ready.read.closeQuietly()
    let (list, took) = w.timed([forkctlBinary, "list"], environment: ["FORKCTL_TIMEOUT=1"], tag: "list")
    #expect(list.code == 125)
    #expect(list.stderr.contains("cannot connect to daemon at \(w.socket): it accepted no connection within 1 s"))
    #expect(took < 5000, "list took \(took) ms")
  }

  @Test(
    "timeout 1 forkctl spawn against a stopped template ends with 124, and the program never runs",
    arguments: ["TERM", "INT", "HUP"])
  func interruptedSpawnEnds(signal: String) throws {
    let w = World()
    w.startDaemon(["--template-timeout", "2"])
    _ = w.ok(["new"])
    let template = try #require(w.entries().first { $0.id == 1 }).pid
    kill(template, SIGSTOP)
    let marker = "\(w.dir)/ran"
    let (spawn, took) = w.timed(
      ["/usr/bin/timeout", "-k", "5", "-s", signal, "1", forkctlBinary, "spawn", "/usr/bin/touch", marker], tag: "spawn"
    )
    #expect(spawn.code == 124, "\(spawn.stderr)")
    #expect(took < 1900, "spawn took \(took) ms")
    // The daemon kills the template that held the request, so the program never runs.
    #expect(eventually("the stopped template is killed") { !isAlive(template) })
    usleep(200_000)
    #expect(access(marker, F_OK) != 0)
  }

  @Test("a daemon whose descriptor limit leaves no room to serve refuses to start, naming the limit, creating nothing")
  func descriptorLimitWithoutRoomRefusesStart() {
    let w = World()
    let (daemon, took) = w.timed(
      ["/bin/sh", "-c", #"ulimit -n 12 && exec "$0" daemon --socket "$1""#, forkctlBinary, w.socket], tag: "daemon")
    #expect(daemon.code == 1, "\(daemon.stderr)")
    #expect(
      daemon.stderr.hasPrefix(
        "forkctl daemon: not enough descriptors: its descriptor limit (RLIMIT_NOFILE) of 12 leaves room for "),
      "\(daemon.stderr)")
    #expect(daemon.stderr.contains("a daemon needs 16"), "\(daemon.stderr)")
    #expect(took < 5000)
    #expect(access(w.dir + "/run", F_OK) != 0, "the socket directory was created")
  }
}
