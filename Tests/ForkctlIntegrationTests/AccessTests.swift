// Access control: who may use a daemon, and what a worker gets from the daemon.
//
// Clients run as other users through setpriv(1) (util-linux), so these tests need root, as
// in CI. They use plain numeric uids and gids that need no passwd entry (nothing is
// created), a different one in each test so that "no process of this user is left" speaks
// of that test's clients only. setpriv changes every uid away from 0 and, without
// --keep-caps, the kernel then drops all capabilities: the filesystem's permission checks
// apply to those clients as to any user.
//
// World's directory comes from mkdtemp, mode 0700 and owned by root: another uid cannot
// even look up a path under it. Tests that must let one reach the socket open the path
// deliberately (openPathToOthers below), always after the daemon has started, because the
// daemon refuses to start in a socket directory that grants anything to group or others.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

let setprivBinary = "/usr/bin/setpriv"

/// Fails the test (never skips it) unless it can run clients as other users.
func requireRootAndSetpriv(sourceLocation: SourceLocation = #_sourceLocation) throws {
  try #require(
    getuid() == 0, "the access tests run clients as other users with setpriv: run them as root (CI does)",
    sourceLocation: sourceLocation)
  try requireProgram(setprivBinary, package: "util-linux", sourceLocation: sourceLocation)
}

extension World {
  /// Runs `command` as `uid`:`gid` with exactly the supplementary `groups` (none by
  /// default), the world's environment plus `environment`, in `/` (a directory every user
  /// may use); stdout and stderr captured.
  func runAs(
    _ uid: UInt32, gid: UInt32? = nil, groups: [UInt32] = [], _ command: [String], environment extra: [String] = [],
    tag: String
  ) -> Outcome {
    let out = "\(dir)/\(tag).out"
    let err = "\(dir)/\(tag).err"
    let o = try! Sys.open(out, .writeOnly, options: [.create, .truncate])
    let e = try! Sys.open(err, .writeOnly, options: [.create, .truncate])
    let groupOption = groups.isEmpty ? "--clear-groups" : "--groups=" + groups.map(String.init).joined(separator: ",")
    let pid = try! Sys.posixSpawn(
      path: setprivBinary,
      arguments: ["setpriv", "--reuid=\(uid)", "--regid=\(gid ?? uid)", groupOption, "--", "/usr/bin/env", "-C", "/"]
        + command,
      environment: environment + extra, fds: [nil, o, e])
    o.closeQuietly()
    e.closeQuietly()
    let status = try! Sys.waitChild(pid)
    return Outcome(status: status, stdout: readFile(out), stderr: readFile(err))
  }

  /// `forkctl ARGS` as another user.
  func forkctlAs(_ uid: UInt32, gid: UInt32? = nil, groups: [UInt32] = [], _ args: [String], tag: String) -> Outcome {
    runAs(uid, gid: gid, groups: groups, [forkctlBinary] + args, tag: tag)
  }

  /// The socket's directory.
  var socketDirectory: String { dir + "/run" }

  /// Opens the path to the socket to every user, as an administrator would have to for
  /// --allow-uid and --allow-gid to matter: the world's directory 0711 (searchable, not
  /// listable), the socket's directory 0755, the socket 0777 (connect(2) needs write
  /// permission on the socket file; bind(2) made it 0777 & ~umask). Only after the daemon
  /// has started: it refuses to start in a directory open to others.
  func openPathToOthers() {
    #expect(chmod(dir, 0o711) == 0)
    #expect(chmod(socketDirectory, 0o755) == 0)
    #expect(chmod(socket, 0o777) == 0)
  }
}

/// Starts `forkctl daemon OPTIONS` in the foreground as our child and returns its pid once
/// it is listening. It starts from /bin/sh with SIGUSR1 and SIGUSR2 ignored (an ignored
/// disposition survives execve), with `environment` added to the world's, and with
/// `extraFD`, when given, open on its descriptor 4: state of the daemon that a worker must
/// not get.
func startAccessDaemon(
  _ w: World, options: [String] = [], environment extra: [String] = [], extraFD: FileDescriptor? = nil,
  sourceLocation: SourceLocation = #_sourceLocation
) -> Int32 {
  let pipe = try! Sys.pipe()
  let script = #"trap '' USR1 USR2; s=$1; shift; exec "$0" daemon --socket "$s" --ready-fd 3 "$@""#
  var fds: [FileDescriptor?] = [nil, nil, FileDescriptor.standardError, pipe.write]
  if let extraFD { fds.append(extraFD) }
  let pid = try! Sys.posixSpawn(
    path: "/bin/sh", arguments: ["sh", "-c", script, forkctlBinary, w.socket] + options,
    environment: w.environment + extra, fds: fds)
  pipe.write.closeQuietly()
  let answer = String(decoding: (try? pipe.read.readAll()) ?? [], as: UTF8.self)
  pipe.read.closeQuietly()
  #expect(answer == "ready\n", "daemon start: \(answer)", sourceLocation: sourceLocation)
  return pid
}

/// The fields of a /proc/PID/status line, e.g. "Uid" → [real, effective, saved, fs].
func procStatus(_ pid: Int32, _ key: String) -> [Substring] {
  for line in readFile("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix(key + ":") {
    return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " })
  }
  return []
}

/// A signal set of /proc/PID/status (SigBlk, SigIgn, ...) as a bit mask (bit n-1: signal n).
func signalSet(_ pid: Int32, _ key: String) -> UInt64? {
  procStatus(pid, key).first.flatMap { UInt64($0, radix: 16) }
}

func signalBit(_ signal: Int32) -> UInt64 { 1 << UInt64(signal - 1) }

/// Live processes whose real user id is `uid`.
func processes(ofUser uid: UInt32) -> [Int32] {
  allProcessIDs().filter { isAlive($0) && procStatus($0, "Uid").first == Substring(String(uid)) }
}

/// The names in a directory, sorted.
func directoryEntries(_ path: String) -> [String] {
  var out: [String] = []
  guard let d = opendir(path) else { return out }
  defer { closedir(d) }
  while let e = readdir(d) {
    let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    if name != "." && name != ".." { out.append(name) }
  }
  return out.sorted()
}

/// Mode, owner and modification time of a path, to show that nothing touched it.
func fingerprint(_ path: String) -> String {
  var st = stat()
  guard lstat(path, &st) == 0 else { return "missing" }
  return "mode \(String(st.st_mode & 0o7777, radix: 8)) uid \(st.st_uid) gid \(st.st_gid) "
    + "mtime \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) ctime \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec) "
    + "entries \(directoryEntries(path))"
}

/// The failure a refused client gets from the daemon, read by a raw client (Python's
/// standard library) running as `uid` that connects and sends nothing: every byte the
/// daemon writes before it closes the connection, decoded.
func rawRefusal(_ w: World, uid: UInt32, sourceLocation: SourceLocation = #_sourceLocation) throws -> (
  reply: Reply, trailing: Int
) {
  try requireProgram(python3Binary, package: "python3", sourceLocation: sourceLocation)
  let reader = """
    import socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    data = b''
    while True:
        b = s.recv(65536)
        if not b: break
        data += b
    sys.stdout.write(data.hex())
    """
  let r = w.runAs(uid, [python3Binary, "-c", reader, w.socket], tag: "raw-\(uid)")
  try #require(r.code == 0, "raw client: \(r.stderr)", sourceLocation: sourceLocation)
  var bytes: [UInt8] = []
  var hex = Substring(r.stdout)
  while hex.count >= 2 {
    bytes.append(UInt8(hex.prefix(2), radix: 16)!)
    hex = hex.dropFirst(2)
  }
  var decoder = FrameDecoder()
  decoder.append(bytes)
  let frame = try #require(try decoder.next(), "no whole frame in \(bytes)", sourceLocation: sourceLocation)
  return (try Reply(frame), bytes.count - frame.encoded().count)
}

@Suite struct AccessTests {
  @Test(
    "another user is refused by the filesystem (EACCES, exit 125) and neither starts a daemon nor touches the directory"
  )
  func refusedByTheFilesystem() throws {
    try requireRootAndSetpriv()
    let stranger: UInt32 = 64001
    let w = World()
    let daemon = startAccessDaemon(w)
    let id = w.ok(["new"])

    // The socket's directory is private to the daemon's user.
    var st = stat()
    #expect(lstat(w.socketDirectory, &st) == 0)
    #expect(
      st.st_mode & 0o7777 == 0o700 && st.st_uid == getuid(), "socket directory: \(fingerprint(w.socketDirectory))")
    #expect(lstat(w.socket, &st) == 0)
    #expect(st.st_mode & S_IFMT == S_IFSOCK && st.st_uid == getuid())

    let ownDefault = "/tmp/forkctl-\(stranger)"
    let ownDefaultBefore = fingerprint(ownDefault)
    // Two barriers, one at a time: first the world's own 0700 directory, then (with it made
    // searchable and the socket itself 0777) the 0700 socket directory alone.
    for (step, opened) in [("world-0700", false), ("socket-dir-0700", true)] {
      if opened {
        #expect(chmod(w.dir, 0o711) == 0)
        #expect(chmod(w.socket, 0o777) == 0)
      }
      let before = fingerprint(w.socketDirectory)
      // list only connects; spawn is the command that would start a daemon if it found none.
      for (n, args) in [["list"], ["spawn", "--", "true"], ["shutdown"]].enumerated() {
        let r = w.forkctlAs(stranger, args, tag: "\(step)-\(n)")
        #expect(r.code == 125, "\(step) \(args): exit \(r.code), \(r.stderr)")
        #expect(r.stderr == "forkctl: cannot connect to daemon at \(w.socket): Permission denied\n", "\(step) \(args)")
        #expect(r.stdout.isEmpty)
      }
      #expect(fingerprint(w.socketDirectory) == before, "\(step): the refused client touched the socket directory")
    }
    #expect(fingerprint(ownDefault) == ownDefaultBefore, "the refused client made its own default socket directory")
    #expect(processes(ofUser: stranger).isEmpty, "no process of the refused user is left (a daemon of its own)")
    #expect(daemons(for: w.socket) == [w.daemonPID])
    #expect(w.daemonPID == daemon)

    // The owner is served as before.
    w.ok(["send-arg", id, "still", "served"])
    #expect(w.run(["spawn", "--", "sh", "-c", "exit 7"]).code == 7)
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
  }

  @Test("another user finding a stale socket in an opened directory does not start a daemon there")
  func staleSocketInAnotherUsersDirectory() throws {
    try requireRootAndSetpriv()
    let stranger: UInt32 = 64002
    let w = World()
    let daemon = startAccessDaemon(w)
    w.openPathToOthers()
    kill(daemon, SIGKILL)
    _ = try Sys.waitChild(daemon)
    // The socket file is left behind with nobody listening: connect gets ECONNREFUSED, the
    // one error (with ENOENT) that makes a client start a daemon. It must refuse to do so in
    // a directory that is not its own.
    let before = fingerprint(w.socketDirectory)
    let r = w.forkctlAs(stranger, ["spawn", "--", "true"], tag: "stale")
    #expect(r.code == 125)
    #expect(r.stderr.hasPrefix("forkctl: cannot start daemon: "), "\(r.stderr)")
    #expect(r.stderr.contains(w.socketDirectory), "\(r.stderr)")
    #expect(fingerprint(w.socketDirectory) == before, "the refused client touched the socket directory")
    #expect(processes(ofUser: stranger).isEmpty, "no process of the refused user is left (a daemon of its own)")
    #expect(daemons(for: w.socket).isEmpty)
  }

  @Test("with the path opened deliberately, SO_PEERCRED refuses another user: failure 9, exit 125, owner still served")
  func refusedByPeerCredentials() throws {
    try requireRootAndSetpriv()
    let stranger: UInt32 = 64003
    let w = World()
    let daemon = startAccessDaemon(w)
    let id = w.ok(["new"])
    let objectsBefore = w.entries().count
    // The baseline once the daemon has closed the connections of the owner's commands.
    #expect(eventually("owner's connections closed") { clientConnections(of: daemon).isEmpty })
    let fdsBefore = openDescriptors(daemon)
    w.openPathToOthers()

    // What the daemon says on the wire, to a client that has not sent anything yet: one
    // failure frame, permission denied (9), then the end of the connection.
    let raw = try rawRefusal(w, uid: stranger)
    #expect(
      raw.reply == .failure(.permissionDenied, message: Array("uid \(stranger) is not allowed to use this daemon".utf8))
    )
    #expect(ErrorCode.permissionDenied.rawValue == 9)
    #expect(raw.trailing == 0, "nothing follows the refusal")

    // Through the command line, whatever the command: exit 125, and no effect at all.
    for (n, args) in [["list"], ["new"], ["spawn", "--", "true"], ["kill", id], ["shutdown"]].enumerated() {
      let r = w.forkctlAs(stranger, args, tag: "peer-\(n)")
      #expect(r.code == 125, "\(args): exit \(r.code), \(r.stderr)")
      #expect(r.stdout.isEmpty)
    }
    #expect(isAlive(daemon))
    #expect(w.entries().count == objectsBefore, "a refused client created or removed nothing")
    #expect(w.entries().first { String($0.id) == id }?.state == "ready", "a refused kill did nothing")
    #expect(processes(ofUser: stranger).isEmpty)
    #expect(
      eventually("refused connections closed") { openDescriptors(daemon) == fdsBefore },
      "daemon descriptors \(openDescriptors(daemon)), before \(fdsBefore)")

    // The owner is served as before.
    w.ok(["send-arg", id, "still", "served"])
    #expect(w.run(["spawn", "--", "sh", "-c", "exit 7"]).code == 7)
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
  }

  // The daemon answers a refused connection at once and closes it. A client that sends its
  // request after that close gets EPIPE from send(2), and must still report the refusal that
  // is waiting in its receive queue rather than "Broken pipe". (Until ForkctlConnection's
  // send does so, most of these clients print "cannot send to daemon at ...: Broken pipe".)
  @Test("a refused client always reports the daemon's reason, however its first request races the refusal")
  func refusalReasonSurvivesTheRace() throws {
    try requireRootAndSetpriv()
    let stranger: UInt32 = 64004
    let w = World()
    let daemon = startAccessDaemon(w)
    w.openPathToOthers()
    var messages: [String: Int] = [:]
    for n in 0..<20 {
      let r = w.forkctlAs(stranger, n % 2 == 0 ? ["list"] : ["spawn", "--", "true"], tag: "race-\(n)")
      #expect(r.code == 125)
      messages[r.stderr, default: 0] += 1
    }
    let expected = "forkctl: uid \(stranger) is not allowed to use this daemon\n"
    #expect(messages == [expected: 20], "stderr of 20 refused clients (message: count): \(messages)")
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
  }

  @Test("--allow-uid and --allow-gid admit exactly those clients, whose programs run as the daemon's user")
  func allowedUsersAndGroups() throws {
    try requireRootAndSetpriv()
    let (admittedUID, admittedGID) = (UInt32(64005), UInt32(64105))
    let memberUID: UInt32 = 64006  // primary group admittedGID
    let supplementaryUID: UInt32 = 64007  // admittedGID only as a supplementary group
    let stranger: UInt32 = 64008
    let w = World()
    let daemon = startAccessDaemon(w, options: ["--allow-uid", "\(admittedUID)", "--allow-gid", "\(admittedGID)"])
    let ownersObject = w.ok(["new"])
    w.ok(["run", ownersObject, "--", "sleep", "30"])
    w.openPathToOthers()
    let daemonUser = "\(getuid()) \(getgid())"

    // The admitted user spawns a program and gets its exact status; the program runs as the
    // daemon's user, not as the client: what the manual warns about.
    let admitted = w.forkctlAs(admittedUID, ["spawn", "--", "sh", "-c", "echo $(id -u) $(id -g); exit 42"], tag: "uid")
    #expect(admitted.code == 42, "\(admitted.stderr)")
    #expect(admitted.stdout == daemonUser + "\n", "the program runs as the daemon's user, not as uid \(admittedUID)")
    // The step by step commands too, with the status collected by wait.
    let step = w.runAs(
      admittedUID,
      [
        "/bin/sh", "-c", #"id=$("$0" new) && "$0" send-fd "$id" 1=1 && "$0" run --wait "$id" -- sh -c 'id -u; exit 5'"#,
        forkctlBinary,
      ],
      tag: "uid-steps")
    #expect(step.code == 5, "\(step.stderr)")
    #expect(step.stdout == "\(getuid())\n")
    // An admitted user is not confined to its own process objects: it sees and signals the
    // owner's too (and can shut the daemon down, below).
    let listing = w.forkctlAs(admittedUID, ["list", "--json"], tag: "uid-list")
    #expect(listing.code == 0 && listing.stdout.contains("\"id\":\(ownersObject),"), "\(listing.stdout)")
    #expect(w.forkctlAs(admittedUID, ["kill", ownersObject], tag: "uid-kill").code == 0)
    #expect(w.run(["wait", ownersObject]).code == 143, "the owner's program was killed by the admitted user")

    // A client whose group id (as SO_PEERCRED reports it: the effective gid) is admitted.
    let member = w.forkctlAs(
      memberUID, gid: admittedGID, ["spawn", "--", "sh", "-c", "echo $(id -u) $(id -g); exit 3"], tag: "gid")
    #expect(member.code == 3, "\(member.stderr)")
    #expect(member.stdout == daemonUser + "\n")

    // Supplementary groups are not considered; other users are still refused.
    let supplementary = w.forkctlAs(supplementaryUID, groups: [admittedGID], ["list"], tag: "supplementary")
    #expect(supplementary.code == 125)
    #expect(supplementary.stdout.isEmpty)
    let other = w.forkctlAs(stranger, ["spawn", "--", "true"], tag: "other")
    #expect(other.code == 125)
    #expect(other.stdout.isEmpty)
    // (Their message races the refusal: refusalReasonSurvivesTheRace checks it.)
    let raw = try rawRefusal(w, uid: stranger)
    #expect(
      raw.reply == .failure(.permissionDenied, message: Array("uid \(stranger) is not allowed to use this daemon".utf8))
    )

    #expect(isAlive(daemon))
    let shutdown = w.forkctlAs(admittedUID, ["shutdown"], tag: "uid-shutdown")
    #expect(shutdown.code == 0, "\(shutdown.stderr)")
    #expect(try Sys.waitChild(daemon).exitCode == 0)
  }

  @Test("a worker gets none of the daemon's descriptors, environment, process group, signal mask or ignored signals")
  func workersDoNotInheritTheDaemonsState() throws {
    let w = World()
    // State of the daemon only: a descriptor it inherited, a variable in its environment,
    // SIGUSR1 and SIGUSR2 ignored from its start, and what it sets up itself (signals
    // blocked for its signalfd, SIGPIPE ignored, sockets, epoll, its pid file).
    let marker = try Sys.open(w.dir + "/daemon-only", .readOnly, options: .create)
    let daemon = startAccessDaemon(w, environment: ["FORKCTL_TEST_SECRET=1"], extraFD: marker)
    marker.closeQuietly()
    let daemonFDs = openDescriptors(daemon)
    #expect(daemonFDs.values.contains(w.dir + "/daemon-only"))
    let daemonBlocked = signalSet(daemon, "SigBlk") ?? 0
    let daemonIgnored = signalSet(daemon, "SigIgn") ?? 0
    #expect(daemonBlocked & signalBit(SIGCHLD) != 0, "the daemon blocks signals (\(String(daemonBlocked, radix: 16)))")
    #expect(daemonIgnored & (signalBit(SIGUSR1) | signalBit(SIGPIPE)) == signalBit(SIGUSR1) | signalBit(SIGPIPE))
    let daemonGroup = statFields(daemon)?[2]

    // The two ways a program starts: spawn (one request, caller's stdio) and new + run.
    let spawned = w.startScript("exec $F spawn -- sleep 30", tag: "spawned")
    #expect(eventually("spawned worker") { workers(w, running: "sleep").count == 1 })
    let spawnedPID = workers(w, running: "sleep").first ?? 0
    let id = w.ok(["new"])
    w.ok(["run", id, "--", "sleep", "30"])
    let ranPID = w.pid(of: id)

    for (how, pid, stdio) in [
      ("spawn", spawnedPID, ["/dev/null", spawned.out, spawned.err]),
      ("run", ranPID, ["/dev/null", "/dev/null", "/dev/null"]),
    ] {
      #expect(pid > 0)
      let fds = openDescriptors(pid)
      #expect(fds == [0: stdio[0], 1: stdio[1], 2: stdio[2]], "\(how): the worker holds only what was sent: \(fds)")
      let shared = Set(fds.values).intersection(daemonFDs.values).subtracting(["/dev/null"])
      #expect(shared.isEmpty, "\(how): descriptors the daemon holds too: \(shared)")
      let f = statFields(pid)
      #expect(f?[1] == Substring(String(daemon)), "\(how): the daemon is the parent")
      #expect(f?[2] == Substring(String(pid)), "\(how): the worker leads its own process group")
      #expect(f?[2] != daemonGroup)
      #expect(signalSet(pid, "SigBlk") == 0, "\(how): signal mask \(procStatus(pid, "SigBlk"))")
      #expect(signalSet(pid, "SigIgn") == 0, "\(how): ignored signals \(procStatus(pid, "SigIgn"))")
      #expect(
        procStatus(pid, "Uid") == procStatus(daemon, "Uid") && procStatus(pid, "Gid") == procStatus(daemon, "Gid"))
    }
    kill(spawnedPID, SIGKILL)
    #expect(try Sys.waitChild(spawned.pid).signal == SIGKILL)
    w.ok(["kill", "-s", "KILL", id])

    // The environment is the client's, exactly, with nothing of the daemon's.
    let caller = w.script(
      #"env; echo ---; $F spawn -- env; echo ---; id=$($F new) && $F send-fd $id 1=1 && $F run --wait $id -- env"#)
    let parts = caller.stdout.split(separator: "---\n", omittingEmptySubsequences: false).map {
      $0.split(separator: "\n").sorted()
    }
    #expect(parts.count == 3 && parts[1] == parts[0] && parts[2] == parts[0], "caller's env, spawn's, run's: \(parts)")
    let cleared = w.script(
      #"$F spawn --clear-env --env ONLY=this -- env; id=$($F new) && $F send-fd $id 1=1 && "#
        + #"$F run --wait --clear-env --env ONLY=that $id -- env"#
    )
    #expect(cleared.stdout == "ONLY=this\nONLY=that\n", "\(cleared.stderr)")
    #expect(!caller.stdout.contains("FORKCTL_TEST_SECRET") && !cleared.stdout.contains("FORKCTL_TEST_SECRET"))

    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
  }
}

@Suite struct AllowListDirectoryTests {
  @Test("with --allow-uid the daemon makes the way in itself: directory 0711, socket 0666; without, 0700 and 0600")
  func daemonOpensTheWayForAdmittedUsers() throws {
    try requireRootAndSetpriv()
    let w = World()
    let daemon = startAccessDaemon(w, options: ["--allow-uid", "64009"])
    var st = stat()
    #expect(lstat(w.socketDirectory, &st) == 0 && st.st_mode & 0o777 == 0o711)
    #expect(lstat(w.socket, &st) == 0 && st.st_mode & 0o777 == 0o666)
    // Only the test's own temporary directory above needs opening; nothing of the daemon's.
    #expect(chmod(w.dir, 0o711) == 0)
    let admitted = w.forkctlAs(64009, ["spawn", "--", "/bin/sh", "-c", "exit 42"], tag: "admitted")
    #expect(admitted.code == 42, "\(admitted.stderr)")
    let other = w.forkctlAs(64010, ["list"], tag: "other")
    #expect(other.code == 125)
    #expect(other.stderr.contains("uid 64010 is not allowed"), "\(other.stderr)")
    _ = w.run(["shutdown"])
    _ = try? Sys.waitChild(daemon)
    // A daemon without an allow list keeps the directory as the admitting one left it (the
    // admitted users' way back in, issue 10), and keeps them out by its socket's mode.
    w.ok(["list"])
    #expect(lstat(w.socketDirectory, &st) == 0 && st.st_mode & 0o777 == 0o711)
    #expect(lstat(w.socket, &st) == 0 && st.st_mode & 0o777 == 0o600)
    let shut = w.forkctlAs(64009, ["list"], tag: "shut-out")
    #expect(shut.code == 125 && shut.stderr.contains("Permission denied"), "\(shut.stderr)")
  }
}
