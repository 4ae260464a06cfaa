// Versions: what `forkctl --version --verbose` says about the binary, and what a client and
// a daemon of different protocol versions make of each other (forkctl-protocol(7): every
// frame's first byte is the version, and any other version is a violation).
import ForkctlSys
import ForkctlWire
import Glibc
import Synchronization
import Testing

@Suite struct VersionTests {
  @Test("--version --verbose adds the protocol version and the build, in either order, and never starts a daemon")
  func verboseVersionShowsTheBuild() {
    let w = World()
    var names = utsname()
    uname(&names)
    let machine = withUnsafeBytes(of: names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let build = forkctlBinary.contains("/release/") ? "release" : "debug"
    for args in [["--version", "--verbose"], ["--verbose", "--version"], ["list", "--version", "--verbose"]] {
      let r = w.run(args)
      let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
      #expect(r.code == 0 && r.stderr.isEmpty && lines.count == 6, "forkctl \(args): \(r.stdout)\(r.stderr)")
      guard lines.count == 6 else { continue }
      #expect(lines[0] == "forkctl 0.1.0" && lines[1] == "protocol: \(WireLimits.version)")
      // The toolchain of the project (README, Quick start): 6.3 or later.
      #expect(lines[2].hasPrefix("swift: 6.") && !lines[2].hasSuffix("before 6.3"), "\(lines[2])")
      #expect(lines[3] == "architecture: \(machine)" && lines[4] == "build: \(build)" && lines[5].isEmpty)
    }
    #expect(access(w.socket, F_OK) != 0, "a daemon was started")
  }

  @Test("--verbose without --version is a usage error")
  func verboseAloneIsAUsageError() {
    let r = World().run(["--verbose", "list"])
    #expect(r.code == 64 && r.stdout.isEmpty && r.stderr.hasPrefix("forkctl: --verbose goes with --version\n"))
  }

  @Test("a daemon that answers in another protocol version gets an error naming both versions, exit 125")
  func daemonOfAnotherVersionIsNamed() throws {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    let path = dir + "/sock"
    let listener = try UnixSocket.listen(at: path)
    defer { listener.closeQuietly() }
    let outcome = Mutex<Outcome?>(nil)
    let failures = Failures()
    onThreads(2) { i in
      if i == 1 {
        let r = World().run(["list", "--socket", path])
        outcome.withLock { $0 = r }
        return
      }
      // The fake daemon: a welcome in version 2 (pid 1), whatever the request.
      let welcome: [UInt8] = [2, MessageType.welcome.rawValue, 0, 0, 5, 0, 0, 0, 2, 1, 0, 0, 0]
      do {
        guard try Sys.waitReadable([listener], timeoutMilliseconds: 10_000)[0],
          let connection = try UnixSocket.accept(listener)
        else { return failures.add("the client never connected") }
        defer { connection.closeQuietly() }
        try connection.writeFully(welcome)
        // Until the client hangs up, so that its request meets no EPIPE.
        _ = try Sys.waitReadable([connection], timeoutMilliseconds: 10_000)
      } catch {
        failures.add("fake daemon: \(error)")
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all)")
    let r = try #require(outcome.withLock { $0 })
    #expect(r.code == 125 && r.stdout.isEmpty)
    #expect(
      r.stderr == """
        forkctl: daemon at \(path) speaks protocol version 2, and this client version 1: \
        stop it with the forkctl it came with, or use that forkctl

        """, "\(r.stderr)")
  }

  @Test("a client of another protocol version gets a refusal naming both versions, then the connection closes")
  func clientOfAnotherVersionIsRefused() throws {
    let w = World()
    defer { _ = w.run(["shutdown"]) }
    w.ok(["list"])
    let s = try UnixSocket.connect(to: w.socket)
    defer { s.closeQuietly() }
    // The header of a frame in version 2 with an empty payload: nothing is left unread when
    // the daemon closes, which would reset the connection (ECONNRESET, not end of file).
    _ = try UnixSocket.send(s, [2, MessageType.hello.rawValue, 0, 0, 0, 0, 0, 0][...])
    var channel = FrameChannel(s)
    guard case .frame(let f, _) = try channel.receive(), case .failure(let code, let message) = try Reply(f) else {
      Issue.record("no failure reply to a frame of version 2")
      return
    }
    #expect(code == .protocolError)
    #expect(
      String(decoding: message, as: UTF8.self) == "protocol error: unsupported protocol version 2 (this side speaks 1)")
    if case .endOfFile = try channel.receive() {} else { Issue.record("connection not closed") }
  }
}
