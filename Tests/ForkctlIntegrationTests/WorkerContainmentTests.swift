// Issue 11, items 8, 9 and 10, with real processes: what a worker does cannot reach the
// daemon, outlive the kill-on-disconnect policy, or grow its template.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// The process group of `pid` (/proc/PID/stat, field 5).
private func processGroup(_ pid: Int32) -> Int32? {
  guard let f = statFields(pid), f.count > 2 else { return nil }
  return Int32(f[2])
}

/// Anonymous memory resident in `pid`, in kB (/proc/PID/status, RssAnon).
private func anonymousKilobytes(_ pid: Int32) -> Int {
  for line in readFile("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix("RssAnon:") {
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
  }
  return 0
}

@Suite struct WorkerContainmentTests {
  @Test("a program a template runs itself that signals its own process group leaves the daemon running")
  func templateProgramCannotSignalDaemon() throws {
    let w = World()
    let template = w.ok(["exec"])
    let daemon = w.daemonPID
    #expect(w.run(["spawn", "true"]).code == 0)
    // Every template leads a group of its own, the default one included.
    for e in w.entries() {
      #expect(processGroup(e.pid) == e.pid, "process \(e.id) leads no group of its own")
      #expect(processGroup(e.pid) != processGroup(daemon), "process \(e.id) is in the daemon's group")
    }
    w.ok(["run", template, "--", "sh", "-c", "kill -TERM 0"])
    #expect(w.run(["wait", "--print", template]).stdout == "\(template) \(128 + SIGTERM)\n")
    #expect(isAlive(daemon) && w.daemonPID == daemon)
    #expect(w.run(["spawn", "sh", "-c", "exit 4"]).code == 4)
  }

  @Test("a group member that ignores SIGTERM gets SIGKILL after the grace when its spawning client dies")
  func memberIgnoringTermKilledAfterGrace() throws {
    let w = World()
    let d = startForegroundDaemon(w, extra: ["--kill-grace", "0.2"])
    #expect(d.ready == "ready\n")
    let memberFile = w.dir + "/member"
    writeFile(
      w.dir + "/member.sh",
      "trap '' TERM\necho $$ > \(memberFile).tmp\nmv \(memberFile).tmp \(memberFile)\nexec sleep 1000\n")
    let client = w.startScript(
      "exec $F spawn sh -c 'sh \(w.dir)/member.sh & exec sleep 1000'", tag: "spawn")
    #expect(eventually("member started") { !readFile(memberFile).isEmpty })
    let member = Int32(readFile(memberFile).split(separator: "\n").first ?? "") ?? 0
    #expect(member > 0 && isAlive(member))
    kill(client.pid, SIGKILL)
    _ = try Sys.waitChild(client.pid)
    // The leader ends on SIGTERM at once; the member only by SIGKILL after the grace.
    #expect(eventually("member killed after the grace", timeout: 5) { !isAlive(member) })
    if isAlive(member) { kill(member, SIGKILL) }
    #expect(eventually("no zombie") { zombieChildren(of: d.pid).isEmpty })
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(d.pid).exitCode == 0)
  }

  @Test("spawning a script without #! with more than 254 arguments does not grow the template's memory")
  func shellArgumentsLeaveNoMemoryInTemplate() throws {
    let w = World()
    let script = w.dir + "/noshebang"
    writeFile(script, "exit 3\n", mode: 0o755)
    let arguments = Array(repeating: "x", count: 20_000)
    // Warm up: the template's heap and the daemon settle first.
    for _ in 0..<5 { #expect(w.run(["spawn", script] + arguments).code == 3) }
    let template = w.entries().first { $0.id == 1 }!.pid
    let before = anonymousKilobytes(template)
    for _ in 0..<100 { #expect(w.run(["spawn", script] + arguments).code == 3) }
    let after = anonymousKilobytes(template)
    // The shell's argv of each spawn is 160 kB: 100 of them left behind would be 16 MB.
    #expect(after - before < 2048, "the template grew from \(before) kB to \(after) kB")
  }
}
