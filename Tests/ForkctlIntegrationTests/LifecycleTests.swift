// The lifecycle of exited process objects and of the daemon itself, seen from the CLI:
// forget, prune, wait --all, run --detach, and shutdown (issue 10 items 10 and 11, issue 11
// items 5 and 16).
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// Waits until `list` shows `id` exited.
private func exited(_ w: World, _ id: String) -> Bool {
  eventually("\(id) exited") { w.entries().contains { String($0.id) == id && $0.state == "exited" } }
}

@Suite struct LifecycleTests {
  @Test("forget drops an exited object from list, and refuses one that has not exited with 125")
  func forgetDropsExited() {
    let w = World()
    let done = w.ok(["new"])
    let live = w.ok(["new"])
    w.ok(["run", done, "true"])
    #expect(exited(w, done))
    let refused = w.run(["forget", done, live])
    #expect(refused.code == 125)
    #expect(refused.stderr.contains("cannot forget process \(live): it has not exited"), "\(refused.stderr)")
    #expect(w.entries().contains { String($0.id) == done }, "nothing is dropped when one is refused")
    #expect(w.ok(["forget", done]) == "")
    #expect(!w.entries().contains { String($0.id) == done })
    w.ok(["kill", live])
    w.ok(["shutdown"])
  }

  @Test("prune drops every exited object nobody waited for and prints how many")
  func pruneDropsUnreported() {
    let w = World()
    let ids = (0..<3).map { _ in w.ok(["new"]) }
    for id in ids { w.ok(["run", id, "sh", "-c", "exit 4"]) }
    for id in ids { #expect(exited(w, id)) }
    #expect(w.ok(["prune"]) == "3")
    #expect(w.entries().allSatisfy { $0.state != "exited" }, "\(w.entries())")
    #expect(w.ok(["prune"]) == "0")
    w.ok(["shutdown"])
  }

  @Test("wait --all waits for every job that ran and was not waited for, and prints them in id order")
  func waitAllWaitsForRunJobs() {
    let w = World()
    let early = w.ok(["new"])
    let late = w.ok(["new"])
    let unrun = w.ok(["new"])
    w.ok(["run", early, "sh", "-c", "exit 3"])
    #expect(exited(w, early))
    w.ok(["run", late, "sh", "-c", "sleep 0.3; exit 5"])
    let r = w.run(["wait", "--all", "--print"])
    #expect(r.code == 5, "\(r.stderr)")
    #expect(r.stdout == "\(early) 3\n\(late) 5\n")
    let again = w.run(["wait", "--all", "--print"])
    #expect(again.code == 0 && again.stdout == "", "\(again.stdout)\(again.stderr)")
    #expect(w.run(["wait", "--all", unrun]).code == 125)
    w.ok(["kill", unrun])
    w.ok(["shutdown"])
  }

  @Test(
    """
    the README's fork loop with run --detach, past the objects a user may keep, leaves none behind \
    and spawn still works
    """
  )
  func readmeForkLoopDoesNotPileUp() throws {
    let w = World()
    // The per-user limit lowered from 1024 to 64, so that the loop passes it in a few
    // seconds: what is checked is that no object is kept, whatever the limit.
    let d = startForegroundDaemon(w, extra: ["--max-processes-per-user", "64"])
    try #require(d.ready == "ready\n")
    defer { _ = try? Sys.waitChild(d.pid) }
    let log = "\(w.dir)/jobs.log"
    // The README's loop, as written there, past the objects a user may keep.
    let script = """
      exec 3>>"$1"
      forkctl exec --name jobs >/dev/null || exit 1
      forkctl send-fd jobs 1=3 2=3 || exit 1
      n=0
      while [ $n -lt 100 ]; do
          n=$((n + 1))
          w=$(forkctl fork jobs) || exit 1
          forkctl send-arg "$w" "job $n" || exit 1
          forkctl run --detach "$w" -- echo || exit 1
      done
      """
    let devNull = try Sys.open("/dev/null", .readWrite)
    defer { devNull.closeQuietly() }
    let pid = try Sys.posixSpawn(
      path: "/bin/sh", arguments: ["sh", "-c", script, "sh", log],
      environment: w.environment.map { $0.hasPrefix("PATH=") ? "PATH=\(binDirectory):\($0.dropFirst(5))" : $0 },
      fds: [devNull, devNull, devNull])
    let status = try Sys.waitChild(pid)
    #expect(status.exitCode == 0, "the loop failed: \(status)")
    #expect(eventually("every job wrote its line") { readFile(log).split(separator: "\n").count == 100 })
    #expect(w.ok(["spawn", "--", "sh", "-c", "exit 0"]) == "")
    // What is left: the default template and the "jobs" template, nothing exited.
    let left = eventually("every job forgotten") { w.entries().count == 2 }
    #expect(left, "\(w.entries().filter { $0.state == "exited" }.count) exited objects left in list")
    w.ok(["shutdown"])
  }

  @Test("an object run with --detach is forgotten once it exits; one that exits at once too")
  func runDetachForgetsOnExit() {
    let w = World()
    let quick = w.ok(["new"])
    let slow = w.ok(["new"])
    w.ok(["run", "--detach", quick, "true"])
    w.ok(["run", "--detach", slow, "sleep", "0.3"])
    #expect(eventually("both forgotten") { w.entries().allSatisfy { $0.state != "exited" } && w.entries().count == 1 })
    let r = w.run(["run", "--detach", "--wait", w.ok(["new"]), "true"])
    #expect(r.code == 125 && r.stderr.contains("cannot --wait"), "\(r.stderr)")
    w.ok(["shutdown"])
  }

  @Test("shutdown tells an attached spawn that its program keeps running, and it exits 124; the program runs on")
  func shutdownTellsAttachedSpawn() throws {
    let w = World()
    let client = try Background(w, ["spawn", "--", "sleep", "30"])
    #expect(eventually("the program runs") { w.entries().contains { $0.state == "running" } })
    let program = try #require(w.entries().first { $0.state == "running" }?.pid)
    w.ok(["shutdown"])
    let (status, stderr) = client.finish()
    #expect(status.exitCode == 124, "\(status) \(stderr)")
    #expect(
      stderr == "forkctl: the daemon is shutting down; sleep (pid \(program)) keeps running, and its status is lost\n")
    #expect(isAlive(program))
    kill(program, SIGKILL)
  }

  @Test(
    "shutdown --wait refuses new spawns, serves list, and stops once the attached program has ended and been reported")
  func shutdownWaitDrains() throws {
    let w = World()
    let client = try Background(w, ["spawn", "--", "sh", "-c", "sleep 1; exit 3"])
    #expect(eventually("the program runs") { w.entries().contains { $0.state == "running" } })
    let daemon = w.daemonPID
    let stopper = try Background(w, ["shutdown", "--wait"])
    #expect(eventually("the drain began") { w.run(["spawn", "true"]).stderr.contains("shutdown --wait") })
    let refused = w.run(["spawn", "true"])
    #expect(refused.code == 125 && refused.stderr.contains("starts nothing new"), "\(refused.stderr)")
    #expect(w.run(["list"]).code == 0, "list is served while draining")
    #expect(client.finish().status.exitCode == 3, "the spawn gets its program's status")
    #expect(stopper.finish().status.exitCode == 0)
    #expect(readFile(w.socket + ".pid").isEmpty, "the daemon let go of its pid file before shutdown --wait returned")
    #expect(eventually("the daemon exited") { !isAlive(daemon) })
  }

  @Test("forkctl shutdown && forkctl list never fails: shutdown answers once the socket and pid file are free")
  func shutdownAnswersOnceThePathIsFree() throws {
    let w = World()
    w.ok(["list"])
    // In process, so that the next connection follows the answer by microseconds, not by
    // the few milliseconds forkctl takes to start: the window of the race, if there is one.
    for round in 0..<30 {
      var stopper = try ForkctlConnection(socketPath: w.socket, autoStart: false)
      try stopper.shutdown()
      do {
        var next = try ForkctlConnection(socketPath: w.socket, daemonExecutable: forkctlBinary)
        _ = try next.list()
      } catch {
        Issue.record("round \(round): list right after shutdown failed: \(error.message)")
      }
    }
    w.ok(["shutdown"])
  }

  @Test("a spawn queued on the template when shutdown comes either runs and is reported, or runs not and is told so")
  func queuedSpawnsAtShutdownRunOnceOrNotAtAll() throws {
    let w = World()
    w.ok(["list"])
    let count = 24
    let connections = try (0..<count).map { _ in try UnixSocket.connect(to: w.socket) }
    defer { for c in connections { c.closeQuietly() } }
    let stopper = try UnixSocket.connect(to: w.socket)
    defer { stopper.closeQuietly() }
    for c in connections + [stopper] { setTimeouts(c, seconds: 15) }
    for (i, c) in connections.enumerated() {
      let spec = RunSpec(
        program: bytes("/bin/sh"), arguments: [bytes("-c"), bytes("echo ran >>\(w.dir)/ran.\(i); sleep 1")],
        environment: [bytes("PATH=/bin:/usr/bin")])
      sendQuietly(c, Request.spawn(SpawnRequest(targets: [], spec: spec)).frame().encoded())
    }
    sendQuietly(stopper, Request.shutdown.frame().encoded())
    var started: [Bool] = []
    for (i, c) in connections.enumerated() {
      let (replies, ending) = readReplies(c)
      switch (replies.first, replies.dropFirst().first) {
      case (.created?, .statuses?), (.created?, .failure(.stillRunning, _)?):
        started.append(true)
      case (.failure(.shuttingDown, _)?, nil), (.failure(.templateFailed, _)?, nil):
        started.append(false)
      default:
        Issue.record("spawn \(i): \(replies.map(\.kind)) then \(ending): neither reported as run nor as not run")
        started.append(false)
      }
    }
    #expect(readReplies(stopper).replies == [.ok])
    // Long enough for any program that did start to have written its line.
    usleep(1_500_000)
    for i in 0..<count {
      let ran = readFile("\(w.dir)/ran.\(i)")
      #expect(ran == (started[i] ? "ran\n" : ""), "spawn \(i): told \(started[i] ? "run" : "not run"), wrote '\(ran)'")
    }
  }
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A forkctl command running in the background, its stderr kept.
private struct Background {
  let pid: Int32
  let errPath: String

  init(_ w: World, _ args: [String]) throws {
    errPath = "\(w.dir)/background-\(args[0]).err"
    let devNull = try Sys.open("/dev/null", .readWrite)
    defer { devNull.closeQuietly() }
    let err = try Sys.open(errPath, .writeOnly, options: [.create, .truncate])
    defer { err.closeQuietly() }
    pid = try Sys.posixSpawn(
      path: forkctlBinary, arguments: ["forkctl"] + args, environment: w.environment, fds: [devNull, devNull, err])
  }

  /// Waits for it to end: its status and stderr.
  func finish() -> (status: ExitStatusValue, stderr: String) {
    let status = try! Sys.waitChild(pid)
    return (status, readFile(errPath))
  }
}

/// The directory of the forkctl under test, for a shell that runs it by name.
private let binDirectory = String(forkctlBinary[..<(forkctlBinary.lastIndex(of: "/") ?? forkctlBinary.startIndex)])
