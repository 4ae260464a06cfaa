// The daemon's life: auto-start, a second daemon, a killed daemon, shutdown, killed
// templates, garbage on the socket.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// Starts `forkctl daemon` in the foreground as our child, returns once it is listening.
func startForegroundDaemon(_ w: World, extra: [String] = []) -> (pid: Int32, ready: String) {
  let pipe = try! Sys.pipe()
  let pid = try! Sys.posixSpawn(
    path: forkctlBinary, arguments: ["forkctl", "daemon", "--socket", w.socket, "--ready-fd", "3"] + extra,
    environment: w.environment, fds: [nil, nil, FileDescriptor.standardError, pipe.write])
  pipe.write.closeQuietly()
  let answer = String(decoding: (try? pipe.read.readAll()) ?? [], as: UTF8.self)
  pipe.read.closeQuietly()
  return (pid, answer)
}

func daemons(for socket: String) -> [Int32] {
  allProcessIDs().filter { isAlive($0) && commandLine($0).hasPrefix("forkctl: daemon \(socket)") }
}

@Suite struct DaemonTests {
  @Test func firstClientStartsTheDaemonInAPrivateDirectory() {
    let w = World()
    #expect(daemons(for: w.socket).isEmpty)
    w.ok(["list"])
    let pids = daemons(for: w.socket)
    #expect(pids.count == 1)
    var st = stat()
    #expect(lstat(w.dir + "/run", &st) == 0)
    #expect(st.st_mode & 0o777 == 0o700)
    #expect(w.daemonPID == pids.first)
  }

  @Test func racingClientsStartExactlyOneDaemon() {
    let w = World()
    var pids: [Int32] = []
    for _ in 0..<8 {
      pids.append(
        try! Sys.posixSpawn(
          path: forkctlBinary, arguments: ["forkctl", "list"], environment: w.environment,
          fds: [nil, nil, FileDescriptor.standardError]))
    }
    for pid in pids { #expect(try! Sys.waitChild(pid).exitCode == 0) }
    #expect(daemons(for: w.socket).count == 1)
  }

  @Test func secondDaemonOnTheSameSocketRefusesToStart() {
    let w = World()
    let first = startForegroundDaemon(w)
    #expect(first.ready == "ready\n")
    let second = w.run(["daemon", "--socket", w.socket])
    #expect(second.code == 3)
    #expect(second.stderr.contains("already running") && second.stderr.contains("pid \(first.pid)"))
    w.ok(["shutdown"])
    #expect(try! Sys.waitChild(first.pid).exitCode == 0)
  }

  @Test func shutdownRemovesTheSocketEndsUnrunProcessesAndSparesRunningOnes() {
    let w = World()
    let d = startForegroundDaemon(w)
    let idle = w.ok(["new"])
    let busy = w.ok(["new"])
    w.ok(["run", busy, "--", "sleep", "30"])
    let idlePID = w.pid(of: idle)
    let busyPID = w.pid(of: busy)
    let templatePID = w.entries().first!.pid
    w.ok(["shutdown"])
    #expect(try! Sys.waitChild(d.pid).exitCode == 0)
    #expect(access(w.socket, F_OK) != 0, "socket removed")
    #expect(access(w.socket + ".pid", F_OK) != 0, "pidfile removed")
    #expect(!isAlive(idlePID) && !isAlive(templatePID), "processes that never ran end with the daemon")
    #expect(isAlive(busyPID), "a running program is not the daemon's to stop")
    kill(busyPID, SIGKILL)
  }

  @Test func sigtermStopsTheDaemonCleanly() {
    let w = World()
    let d = startForegroundDaemon(w)
    w.ok(["new"])
    kill(d.pid, SIGTERM)
    #expect(try! Sys.waitChild(d.pid).exitCode == 0)
    #expect(access(w.socket, F_OK) != 0)
  }

  @Test func killedDaemonLeavesNoStaleSocketThatBlocksTheNextStart() {
    let w = World()
    let d = startForegroundDaemon(w)
    kill(d.pid, SIGKILL)
    _ = try! Sys.waitChild(d.pid)
    #expect(access(w.socket, F_OK) == 0, "the killed daemon's socket file is still there")
    let id = w.ok(["new"])
    #expect(Int(id) == 2)
    #expect(daemons(for: w.socket).count == 1)
  }

  @Test func killedDefaultTemplateIsReplacedAndStatusesSurvive() {
    let w = World()
    let before = w.ok(["new"])
    w.ok(["run", before, "--", "sh", "-c", "exit 9"])
    let template = w.entries().first { $0.id == 1 }!.pid
    kill(template, SIGKILL)
    #expect(eventually("template reaped") { w.entries().first { $0.id == 1 }?.state == "exited" })
    #expect(w.run(["wait", before]).code == 9)
    let after = w.ok(["new"])
    w.ok(["run", after, "--", "sh", "-c", "exit 4"])
    #expect(w.run(["wait", after]).code == 4)
    // The daemon answers for a child while it is a zombie and reaps it right after.
    #expect(eventually("no zombie of the daemon") { zombieChildren(of: w.daemonPID).isEmpty })
  }

  @Test func processTitlesShowEachRole() {
    let w = World()
    let id = w.ok(["new"])
    #expect(commandLine(w.daemonPID) == "forkctl: daemon \(w.socket)")
    let entries = w.entries()
    #expect(commandLine(entries.first { $0.id == 1 }!.pid) == "forkctl: template 1")
    // The child names itself right after the fork, which `new` does not wait for.
    let pid = w.pid(of: id)
    #expect(eventually("child title") { commandLine(pid) == "forkctl: process \(id)" })
    #expect(readFile("/proc/\(pid)/status").contains("Threads:\t1"))
  }

  @Test func garbageOnTheSocketDropsOnlyThatConnection() throws {
    let w = World()
    let id = w.ok(["new"])
    // The baseline is taken once the daemon has seen that client hang up.
    #expect(eventually("the new client's connection closed") { clientConnections(of: w.daemonPID).isEmpty })
    let fdsBefore = openDescriptors(w.daemonPID).count
    // Wrong version, unknown type, oversized length, descriptors attached to a frame that
    // declares none, and a half frame then a hang-up.
    let bad: [([UInt8], Bool)] = [
      ([9, 1, 0, 0, 0, 0, 0, 0], false),
      ([1, 0x33, 0, 0, 0, 0, 0, 0], false),
      ([1, 0x0a, 0, 0, 0xff, 0xff, 0xff, 0x7f], false),
      (Request.list.frame().encoded(), true),
    ]
    for (bytes, withFD) in bad {
      let s = try UnixSocket.connect(to: w.socket)
      let extra = withFD ? [try Sys.open("/dev/null", .readOnly)] : []
      _ = try UnixSocket.send(s, bytes[...], fds: extra)
      for f in extra { f.closeQuietly() }
      var channel = FrameChannel(s)
      guard case .frame(let f, _) = try channel.receive(), case .failure(let code, _) = try Reply(f) else {
        Issue.record("no failure reply for \(bytes)")
        continue
      }
      #expect(code == .protocolError)
      if case .endOfFile = try channel.receive() {} else { Issue.record("connection not closed") }
      s.closeQuietly()
    }
    let half = try UnixSocket.connect(to: w.socket)
    _ = try UnixSocket.send(half, Array(Request.new(name: []).frame().encoded().prefix(5))[...])
    half.closeQuietly()
    w.ok(["send-arg", id, "still", "served"])
    #expect(
      eventually("daemon fds back to baseline") { openDescriptors(w.daemonPID).count == fdsBefore },
      "daemon descriptors now: \(openDescriptors(w.daemonPID).sorted { $0.key < $1.key })")
    #expect(w.entries().count == 2, "garbage created no process object")
  }

  @Test(
    """
    daemon --background returns once the daemon is ready (0) and says when another one \
    already runs (3), as the foreground daemon does
    """
  )
  func backgroundReportsTheStart() throws {
    let w = World()
    defer { _ = w.run(["shutdown"]) }
    let first = w.run(["daemon", "--socket", w.socket, "--background"])
    #expect(first.code == 0, "\(first.stderr)")
    // Ready means ready: the socket answers at once, no retry.
    #expect(w.run(["list", "--socket", w.socket]).code == 0)
    let second = w.run(["daemon", "--socket", w.socket, "--background"])
    #expect(second.code == 3)
    #expect(second.stderr.contains("already running"), "\(second.stderr)")
  }
}
