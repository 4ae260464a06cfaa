// The daemon under a service manager: socket activation (LISTEN_FDS, sd_listen_fds(3)) through
// systemd's own systemd-socket-activate, readiness (NOTIFY_SOCKET, sd_notify(3)) through a
// datagram socket of the test's that plays systemd's part, the shipped units checked by
// systemd-analyze verify, and an s6 service directory under s6-supervise. PID 1 here is not
// systemd and `systemd --user` cannot run, so no unit is started by a real systemd.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// Plays systemd's part of sd_notify(3): a datagram socket bound to a path in `dir`.
final class NotifyListener {
  let path: String
  private let fd: CInt

  init(in dir: String) {
    path = dir + "/notify"
    fd = socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      for (i, b) in path.utf8.enumerated() { raw[i] = b }
    }
    let bound = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    precondition(fd >= 0 && bound == 0, "cannot bind \(path)")
  }

  deinit { close(fd) }

  /// The next datagram's fields ("NAME" → "VALUE"), or nil after `seconds` without one.
  func next(seconds: Int32 = 10) -> [String: String]? {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, seconds * 1000) == 1 else { return nil }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = recv(fd, &buffer, buffer.count, 0)
    guard n > 0 else { return nil }
    var fields: [String: String] = [:]
    for line in String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n") {
      guard let eq = line.firstIndex(of: "=") else { continue }
      fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    return fields
  }
}

/// The repository's Packaging directory.
private let packaging: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/ServiceManagerTests.swift
  for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Packaging"
}()

/// A program from /usr/bin, or nil (with the reason recorded) when it is not installed.
func systemTool(_ name: String) -> String? {
  let path = "/usr/bin/\(name)"
  return access(path, X_OK) == 0 ? path : nil
}

/// The socket inode ("socket:[N]") of descriptor `fd` of `pid`.
func socketInode(_ pid: Int32, _ fd: Int32) -> String? { openDescriptors(pid)[fd] }

@Suite struct ServiceManagerTests {
  @Test(
    """
    a daemon started by systemd-socket-activate serves the request that started it, says READY=1 with \
    its pid, keeps the pidfile, hides LISTEN_* and NOTIFY_SOCKET and the socket from what it starts, \
    and leaves the socket file at exit
    """
  )
  func socketActivatedDaemonServesTheFirstRequest() throws {
    guard let activate = systemTool("systemd-socket-activate") else {
      Issue.record("systemd-socket-activate is not installed (Debian package systemd)")
      return
    }
    let w = World()
    let notify = NotifyListener(in: w.dir)
    #expect(mkdir(w.dir + "/run", 0o700) == 0)
    // systemd-socket-activate passes on only the variables named by -E.
    let manager = try Sys.posixSpawn(
      path: activate,
      arguments: [
        "systemd-socket-activate", "-l", w.socket, "--fdname=forkctl", "-E", "NOTIFY_SOCKET", "-E", "PATH",
        forkctlBinary, "daemon",
      ],
      environment: w.environment + ["NOTIFY_SOCKET=\(notify.path)"],
      fds: [nil, nil, FileDescriptor.standardError])
    #expect(eventually("the activation socket") { access(w.socket, F_OK) == 0 })
    // The client connects to systemd's socket before any daemon runs: it must not start one.
    let first = w.run(["new"])
    #expect(first.code == 0, "\(first.stderr)")
    #expect(first.stdout == "2\n")
    let ready = notify.next()
    #expect(ready?["READY"] == "1")
    #expect(ready?["MAINPID"] == String(manager), "systemd-socket-activate execs the daemon in its own process")
    #expect(ready?["STATUS"] == "listening on \(w.socket)")
    #expect(daemons(for: w.socket) == [manager])
    #expect(w.daemonPID == manager, "the activated daemon holds the pidfile")
    let second = w.run(["daemon", "--socket", w.socket])
    #expect(second.code == 3, "a second daemon keeps away: \(second.stderr)")

    let listener = socketInode(manager, ServiceManager.firstListenDescriptor)
    #expect(listener?.hasPrefix("socket:") == true)
    let id = w.ok(["new"])
    w.ok(["run", id, "--", "sleep", "30"])
    let worker = w.pid(of: id)
    let template = w.entries().first!.pid
    for pid in [worker, template] {
      let environment = readFile("/proc/\(pid)/environ").split(separator: "\0")
      #expect(
        !environment.contains { $0.hasPrefix("LISTEN_") || $0.hasPrefix("NOTIFY_SOCKET=") },
        "pid \(pid): \(environment)")
      #expect(!openDescriptors(pid).values.contains(listener ?? "none"), "pid \(pid) holds the activation socket")
    }
    kill(worker, SIGKILL)

    w.ok(["shutdown"])
    #expect(notify.next()?["STOPPING"] == "1")
    #expect(try Sys.waitChild(manager).exitCode == 0)
    #expect(access(w.socket, F_OK) == 0, "the socket file is systemd's and stays")
    #expect(access(w.socket + ".pid", F_OK) != 0, "the pidfile is the daemon's and goes")
  }

  @Test func listenPIDOfAnotherProcessIsIgnored() {
    let w = World()
    // sd_listen_fds(3): the variables were meant for another process; descriptor 3 here is
    // the ready pipe, which the daemon must not take for a socket.
    w.extraEnvironment = ["LISTEN_PID=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=forkctl"]
    let d = startForegroundDaemon(w)
    #expect(d.ready == "ready\n")
    #expect(w.ok(["new"]) == "2")
    w.ok(["shutdown"])
    #expect(try! Sys.waitChild(d.pid).exitCode == 0)
    #expect(access(w.socket, F_OK) != 0, "a socket it bound itself is removed")
  }

  @Test func passedDescriptorThatIsNotAListeningUnixSocketIsRefused() {
    let w = World()
    let cases = [
      ("not a socket", "3</dev/null"), ("not a socket (Bad file descriptor)", "3<&-"),
      ("Unix socket but not SOCK_STREAM", ""),
    ]
    for (what, redirect) in cases {
      // LISTEN_PID must be the daemon's own pid: sh execs it in its own process.
      let setup =
        redirect.isEmpty
        ? "exec python3 -c 'import os,socket; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); "
          + "os.dup2(s.fileno(),3); os.set_inheritable(3,True); "
          + "os.environ[\"LISTEN_PID\"]=str(os.getpid()); os.environ[\"LISTEN_FDS\"]=\"1\"; "
          + "os.execv(\"\(forkctlBinary)\",[\"forkctl\",\"daemon\"])'"
        : "LISTEN_PID=$$ LISTEN_FDS=1 exec \(forkctlBinary) daemon \(redirect)"
      let errors = w.dir + "/stderr"
      let err = try! Sys.open(errors, .writeOnly, options: [.create, .truncate])
      let pid = try! Sys.posixSpawn(
        path: "/bin/sh", arguments: ["sh", "-c", setup], environment: w.environment, fds: [nil, nil, err])
      err.closeQuietly()
      #expect(try! Sys.waitChild(pid).exitCode == 1, "\(what)")
      let said = readFile(errors)
      #expect(said.contains("cannot use the socket passed by socket activation") && said.contains(what), "\(said)")
    }
    #expect(daemons(for: w.socket).isEmpty)
  }

  @Test func backgroundDaemonReportsTheMainPIDOfTheDaemonThatStays() {
    let w = World()
    let notify = NotifyListener(in: w.dir)
    w.extraEnvironment = ["NOTIFY_SOCKET=\(notify.path)"]
    #expect(w.run(["daemon", "--socket", w.socket, "--background"]).code == 0)
    let ready = notify.next()
    #expect(ready?["READY"] == "1")
    #expect(ready?["MAINPID"] == String(w.daemonPID) && w.daemonPID > 0)
    w.ok(["shutdown"])
    #expect(notify.next()?["STOPPING"] == "1")
  }

  @Test func shippedUnitsPassSystemdAnalyzeVerify() throws {
    guard let analyze = systemTool("systemd-analyze") else {
      Issue.record("systemd-analyze is not installed (Debian package systemd): the units are not checked")
      return
    }
    let w = World()
    let units = w.dir + "/units"
    #expect(mkdir(units, 0o700) == 0)
    let source = packaging + "/systemd/"
    let binDirectory = String(forkctlBinary[..<forkctlBinary.lastIndex(of: "/")!])
    for name in ["forkctl.socket", "forkctl.service", "forkctl@.socket", "forkctl@.service"] {
      let text = readFile(source + name)
      #expect(text.contains("@BINDIR@") == name.hasSuffix(".service"), "\(name)")
      writeFile(units + "/" + name, text.replacing("@BINDIR@", with: binDirectory))
    }
    // An instance of the templates, as `systemctl enable forkctl@root.socket` makes one.
    for kind in ["socket", "service"] {
      writeFile(units + "/forkctl@root.\(kind)", readFile(units + "/forkctl@.\(kind)"))
    }
    // --man=no: the man page need not be installed. A unit systemd would warn about still
    // verifies with 0, so the output must be empty too.
    for (scope, files) in [
      (["--user"], ["forkctl.socket", "forkctl.service"]), ([], ["forkctl@root.socket", "forkctl@root.service"]),
    ] {
      let out = w.dir + "/verify.out"
      let o = try Sys.open(out, .writeOnly, options: [.create, .truncate])
      let pid = try Sys.posixSpawn(
        path: analyze,
        arguments: ["systemd-analyze"] + scope + ["verify", "--man=no"] + files.map { units + "/" + $0 },
        environment: ["PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=\(w.dir)"], fds: [nil, o, o])
      o.closeQuietly()
      #expect(try Sys.waitChild(pid).exitCode == 0)
      #expect(readFile(out).isEmpty, "systemd-analyze \(scope) verify \(files): \(readFile(out))")
    }
  }
}

@Suite struct S6ServiceTests {
  /// Runs an s6 tool from /usr/bin with `arguments`; its exit code.
  private func s6(_ tool: String, _ arguments: [String]) throws -> Int32? {
    let pid = try Sys.posixSpawn(
      path: "/usr/bin/\(tool)", arguments: [tool] + arguments, environment: ["PATH=/usr/bin:/bin"],
      fds: [nil, nil, FileDescriptor.standardError])
    return try Sys.waitChild(pid).exitCode
  }

  @Test(
    """
    the shipped s6 service directory runs the daemon under s6-supervise, which sees it ready \
    through notification-fd and stops it with s6-svc -d
    """
  )
  func s6SuperviseRunsTheDaemonAndSeesItReady() throws {
    guard let supervise = systemTool("s6-supervise") else {
      Issue.record("s6-supervise is not installed (Debian package s6)")
      return
    }
    let w = World()
    let service = w.dir + "/forkctl"
    #expect(mkdir(service, 0o700) == 0)
    for name in ["run", "notification-fd"] {
      writeFile(service + "/" + name, readFile(packaging + "/s6/forkctl/" + name), mode: 0o755)
    }
    let binDirectory = String(forkctlBinary[..<forkctlBinary.lastIndex(of: "/")!])
    let supervisor = try Sys.posixSpawn(
      path: supervise, arguments: ["s6-supervise", service],
      environment: ["PATH=\(binDirectory):/usr/bin:/bin", "FORKCTL_SOCKET=\(w.socket)", "HOME=\(w.dir)"],
      fds: [nil, FileDescriptor.standardError, FileDescriptor.standardError])
    defer { _ = try? s6("s6-svc", ["-x", service]) }
    // s6-svwait reads the status file s6-supervise writes once it runs, and fails at once
    // without it (seen under load): s6-svok says when the supervisor is up.
    #expect(eventually("s6-supervise up") { (try? s6("s6-svok", [service])) == 0 })
    #expect(try s6("s6-svwait", ["-U", "-t", "10000", service]) == 0, "s6-supervise saw it ready")
    let daemon = daemons(for: w.socket)
    #expect(daemon.count == 1)
    #expect(w.ok(["new"]) == "2", "the socket answers once s6 says ready")
    #expect(try s6("s6-svc", ["-wd", "-T", "10000", "-d", service]) == 0)
    #expect(daemon.allSatisfy { !isAlive($0) })
    #expect(access(w.socket, F_OK) != 0, "the daemon bound its socket itself and removed it")
    #expect(try s6("s6-svc", ["-x", service]) == 0)
    #expect(try Sys.waitChild(supervisor).exitCode == 0)
  }
}
