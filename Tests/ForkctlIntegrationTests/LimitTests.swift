// Each limit of the daemon, reached through the real binary: a clear error, and service after.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@Suite struct LimitTests {
  @Test("--max-connections: one more connection is refused with a message naming the limit; service resumes")
  func connections() throws {
    let w = World()
    let d = startForegroundDaemon(w, extra: ["--max-connections", "2"])
    try #require(d.ready == "ready\n")
    defer {
      _ = w.run(["shutdown"])
      _ = try? Sys.waitChild(d.pid)
    }
    let a = try UnixSocket.connect(to: w.socket)
    let b = try UnixSocket.connect(to: w.socket)
    #expect(eventually("both accepted") { clientConnections(of: d.pid).count == 2 })
    let refused = w.run(["list"])
    #expect(refused.code == 125)
    #expect(refused.stderr == "forkctl: too many connections (2); try again once some have closed\n")
    a.closeQuietly()
    #expect(eventually("one closed") { clientConnections(of: d.pid).count == 1 })
    #expect(w.run(["list"]).code == 0)
    b.closeQuietly()
  }

  @Test("--max-processes-per-user and --max-processes: the next process object is refused, named; waiting frees room")
  func processObjects() throws {
    let w = World()
    let d = startForegroundDaemon(w, extra: ["--max-processes-per-user", "2", "--max-processes", "4"])
    try #require(d.ready == "ready\n")
    defer {
      _ = w.run(["shutdown"])
      _ = try? Sys.waitChild(d.pid)
    }
    let first = w.ok(["new"])
    _ = w.ok(["new"])
    let third = w.run(["new"])
    #expect(third.code == 125)
    #expect(
      third.stderr == "forkctl: too many process objects for uid \(getuid()) (2); wait for exited ones or kill some\n")
    let spawn = w.run(["spawn", "true"])
    #expect(spawn.code == 125)
    // Ending one and waiting for it makes room.
    w.ok(["kill", "-s", "KILL", first])
    #expect(w.run(["wait", first]).code == 137)
    #expect(w.run(["spawn", "true"]).code == 0)
  }

  @Test("strings and descriptors per process object: refused with the limit in the message")
  func perObject() throws {
    let w = World()
    let id = w.ok(["new"])
    // 256 descriptors per process object: 5 frames of 64 reach it.
    var last = w.run(["list"])
    for _ in 0..<5 {
      last = w.script(
        #"exec 3</dev/null; $F send-fd "# + id + " " + Array(repeating: "3", count: 64).joined(separator: " "))
      if last.code != 0 { break }
    }
    #expect(last.code == 125)
    #expect(last.stderr.contains("more than 256"), "\(last.stderr)")
    // 1 MiB of strings.
    // (An argument is at most 128 KiB for execve, so six of 100,000 bytes per call.)
    let big = w.script(
      #"x=$(head -c 100000 /dev/zero | tr '\0' x); for i in 1 2; do $F send-arg "# + id
        + #" "$x" "$x" "$x" "$x" "$x" "$x" || exit; done"#)
    #expect(big.code == 125)
    #expect(big.stderr.contains("1048576 bytes"), "\(big.stderr)")
    // Still served.
    #expect(w.run(["spawn", "true"]).code == 0)
  }
}
