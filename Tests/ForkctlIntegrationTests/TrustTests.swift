// Whom the client trusts (issue 11, items 12 to 14): the daemon at the other end, the
// directory of the default socket, and a second daemon started next to a running one.
// Other users are played by setpriv(1) with numeric uids, as in AccessTests.swift.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@Suite("Trust: the client talks only to its own user's or root's daemon", .serialized)
struct TrustTests {
  @Test("a socket served by another uid is refused before anything is sent to it", arguments: [false, true])
  func socketServedByAnotherUserIsRefused(trusted: Bool) throws {
    try requireRootAndSetpriv()
    try requireProgram("/usr/bin/python3", package: "python3")
    let w = World()
    let other: UInt32 = 4712
    // The other user's directory, reachable by it through the world's.
    let theirs = w.dir + "/theirs"
    #expect(chmod(w.dir, 0o711) == 0)
    #expect(mkdir(theirs, 0o700) == 0 && chown(theirs, other, other) == 0)
    let socket = theirs + "/sock"
    let script = """
      import socket, sys
      s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
      print("listening", flush=True)
      c, _ = s.accept(); n = 0
      while True:
          data = c.recv(65536)
          if not data: break
          n += len(data)
      print(n, flush=True)
      """
    let out = try Sys.pipe()
    let listener = try Sys.posixSpawn(
      path: setprivBinary,
      arguments: [
        "setpriv", "--reuid=\(other)", "--regid=\(other)", "--clear-groups", "--", "/usr/bin/python3", "-c", script,
        socket,
      ],
      environment: [], fds: [nil, out.write, nil])
    out.write.closeQuietly()
    defer {
      kill(listener, SIGKILL)
      _ = try? Sys.waitChild(listener)
      out.read.closeQuietly()
    }
    #expect(String(decoding: try out.read.readSome(max: 10), as: UTF8.self) == "listening\n")
    // FORKCTL_DAEMON_UID names that user as trusted: then the request goes out, and the
    // listener, which never answers, is given up on after FORKCTL_TIMEOUT.
    let trust = trusted ? ["FORKCTL_DAEMON_UID=\(other)", "FORKCTL_TIMEOUT=0.5"] : []
    let (list, _) = w.timed(
      [forkctlBinary, "spawn", "--", "true"], environment: ["FORKCTL_SOCKET=\(socket)"] + trust, tag: "spawn")
    #expect(list.code == 125)
    let refusal =
      "forkctl: refusing the daemon at \(socket): it runs as uid \(other), neither this user (uid 0) nor root"
    #expect(
      list.stderr.hasPrefix(trusted ? "forkctl: daemon at \(socket) did not answer within 0.5 s" : refusal),
      "\(list.stderr)")
    if trusted { return }
    // It got the connection and not one byte (it says so once the client has closed it).
    if (try? Sys.waitReadable([out.read], timeoutMilliseconds: 5000))?[0] == true {
      #expect(String(decoding: (try? out.read.readSome(max: 100)) ?? [], as: UTF8.self) == "0\n")
    } else {
      Issue.record("the client neither connected nor closed its connection")
    }
  }
}

@Suite("Trust: a second daemon leaves the first one's directory alone")
struct SecondDaemonTests {
  @Test("a second daemon next to a running one exits 3 and leaves the directory's mode as it was, 0711 or 0700")
  func secondDaemonLeavesDirectoryMode() {
    for (first, second, mode) in [(["--allow-uid", "4713"], [String](), 0o711), ([], ["--allow-uid", "4713"], 0o700)] {
      let w = World()
      w.startDaemon(first)
      let directory = w.dir + "/run"
      var st = stat()
      #expect(stat(directory, &st) == 0 && st.st_mode & 0o7777 == mode)
      let again = w.run(["daemon", "--socket", w.socket] + second)
      #expect(again.code == 3, "\(again.stderr)")
      #expect(again.stderr.contains("a daemon is already running on \(w.socket)"), "\(again.stderr)")
      #expect(stat(directory, &st) == 0 && st.st_mode & 0o7777 == mode, "mode \(String(st.st_mode & 0o7777, radix: 8))")
    }
  }
}

@Suite("Trust: /tmp/forkctl-UID taken first by another user", .serialized)
struct SquattedDirectoryTests {
  /// Runs `forkctl ARGS` as `uid` with only PATH and `environment` (no FORKCTL_SOCKET,
  /// no XDG_RUNTIME_DIR): the default socket path.
  func forkctl(as uid: UInt32, _ args: [String], environment: [String], in w: World, tag: String) -> Outcome {
    let (outcome, _) = w.timed(
      [
        setprivBinary, "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", "/usr/bin/env", "-i", "-C", "/",
        "PATH=/usr/bin:/bin",
      ] + environment + [forkctlBinary] + args, tag: tag)
    return outcome
  }

  @Test(
    "a squatted /tmp/forkctl-UID, a directory or a symbolic link of another uid, leaves the user $HOME/.forkctl",
    arguments: [false, true])
  func squattedDirectoryFallsBackToHome(symbolicLink: Bool) throws {
    try requireRootAndSetpriv()
    let w = World()
    let victim: UInt32 = symbolicLink ? 4717 : 4715
    let squatter: UInt32 = 4716
    let shared = "/tmp/forkctl-\(victim)"
    _ = system("rm -rf '\(shared)'")
    if symbolicLink {
      #expect(symlink(w.dir, shared) == 0 && lchown(shared, squatter, squatter) == 0)
    } else {
      #expect(mkdir(shared, 0o755) == 0 && chown(shared, squatter, squatter) == 0)
    }
    defer { _ = system("rm -rf '\(shared)'") }
    #expect(chmod(w.dir, 0o711) == 0)
    let home = w.dir + "/home"
    #expect(mkdir(home, 0o700) == 0 && chown(home, victim, victim) == 0)
    let r = forkctl(as: victim, ["spawn", "--", "true"], environment: ["HOME=\(home)"], in: w, tag: "spawn")
    #expect(r.code == 0, "\(r.stderr)")
    var st = stat()
    #expect(lstat(home + "/.forkctl/sock", &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK && st.st_uid == victim)
    _ = forkctl(as: victim, ["shutdown"], environment: ["HOME=\(home)"], in: w, tag: "shutdown")
    // Nothing of the victim's went into the squatter's directory.
    #expect(access(shared + "/sock", F_OK) != 0)

    // Without HOME there is nowhere else to go: the message says what happened and what to do.
    let lost = forkctl(as: victim, ["spawn", "--", "true"], environment: [], in: w, tag: "nohome")
    #expect(lost.code == 125)
    let what = symbolicLink ? "a symbolic link" : "a directory"
    #expect(
      lost.stderr.contains("it is \(what) of uid \(squatter), which another user can create first"), "\(lost.stderr)")
    #expect(lost.stderr.contains("set FORKCTL_SOCKET (or --socket) to a path in a directory of your own"))
  }
}
