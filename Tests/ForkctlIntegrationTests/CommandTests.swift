// Every command against a private daemon, through the built binary.
import ForkctlSys
import Glibc
import Testing

@Suite struct CommandTests {
  @Test func shellSessionFromTheManualEchoesSentArgument() {
    let w = World()
    let out = try! Sys.open(w.dir + "/echo.out", .writeOnly, options: [.create, .truncate])
    let id = w.ok(["new"])
    #expect(Int(id) != nil, "new prints an id, got \(id)")
    w.ok(["send-fd", id, "0", "1", "2"], fds: [1: out])
    w.ok(["send-arg", id, "hello"])
    w.ok(["run", id, "--", "/bin/echo"])
    #expect(w.run(["wait", id]).code == 0)
    out.closeQuietly()
    #expect(readFile(w.dir + "/echo.out") == "hello\n")
  }

  @Test func argvIsProgramThenSentStringsThenArgsByteForByte() {
    let w = World()
    let out = try! Sys.open(w.dir + "/argv", .writeOnly, options: [.create, .truncate])
    let id = w.ok(["new"])
    w.ok(["send-fd", id, "1=9"], fds: [9: out])
    w.ok(["send-arg", id, "-c", "printf '[%s]' \"$0\" \"$@\"", "zero", "a b", ""])
    w.ok(["run", id, "--wait", "--", "sh", "*", "last"])
    out.closeQuietly()
    #expect(readFile(w.dir + "/argv") == "[zero][a b][][*][last]")
  }

  @Test func workerHoldsExactlyTheSentDescriptorsOnTheirTargets() {
    let w = World()
    let a = try! Sys.open(w.dir + "/a", .writeOnly, options: .create)
    let b = try! Sys.open(w.dir + "/b", .writeOnly, options: .create)
    let id = w.ok(["new"])
    // Caller's 7 on 5; caller's 8 on the lowest free number (0); 1 and 2 not sent.
    w.ok(["send-fd", id, "5=7", "8"], fds: [7: a, 8: b])
    w.ok(["run", id, "--", "sleep", "30"])
    let pid = w.pid(of: id)
    #expect(pid > 0)
    let fds = openDescriptors(pid)
    #expect(Set(fds.keys) == [0, 1, 2, 5], "worker fds: \(fds)")
    #expect(fds[5] == w.dir + "/a")
    #expect(fds[0] == w.dir + "/b")
    #expect(fds[1] == "/dev/null" && fds[2] == "/dev/null")
    #expect(statFields(pid)?[1] == Substring(String(w.daemonPID)), "the daemon is the worker's parent")
    w.ok(["kill", id])
    #expect(w.run(["wait", id]).code == 143)
    a.closeQuietly()
    b.closeQuietly()
  }

  @Test("spawn --keep-control names its program as text on stderr, with its id")
  func spawnKeepControlNamesTheProgram() {
    let w = World()
    let r = w.run(["spawn", "--keep-control", "--", "sh", "-c", "exit 3"])
    #expect(r.code == 3)
    #expect(
      r.stderr.hasPrefix("forkctl: sh is process ") && r.stderr.contains("; it keeps its control socket"),
      "stderr: \(r.stderr)")
  }

  @Test func keepControlLeavesTheSocketOnTheAnnouncedDescriptorOnly() {
    let w = World()
    let id = w.ok(["new"])
    w.ok(["send-fd", id, "0", "1"], fds: [0: FileDescriptor.standardInput, 1: FileDescriptor.standardOutput])
    w.ok(["run", "--keep-control", id, "--", "sleep", "30"])
    let pid = w.pid(of: id)
    let fds = openDescriptors(pid)
    #expect(Set(fds.keys) == [0, 1, 2, 3], "worker fds: \(fds)")
    #expect(fds[3]?.hasPrefix("socket:") == true)
    let environ = readFile("/proc/\(pid)/environ").split(separator: "\0")
    #expect(environ.contains("FORKCTL_CONTROL_FD=3"))
    w.ok(["kill", "-s", "KILL", id])
    #expect(w.run(["wait", id]).code == 137)
  }

  @Test func stringsAndDescriptorsSentAfterRunReachAKeepControlWorker() throws {
    let w = World()
    let script = w.dir + "/reader.py"
    writeFile(
      script,
      controlSocketReader + """
        kind, data, _ = frame()
        assert kind == 0x82, kind
        words = [w.decode() for w in strings(data)]
        kind, data, fds = frame()
        assert kind == 0x81 and len(fds) == 1, (kind, fds)
        os.write(fds[0], ("got " + " ".join(words) + "\\n").encode())
        """)
    let out = try! Sys.open(w.dir + "/late.out", .writeOnly, options: [.create, .truncate])
    let id = w.ok(["new"])
    w.ok(["run", id, "--keep-control", "--", "python3", script])
    w.ok(["send-arg", id, "late", "words"])
    w.ok(["send-fd", id, "4"], fds: [4: out])
    #expect(w.run(["wait", id]).code == 0)
    out.closeQuietly()
    #expect(readFile(w.dir + "/late.out") == "got late words\n")
  }

  @Test func forkClonesEverySentStringAndDescriptor() {
    let w = World()
    let log = try! Sys.open(w.dir + "/log", .writeOnly, options: [.create, .append])
    let t = w.ok(["exec", "--name", "tpl"])
    w.ok(["send-fd", "tpl", "3=6"], fds: [6: log])
    w.ok(["send-arg", "tpl", "-c", "printf '%s|' \"$@\" >&3", "x"])
    log.closeQuietly()
    for n in 1...2 {
      let c = w.ok(["fork", t])
      w.ok(["send-arg", c, "c\(n)"])
      w.ok(["run", c, "--wait", "--", "sh", "end"])
    }
    #expect(readFile(w.dir + "/log") == "c1|end|c2|end|")
    // The template itself still has not run and can fork again.
    let again = w.ok(["fork", "tpl"])
    #expect(Int(again) != nil)
  }

  @Test func waitReportsExitCodesAndSignalsAsAShellDoes() {
    let w = World()
    let ids = (0..<3).map { _ in w.ok(["new"]) }
    w.ok(["run", ids[0], "--", "sh", "-c", "exit 5"])
    w.ok(["run", ids[1], "--", "sh", "-c", "kill -TERM $$"])
    w.ok(["run", ids[2], "--", "sh", "-c", "kill -KILL $$"])
    #expect(w.run(["wait", ids[0]]).code == 5)
    #expect(w.run(["wait", ids[1]]).code == 143)
    #expect(w.run(["wait", ids[2]]).code == 137)
    // Asked again, later: the same answers.
    let r = w.run(["wait", "--print"] + ids)
    #expect(r.code == 137)
    #expect(r.stdout == "\(ids[0]) 5\n\(ids[1]) 143\n\(ids[2]) 137\n")
  }

  @Test func runWaitReraisesTheWorkersSignal() {
    let w = World()
    let id = w.ok(["new"])
    let r = w.run(["run", id, "--wait", "--", "sh", "-c", "kill -TERM $$"])
    #expect(r.status.signal == SIGTERM, "forkctl itself died of SIGTERM: \(r.status)")
  }

  @Test func namesWorkWhereverIdsDo() {
    let w = World()
    w.ok(["new", "--name", "web"])
    w.ok(["send-arg", "web", "-c", "exit 7"])
    w.ok(["run", "web", "--", "sh"])
    #expect(w.run(["wait", "web"]).code == 7)
    let dup = w.run(["exec", "--name", "9"])
    #expect(dup.code == 125 && dup.stderr.contains("invalid name"))
  }

  @Test func errorsNameTheObjectExit125AndTheDaemonKeepsServing() {
    let w = World()
    let unknown = w.run(["wait", "4242"])
    #expect(unknown.code == 125)
    #expect(unknown.stderr == "forkctl: no process object 4242\n")
    let id = w.ok(["new"])
    w.ok(["run", id, "--", "sleep", "30"])
    let twice = w.run(["run", id, "--", "true"])
    #expect(twice.code == 125 && twice.stderr.contains("process \(id)") && twice.stderr.contains("already running"))
    let forkRunning = w.run(["fork", id])
    #expect(forkRunning.code == 125 && forkRunning.stderr.contains("cannot fork process \(id)"))
    let closed = w.run(["send-fd", id, "77"])
    #expect(closed.code == 125 && closed.stderr.contains("descriptor 77"))
    let toDefault = w.run(["send-arg", "default", "x"])
    #expect(toDefault.code == 125 && toDefault.stderr.contains("default template"))
    let usage = w.run(["send-fd", id, "x=y"])
    #expect(usage.code == 64)
    let waitUsage = w.run(["wait"])
    #expect(waitUsage.code == 125, "a usage error of wait cannot look like a worker's status")
    w.ok(["kill", id])
    #expect(w.run(["wait", id]).code == 143)
    #expect(w.entries().count == 2, "the default template and \(id)")
  }

  @Test func missingProgramIs127AndNonExecutableIs126() {
    let w = World()
    let a = w.ok(["new"])
    let missing = w.run(["run", a, "--", "no-such-program-forkctl"])
    #expect(missing.code == 127)
    #expect(missing.stderr.contains("no-such-program-forkctl"))
    #expect(w.run(["wait", a]).code == 127)
    writeFile(w.dir + "/notexec", "#!/bin/sh\n", mode: 0o644)
    let b = w.ok(["new"])
    let denied = w.run(["run", b, "--", w.dir + "/notexec"])
    #expect(denied.code == 126)
    #expect(w.run(["wait", b]).code == 126)
  }

  @Test func environmentAndWorkingDirectoryAreTheCallers() {
    let w = World()
    let out = try! Sys.open(w.dir + "/env", .writeOnly, options: [.create, .truncate])
    let id = w.ok(["new"])
    w.ok(["send-fd", id, "1=5"], fds: [5: out])
    w.ok(["run", id, "--wait", "--env", "EXTRA=a=b", "--", "sh", "-c", "echo \"$EXTRA $FORKCTL_SOCKET\"; pwd"])
    out.closeQuietly()
    let lines = readFile(w.dir + "/env").split(separator: "\n")
    #expect(lines.first == Substring("a=b \(w.socket)"))
    #expect(lines.count == 2)
    let cleared = w.ok(["new"])
    let r = w.run(["run", cleared, "--wait", "--clear-env", "--", "/usr/bin/env"])
    #expect(r.code == 0)
  }

  @Test func listShowsEveryProcessObjectAsTableAndJSON() {
    let w = World()
    let id = w.ok(["new", "--name", "lister"])
    let table = w.ok(["list"])
    #expect(table.hasPrefix("ID"))
    #expect(table.contains("default-template") && table.contains("lister"))
    let json = w.ok(["list", "--json"])
    #expect(json.hasPrefix("[{") && json.contains("\"id\":\(id)") && json.contains("\"name\":\"lister\""))
  }

  @Test func twentyConcurrentClientsEachGetTheirOwnStatus() {
    let w = World()
    w.ok(["list"])  // the daemon is up
    var pids: [Int32] = []
    for i in 0..<20 {
      let script =
        "w=$(\(forkctlBinary) new) && \(forkctlBinary) run \"$w\" -- sh -c 'exit \(i)' && \(forkctlBinary) wait \"$w\""
      pids.append(
        try! Sys.posixSpawn(
          path: "/bin/sh", arguments: ["sh", "-c", script], environment: w.environment,
          fds: [nil, nil, FileDescriptor.standardError]))
    }
    for (i, pid) in pids.enumerated() {
      #expect(try! Sys.waitChild(pid).exitCode == Int32(i))
    }
    let exited = w.entries().filter { $0.state == "exited" }
    #expect(exited.count == 20)
    // The daemon answers for a child while it is a zombie and reaps it right after.
    #expect(eventually("no zombie of the daemon") { zombieChildren(of: w.daemonPID).isEmpty })
  }
}
