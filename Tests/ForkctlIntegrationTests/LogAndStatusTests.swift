// The daemon's log (one stamped line per event, --log-level, --log-file rotated at
// --log-max-bytes, SOCKET.log for an auto-started daemon) and `forkctl status`, which never
// starts a daemon (issue 15).
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// The lines of a log file that are not stamped `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL `.
func unstampedLines(_ text: String) -> [Substring] {
  let levels = ["error", "warning", "notice", "info", "debug"]
  return text.split(separator: "\n").filter { line in
    let bytes = Array(line.utf8)
    guard bytes.count > 25 else { return true }
    let shape = Array("0000-00-00T00:00:00.000Z ".utf8)
    for (b, s) in zip(bytes, shape) where s == UInt8(ascii: "0") ? !(0x30...0x39).contains(b) : b != s { return true }
    let level = line.dropFirst(25).prefix { $0 != " " }
    return !levels.contains(String(level))
  }
}

extension World {
  /// Starts this world's daemon in the foreground at `logLevel` with `stderr` (consumed) as
  /// its standard error; returns its pid once it is ready.
  func startDaemon(logLevel: String, stderr: FileDescriptor) throws -> Int32 {
    let ready = try Sys.pipe()
    let daemon = try Sys.posixSpawn(
      path: forkctlBinary,
      arguments: ["forkctl", "daemon", "--socket", socket, "--ready-fd", "3", "--log-level", logLevel],
      environment: environment, fds: [nil, nil, stderr, ready.write])
    stderr.closeQuietly()
    ready.write.closeQuietly()
    defer { ready.read.closeQuietly() }
    #expect(String(decoding: try ready.read.readAll(), as: UTF8.self) == "ready\n")
    return daemon
  }

  /// Waits until the file at `path` contains `text`.
  func logShows(_ text: String, in path: String) -> Bool {
    eventually("\(path) shows \(text)", timeout: 5) { readFile(path).contains(text) }
  }

}

@Suite("Daemon log")
struct LogTests {
  @Test("an auto-started daemon writes stamped lines to SOCKET.log: its start, and its stop with why")
  func autoStartedDaemonLogsToSocketLog() {
    let w = World()
    w.ok(["list"])
    let pid = w.daemonPID
    let log = w.socket + ".log"
    let text = readFile(log)
    #expect(
      text.contains(" notice started forkctl ") && text.contains("pid \(pid), socket \(w.socket), log \(log)"),
      "\(text)")
    w.ok(["shutdown"])
    let after = readFile(log)
    #expect(after.contains(" notice shutdown requested by client "), "\(after)")
    #expect(after.contains(" notice stopping: ending "), "\(after)")
    #expect(unstampedLines(after).isEmpty, "\(after)")
  }

  @Test("a template's death and a worker killed because its client went away are logged with their pids")
  func templateDeathAndKillOnDisconnect() throws {
    let w = World()
    let log = w.socket + ".log"
    let template = w.pid(of: w.ok(["exec", "--name", "doomed"]))
    try #require(template > 0)
    Glibc.kill(template, SIGKILL)
    #expect(w.logShows("warning process 1 (doomed), a template (pid \(template)), was killed by SIGKILL", in: log))
    // A spawn whose client dies: its program gets SIGTERM (kill-on-disconnect).
    let client = try Sys.posixSpawn(
      path: forkctlBinary, arguments: ["forkctl", "spawn", "--", "sleep", "60"], environment: w.environment,
      fds: [nil, nil, nil])
    #expect(eventually("the spawn runs", timeout: 5) { w.entries().contains { $0.state == "running" } })
    let program = w.entries().first { $0.state == "running" }?.pid ?? 0
    try #require(program > 0)
    Glibc.kill(client, SIGKILL)
    _ = try Sys.waitChild(client)
    #expect(w.logShows("(pid \(program)), SIGKILL in 3000 ms (kill-on-disconnect)", in: log), "\(readFile(log))")
    #expect(unstampedLines(readFile(log)).isEmpty, "\(readFile(log))")
  }

  @Test("a client over the per-user limit and one that breaks the protocol are logged with uid and pid")
  func refusalsAreLogged() throws {
    let w = World()
    let log = w.dir + "/daemon.log"
    w.startDaemon(["--max-processes-per-user", "1", "--log-file", log])
    w.ok(["new"])
    // The second from this process, so that the pid logged is known.
    let client = try UnixSocket.connect(to: w.socket, timeoutMilliseconds: 5000)
    try client.writeFully(Request.new(name: []).frame().encoded())
    _ = try? client.readSome(max: 4096)
    client.closeQuietly()
    #expect(
      w.logShows("warning refused a process object to client ", in: log)
        && readFile(log).contains(
          "(uid \(getuid()), pid \(getpid())): too many process objects for uid \(getuid()) (1)"),
      "\(readFile(log))")
    // A frame of protocol version 9.
    let fd = try UnixSocket.connect(to: w.socket, timeoutMilliseconds: 5000)
    try fd.writeFully([9, 9, 0, 0, 0, 0, 0, 0])
    _ = try? fd.readAll(limit: 4096)
    fd.closeQuietly()
    #expect(
      w.logShows("(uid \(getuid()), pid \(getpid())): protocol error: unsupported protocol version 9", in: log),
      "\(readFile(log))")
  }

  @Test("--log-level warning keeps warnings and drops notices; the foreground daemon logs to stderr")
  func levelFilter() throws {
    let w = World()
    let err = w.dir + "/daemon.err"
    let e = try Sys.open(err, .writeOnly, options: [.create, .truncate])
    let daemon = try w.startDaemon(logLevel: "warning", stderr: e)
    let template = w.pid(of: w.ok(["exec", "--name", "t"]))
    try #require(template > 0)
    Glibc.kill(template, SIGKILL)
    #expect(w.logShows("warning process 1 (t), a template (pid \(template)), was killed by SIGKILL", in: err))
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
    let text = readFile(err)
    #expect(!text.contains(" notice "), "\(text)")
    #expect(unstampedLines(text).isEmpty, "\(text)")
    #expect(w.run(["daemon", "--log-level", "loud"]).stderr.contains("--log-level 'loud' is none of error"))
  }

  @Test("a descriptor limit below what --max-connections may need is said at start, with the limit")
  func lowDescriptorLimitIsLogged() {
    let w = World()
    let log = w.dir + "/daemon.log"
    let (started, _) = w.timed(
      [
        "/bin/sh", "-c", #"ulimit -n 200 && exec "$0" daemon --socket "$1" --background --log-file "$2""#,
        forkctlBinary, w.socket, log,
      ], tag: "daemon")
    #expect(started.code == 0, "\(started.stderr)")
    #expect(
      readFile(log).contains(
        " notice the descriptor limit (RLIMIT_NOFILE) of 200 is below the 1040 that 1024 connections may need"),
      "\(readFile(log))")
  }

  @Test("daemon --background --log-file that cannot start says why on stderr as well as in its log")
  func backgroundWithLogFileSaysWhy() {
    let w = World()
    let log = w.dir + "/daemon.log"
    w.startDaemon(["--log-file", log])
    let second = w.run(["daemon", "--socket", w.socket, "--background", "--log-file", log])
    #expect(second.code == 3)
    #expect(second.stderr.contains("forkctl daemon: a daemon is already running on \(w.socket)"), "\(second.stderr)")
    #expect(
      readFile(log).contains(" notice cannot start: a daemon is already running on \(w.socket)"), "\(readFile(log))")
  }

  @Test("--log-file is renamed to PATH.1 at --log-max-bytes and a new one begun; two generations at most")
  func rotation() throws {
    let w = World()
    let log = w.dir + "/daemon.log"
    w.startDaemon(["--log-file", log, "--log-max-bytes", "400"])
    for n in 0..<6 {
      let pid = w.pid(of: w.ok(["exec", "--name", "t\(n)"]))
      try #require(pid > 0)
      Glibc.kill(pid, SIGKILL)
      #expect(w.logShows("(pid \(pid)), was killed", in: log) || readFile(log + ".1").contains("(pid \(pid))"))
    }
    let current = readFile(log)
    let old = readFile(log + ".1")
    #expect(!old.isEmpty && !current.isEmpty)
    #expect(current.utf8.count <= 400 && old.utf8.count <= 400, "\(current.utf8.count), \(old.utf8.count)")
    #expect(access(log + ".2", F_OK) != 0)
    #expect(unstampedLines(current + old).isEmpty, "\(old)\(current)")
    // The last template's death is in the current file.
    #expect(current.contains("(t5), a template"), "\(current)")
  }
}

@Suite("forkctl status")
struct StatusTests {
  @Test("status with no daemon exits 3, says so, and starts none: no process, no socket, no directory")
  func statusWithoutDaemon() {
    let w = World()
    let r = w.run(["status"])
    #expect(r.code == 3, "\(r.stderr)")
    #expect(r.stdout == "forkctl daemon at \(w.socket): not running\n")
    let j = w.run(["status", "--json"])
    #expect(j.code == 3)
    #expect(j.stdout == "{\"running\":false,\"socket\":\"\(w.socket)\"}\n")
    #expect(daemons(for: w.socket).isEmpty)
    #expect(access(w.dir + "/run", F_OK) != 0)
  }

  @Test("status of a running daemon: its pid, version, protocol, log and process objects by state")
  func statusOfRunningDaemon() throws {
    let w = World()
    w.ok(["exec", "--name", "tpl"])
    let r = w.run(["status"])
    #expect(r.code == 0, "\(r.stderr)")
    #expect(r.stdout.hasPrefix("forkctl daemon at \(w.socket): running\n"), "\(r.stdout)")
    #expect(r.stdout.contains("  pid:        \(w.daemonPID)\n"), "\(r.stdout)")
    #expect(r.stdout.contains("(protocol \(WireLimits.version))"), "\(r.stdout)")
    #expect(r.stdout.contains("  log:        \(w.socket).log\n"), "\(r.stdout)")
    #expect(r.stdout.contains("  processes:  1 (0 starting, 1 ready, 0 running, 0 exited)\n"), "\(r.stdout)")
    #expect(r.stdout.contains("  templates:  1\n"), "\(r.stdout)")
    let j = w.run(["status", "--json"])
    #expect(j.code == 0)
    #expect(j.stdout.hasPrefix("{\"running\":true,\"socket\":\"\(w.socket)\",\"pid\":\(w.daemonPID),"), "\(j.stdout)")
    #expect(j.stdout.contains("\"log\":\"\(w.socket).log\""), "\(j.stdout)")
    #expect(j.stdout.contains("\"processes\":{\"starting\":0,\"ready\":1,\"running\":0,\"exited\":0}"), "\(j.stdout)")
    // Status changed nothing: the same daemon, the same objects.
    #expect(w.entries().count == 1)
  }

  @Test("status of a foreground daemon names stderr as its log")
  func statusNamesStderr() {
    let w = World()
    let started = startForegroundDaemon(w)
    #expect(started.ready == "ready\n")
    #expect(w.run(["status", "--json"]).stdout.contains("\"log\":\"stderr\""))
    w.ok(["shutdown"])
    _ = try? Sys.waitChild(started.pid)
  }

  @Test("status of a daemon of another user says whose it is and exits 125, neither 0 nor 3")
  func statusOfAnotherUsersDaemon() throws {
    try requireRootAndSetpriv()
    let daemonUID: UInt32 = 64021
    let w = World()
    #expect(chmod(w.dir, 0o711) == 0)
    #expect(mkdir(w.socketDirectory, 0o700) == 0 && chown(w.socketDirectory, daemonUID, daemonUID) == 0)
    let ready = try Sys.pipe()
    let daemon = try Sys.posixSpawn(
      path: setprivBinary,
      arguments: [
        "setpriv", "--reuid=\(daemonUID)", "--regid=\(daemonUID)", "--clear-groups", "--", forkctlBinary, "daemon",
        "--socket", w.socket, "--ready-fd", "3", "--allow-uid", "0", "--log-level", "error",
      ],
      environment: w.environment, fds: [nil, nil, FileDescriptor.standardError, ready.write])
    ready.write.closeQuietly()
    let answer = String(decoding: (try? ready.read.readAll()) ?? [], as: UTF8.self)
    ready.read.closeQuietly()
    try #require(answer == "ready\n", "daemon start: \(answer)")
    let r = w.run(["status"])
    #expect(r.code == 125, "\(r.stdout)\(r.stderr)")
    #expect(
      r.stderr.hasPrefix("forkctl: refusing the daemon at \(w.socket): it runs as uid \(daemonUID)"), "\(r.stderr)")
    // Trusted, it answers.
    w.extraEnvironment = ["FORKCTL_DAEMON_UID=\(daemonUID)"]
    #expect(w.run(["status"]).code == 0)
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
  }

  @Test("status of a socket left by a daemon that was killed exits 3 and starts none")
  func statusOfStaleSocket() throws {
    let w = World()
    w.ok(["list"])
    let pid = w.daemonPID
    try #require(pid > 0)
    Glibc.kill(pid, SIGKILL)
    #expect(eventually("the daemon is gone", timeout: 5) { !isAlive(pid) })
    #expect(w.run(["status"]).code == 3)
    #expect(daemons(for: w.socket).isEmpty)
  }
}

@Suite("Daemon log: a reader that does not keep up")
struct LogBackpressureTests {
  @Test("a log pipe nobody reads does not stop the daemon: lines are dropped and counted in the next one written")
  func fullPipeDropsLines() throws {
    let w = World()
    let log = try Sys.pipe()
    let daemon = try w.startDaemon(logLevel: "debug", stderr: log.write)
    // Each hello is a debug line of about 80 bytes: 2000 of them overfill the 64 KiB pipe.
    let fd = try UnixSocket.connect(to: w.socket, timeoutMilliseconds: 5000)
    let hello = Request.hello.frame().encoded()
    for _ in 0..<2000 {
      try fd.writeFully(hello)
      var got = 0
      while got < 13 {
        let bytes = try fd.readSome(max: 13 - got)
        try #require(!bytes.isEmpty, "the daemon closed the connection")
        got += bytes.count
      }
    }
    fd.closeQuietly()
    // The daemon still serves, promptly, with its log full.
    #expect(w.run(["status"]).code == 0)
    try log.read.setNonblocking(true)
    var text = ""
    while let bytes = try? log.read.readSome(max: 1 << 16), !bytes.isEmpty {
      text += String(decoding: bytes, as: UTF8.self)
    }
    #expect(text.utf8.count >= 60_000, "\(text.utf8.count) bytes")
    w.ok(["list"])
    #expect(
      eventually("the count of dropped lines is written", timeout: 5) {
        if let bytes = try? log.read.readSome(max: 1 << 16) { text += String(decoding: bytes, as: UTF8.self) }
        return text.contains(" warning ") && text.contains(" log lines were dropped: the log's reader did not keep up")
      }, "\(text.suffix(400))")
    #expect(unstampedLines(text).isEmpty)
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
    log.read.closeQuietly()
  }
}
