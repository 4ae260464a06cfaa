// What one client can take from all (issue 11, items 11, 12a-c, 15, 16a): connections it
// pins, memory it makes the daemon keep, slots and buffers it holds, work one request
// causes, the screen of whoever runs `list`, and errors that blame the wrong thing.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// The message of a refusal thrown by the client library, or "" when none was thrown.
func refusalMessage(_ body: () throws(ForkctlError) -> Void) -> String {
  do {
    try body()
    return ""
  } catch {
    return error.message
  }
}

/// Reads what a raw connection is sent until end of file, for at most `seconds`: the bytes
/// and whether end of file came.
func readUntilClosed(_ fd: FileDescriptor, seconds: Double) -> (bytes: [UInt8], closed: Bool) {
  var bytes: [UInt8] = []
  var closed = false
  _ = eventually("end of file", timeout: seconds) {
    while Sys.isReadableNow(fd) {
      guard let got = try? UnixSocket.receive(fd, maxBytes: 65536, maxFDs: 0, nonblocking: true),
        !got.bytes.isEmpty
      else {
        closed = true
        return true
      }
      bytes += got.bytes
    }
    return false
  }
  return (bytes, closed)
}

/// The message of the `failure` frame at the start of `bytes`, or "" if there is none.
func failureMessage(_ bytes: [UInt8]) -> String {
  var decoder = FrameDecoder()
  decoder.append(bytes)
  guard let frame = try? decoder.next(), let reply = try? Reply(frame), case .failure(_, let message) = reply else {
    return ""
  }
  return String(decoding: message, as: UTF8.self)
}

@Suite struct BoundsTests {
  @Test("a descriptor of a connection to the daemon is refused, and the connection goes when its client leaves")
  func connectionDescriptorRefused() throws {
    let w = World()
    let id = w.ok(["new"])
    let daemon = w.daemonPID
    _ = eventually("the CLI's connections closed") { clientConnections(of: daemon).isEmpty }
    let baseline = openDescriptors(daemon).count
    do {
      var c = try ForkctlConnection(socketPath: w.socket, autoStart: false)
      // A copy: the library refuses to send its own descriptor, the daemon must refuse any.
      let own = FileDescriptor(rawValue: fcntl(c.descriptor.rawValue, F_DUPFD_CLOEXEC, 0))
      defer { own.closeQuietly() }
      let message = refusalMessage { () throws(ForkctlError) in
        _ = try c.request(.sendFDs(ref: Array(id.utf8), targets: [7]), fds: [own])
      }
      #expect(message.contains("it is a socket connected to this daemon"), "\(message)")
      // Another client's connection is refused the same way, and so is one in a spawn.
      var other = try ForkctlConnection(socketPath: w.socket, autoStart: false)
      let theirs = other.descriptor
      let again = refusalMessage { () throws(ForkctlError) in
        _ = try c.request(.sendFDs(ref: Array(id.utf8), targets: [8]), fds: [theirs])
      }
      #expect(again.contains("it is a socket connected to this daemon"), "\(again)")
      let spawn = refusalMessage { () throws(ForkctlError) in
        _ = try c.spawn(RunSpec(program: Array("true".utf8)), fds: [(theirs, 3)])
      }
      #expect(spawn.contains("it is a socket connected to this daemon"), "\(spawn)")
      // The connection is still served.
      _ = try other.list()
    }
    #expect(
      eventually("the daemon let go of both connections") { clientConnections(of: daemon).isEmpty },
      "connections still open: \(clientConnections(of: daemon))")
    #expect(eventually("descriptors back to baseline") { openDescriptors(daemon).count == baseline })
    #expect(w.entries().first { String($0.id) == id }?.state == "ready")
  }

  @Test("a program string of 4 MiB is kept cut short: list works for another client, the daemon's memory bounded")
  func longProgramStringsKeptShort() throws {
    let w = World()
    w.ok(["list"])
    let daemon = w.daemonPID
    let baseline = residentKiB(daemon)
    let program = [UInt8](repeating: UInt8(ascii: "p"), count: WireLimits.maxPayload - 64 * 1024)
    for n in 0..<10 {
      var c = try ForkctlConnection(socketPath: w.socket, autoStart: false)
      let message = refusalMessage { () throws(ForkctlError) in
        _ = try c.spawn(RunSpec(program: program), fds: [], name: "long\(n)")
      }
      // Refused by execve (ENAMETOOLONG), and the message quotes what is kept.
      #expect(message.count < 4200, "a message of \(message.count) bytes")
    }
    let r = w.run(["list"])
    #expect(r.code == 0, "list: \(r.stderr)")
    let rows = r.stdout.split(separator: "\n").filter { $0.contains("long") }
    #expect(rows.count == 10)
    #expect(rows.allSatisfy { $0.count < 4200 && $0.hasSuffix("...") }, "\(rows.map(\.count))")
    #expect(
      residentKiB(daemon) - baseline < 32 * 1024,
      "daemon VmRSS \(baseline) KiB before, \(residentKiB(daemon)) KiB after")
  }

  /// A daemon of our own user started with `environment` added (the timeouts).
  func daemon(_ w: World, _ environment: [String], options: [String] = []) -> Int32 {
    startAccessDaemon(w, options: options, environment: environment)
  }

  @Test("a connection that sends a frame a byte at a time is dropped once the frame timeout has passed")
  func slowLorisDropped() throws {
    let w = World()
    let pid = daemon(w, ["FORKCTL_DAEMON_FRAME_TIMEOUT_MS=500"])
    let fd = try UnixSocket.connect(to: w.socket)
    defer { fd.closeQuietly() }
    // A spawn frame of 1,000 bytes of payload, a byte every 100 ms: it would take 100 s to
    // end; 60 bytes (6 s) are more than enough for a timeout of 500 ms.
    let frame =
      [WireLimits.version, MessageType.spawn.rawValue, 0, 0, 0xe8, 0x03, 0, 0] + [UInt8](repeating: 0, count: 1000)
    var closed = false
    var sent = 0
    for byte in frame.prefix(60) {
      if (try? UnixSocket.send(fd, [byte][...], nonblocking: true)) == nil { break }
      sent += 1
      let r = readUntilClosed(fd, seconds: 0.1)
      if r.closed {
        #expect(failureMessage(r.bytes) == "closing the connection: a frame was begun and not finished within 500 ms")
        closed = true
        break
      }
    }
    #expect(closed, "the connection outlived its frame timeout (\(sent) bytes sent)")
    #expect(sent < 30, "dropped only after \(sent) bytes, a byte every 100 ms")
    w.ok(["list"])
    _ = pid
  }

  @Test("a connection that sends nothing is dropped once the idle timeout has passed; a waiting one is not")
  func idleConnectionDropped() throws {
    let w = World()
    _ = daemon(w, ["FORKCTL_DAEMON_IDLE_TIMEOUT_MS=300"])
    let fd = try UnixSocket.connect(to: w.socket)
    defer { fd.closeQuietly() }
    let r = readUntilClosed(fd, seconds: 5)
    #expect(r.closed, "the idle connection was not dropped")
    #expect(failureMessage(r.bytes) == "closing the connection: the connection was idle for 300 ms")
    // A spawn whose program runs longer than the timeout is waited for, not dropped.
    #expect(w.run(["spawn", "--", "sleep", "1"]).code == 0)
  }

  @Test("one user's 1,024 idle connections leave room for another admitted user")
  func connectionsShareKeptPerUser() throws {
    try requireRootAndSetpriv()
    let other: UInt32 = 64032
    let w = World()
    let pid = startAccessDaemon(w, options: ["--allow-uid", String(other)])
    w.openPathToOthers()
    var open: [FileDescriptor] = []
    defer { for fd in open { fd.closeQuietly() } }
    for _ in 0..<1024 {
      guard let fd = try? UnixSocket.connect(to: w.socket) else { break }
      open.append(fd)
    }
    let own = w.run(["list"])
    #expect(own.code == 125)
    #expect(own.stderr.contains("too many connections for uid 0 (896 of 1024"), "\(own.stderr)")
    let theirs = w.forkctlAs(other, ["list"], tag: "share")
    #expect(theirs.code == 0, "the other user: \(theirs.stderr)")
    for fd in open { fd.closeQuietly() }
    open.removeAll()
    #expect(eventually("the connections closed") { clientConnections(of: pid).isEmpty })
    w.ok(["list"])
  }

  @Test("incomplete frames from 100 connections take a bounded share of the daemon's memory")
  func halfFramesBounded() throws {
    let w = World()
    w.ok(["list"])
    let daemon = w.daemonPID
    let baseline = residentKiB(daemon)
    let length = WireLimits.maxPayload - 1
    let header = [
      WireLimits.version, MessageType.spawn.rawValue, 0, 0, UInt8(length & 0xff), UInt8(length >> 8 & 0xff),
      UInt8(length >> 16 & 0xff), UInt8(length >> 24),
    ]
    var connections: [(fd: FileDescriptor, sent: Int)] = []
    defer { for c in connections { c.fd.closeQuietly() } }
    for _ in 0..<100 {
      let fd = try UnixSocket.connect(to: w.socket)
      _ = try UnixSocket.send(fd, header[...], nonblocking: true)
      connections.append((fd, 0))
    }
    // All but the last byte of each frame, round robin, until each is sent or refused.
    let chunk = [UInt8](repeating: 0, count: 64 * 1024)
    var stalled = 0
    while stalled < 200 {
      var progress = false
      for i in connections.indices where connections[i].sent >= 0 && connections[i].sent < length - 1 {
        let n = min(chunk.count, length - 1 - connections[i].sent)
        do {
          connections[i].sent += try UnixSocket.send(connections[i].fd, chunk[..<n], nonblocking: true)
          progress = true
        } catch {
          if error != .wouldBlock && error != .resourceTemporarilyUnavailable { connections[i].sent = -1 }
        }
      }
      if connections.allSatisfy({ $0.sent < 0 || $0.sent == length - 1 }) { break }
      stalled = progress ? 0 : stalled + 1
      if !progress { usleep(10_000) }
    }
    let rss = residentKiB(daemon)
    #expect(rss - baseline < 96 * 1024, "daemon VmRSS \(baseline) KiB before, \(rss) KiB with the half frames")
    #expect(connections.contains { $0.sent < 0 }, "no connection was refused")
    w.ok(["list"])
  }

  @Test("a client that sends list requests and never reads the replies does not make the daemon keep them")
  func unreadRepliesBounded() throws {
    let w = World()
    w.ok(["list"])
    // 100 process objects whose programs (4000 bytes, not found) make a listing of 400 KB.
    var c = try ForkctlConnection(socketPath: w.socket, autoStart: false)
    let program = Array("/nonexistent/".utf8) + [UInt8](repeating: UInt8(ascii: "p"), count: 3987)
    var refusals: [String: Int] = [:]
    for n in 0..<100 {
      let message = refusalMessage { () throws(ForkctlError) in
        _ = try c.spawn(RunSpec(program: program), fds: [], name: "unread\(n)")
      }
      refusals[String(message.suffix(40)), default: 0] += 1
    }
    #expect(w.entries().count == 101, "the spawns were refused with \(refusals)")
    let daemon = w.daemonPID
    let baseline = residentKiB(daemon)
    // 300 requests, 120 MB of replies if each were kept.
    let fd = try UnixSocket.connect(to: w.socket)
    defer { fd.closeQuietly() }
    let request = Request.list.frame().encoded()
    var sent = 0
    while sent < 300 {
      guard (try? UnixSocket.send(fd, request[...], nonblocking: true)) != nil else { break }
      sent += 1
    }
    // The daemon has had the time to read them all, had it wanted to.
    w.ok(["list", "--json"])
    usleep(500_000)
    let rss = residentKiB(daemon)
    #expect(rss - baseline < 32 * 1024, "daemon VmRSS \(baseline) KiB before, \(rss) KiB with the replies unread")
    // Reading the replies lets it go on: the connection was slowed, not dropped.
    var channel = FrameChannel(fd)
    guard case .frame(let first, _) = try channel.receive() else {
      Issue.record("no reply")
      return
    }
    #expect(first.type == .listing)
    w.ok(["list"])
  }

  @Test("a wait or kill naming 65,536 process objects is refused, and other clients are served meanwhile")
  func refsPerRequestBounded() throws {
    let w = World()
    w.ok(["new", "--name", "n1"])
    let names = (0..<65536).map { "n\($0)" }
    var c = try ForkctlConnection(socketPath: w.socket, autoStart: false)
    let kill = refusalMessage { () throws(ForkctlError) in try c.kill(names, signal: 0) }
    #expect(kill == "cannot name 65536 process objects in one request: at most 1024")
    let wait = refusalMessage { () throws(ForkctlError) in _ = try c.wait(names) }
    #expect(wait == "cannot name 65536 process objects in one request: at most 1024")
    // The same connection is served on, and so is another.
    #expect(try c.list().contains { $0.name == Array("n1".utf8) })
    var other = try ForkctlConnection(socketPath: w.socket, autoStart: false)
    _ = try other.list()
    try c.kill(Array(repeating: "n1", count: 1024), signal: 0)
  }

  @Test("control characters of a program string are shown escaped by list and in error messages")
  func controlCharactersEscaped() throws {
    let w = World()
    let id = w.ok(["new"])
    let program = "/nonexistent\r\u{1b}[2K\u{9b}31m1  forged  worker\\"
    let r = w.run(["run", "--wait", id, "--", program])
    #expect(r.code == 127)
    #expect(
      r.stderr
        == "forkctl: cannot run /nonexistent\\r\\e[2K\\x9b31m1  forged  worker\\\\ in process \(id): "
        + "No such file or directory\n"
    )
    let list = w.ok(["list"])
    #expect(!list.utf8.contains { $0 < 0x20 && $0 != 0x0A }, "\(Array(list.utf8))")
    #expect(!list.unicodeScalars.contains { $0.value == 0x9b })
    #expect(list.contains("/nonexistent\\r\\e[2K\\x9b31m1  forged  worker\\\\"))
    // JSON keeps its own escapes.
    #expect(w.ok(["list", "--json"]).contains("\\u000d\\u001b[2K\\u009b31m1"))
  }

  @Test("a working-directory descriptor that is not a directory is named as such, not blamed on the program")
  func workingDirectoryNotADirectory() throws {
    let w = World()
    w.ok(["list"])
    writeFile(w.dir + "/file", "")
    let file = try Sys.open(w.dir + "/file", .readOnly)
    defer { file.closeQuietly() }
    var c = try ForkctlConnection(socketPath: w.socket, autoStart: false)
    let spawned = refusalMessage { () throws(ForkctlError) in
      _ = try c.spawn(RunSpec(program: Array("/bin/true".utf8)), fds: [], workingDirectory: file)
    }
    #expect(spawned == "cannot change to the working directory \(w.dir)/file: Not a directory")
    let id = try c.new()
    let ran = refusalMessage { () throws(ForkctlError) in
      _ = try c.run(String(id.id), RunSpec(program: Array("/bin/true".utf8)), workingDirectory: file)
    }
    #expect(ran == "cannot change to the working directory \(w.dir)/file: Not a directory")
  }

  @Test("a spawn that finds no process left to create says so, not that the program failed")
  func processExhaustionNamed() throws {
    try requireRootAndSetpriv()
    try requireProgram("/usr/bin/prlimit", package: "util-linux")
    let daemonUID: UInt32 = 64033
    let w = World()
    // The daemon is another user's, which admits this one: trusted by name (SECURITY).
    w.extraEnvironment = ["FORKCTL_DAEMON_UID=\(daemonUID)"]
    #expect(chmod(w.dir, 0o711) == 0)
    #expect(mkdir(w.socketDirectory, 0o700) == 0 && chown(w.socketDirectory, daemonUID, daemonUID) == 0)
    // RLIMIT_NPROC 2 for the daemon's user: the daemon and its default template, no more.
    let ready = try Sys.pipe()
    let daemon = try Sys.posixSpawn(
      path: "/usr/bin/prlimit",
      arguments: [
        "prlimit", "--nproc=2", "--", setprivBinary, "--reuid=\(daemonUID)", "--regid=\(daemonUID)",
        "--clear-groups", "--", forkctlBinary, "daemon", "--socket", w.socket, "--ready-fd", "3", "--allow-uid", "0",
      ],
      environment: w.environment, fds: [nil, nil, FileDescriptor.standardError, ready.write])
    ready.write.closeQuietly()
    let answer = String(decoding: (try? ready.read.readAll()) ?? [], as: UTF8.self)
    ready.read.closeQuietly()
    try #require(answer == "ready\n", "daemon start: \(answer)")
    let limit = " (a limit on processes is reached: the user's RLIMIT_NPROC, a pids cgroup, or kernel.pid_max)"
    let spawn = w.run(["spawn", "--", "true"])
    #expect(spawn.code == 125)
    #expect(
      spawn.stderr
        == "forkctl: cannot spawn true: the template cannot create a process: "
        + "Resource temporarily unavailable\(limit)\n"
    )
    let new = w.run(["new"])
    #expect(new.code == 125)
    #expect(new.stderr.hasSuffix(": the template cannot create a process: Resource temporarily unavailable\(limit)\n"))
    w.ok(["shutdown"])
    _ = try Sys.waitChild(daemon)
  }
}
