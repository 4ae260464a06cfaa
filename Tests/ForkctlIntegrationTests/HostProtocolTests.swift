// Issue 14: the daemon's side of the language hosts' protocol, against the minimal Python host
// of Tests/Fixtures/hosts (run through FORKCTL_HOST_SCRIPT_DIR in place of the embedded one):
// workers that are the host's children, their statuses by childEnded, and by the daemon's own
// reaping once the host is gone.
import ForkctlSys
import Glibc
import Testing

@Suite(.serialized) struct HostProtocolTests {
  /// Tests/Fixtures/hosts, from this file's path.
  static var fixtureHosts: String {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(2)
    return parts.joined(separator: "/") + "/Fixtures/hosts"
  }

  /// A world whose `exec --python` runs the fixture host, and one such host named py.
  static func hostWorld() -> (World, host: Int32) {
    let w = World()
    w.extraEnvironment = ["FORKCTL_HOST_SCRIPT_DIR=\(fixtureHosts)"]
    let id = w.ok(["exec", "--python", "--interpreter", "/usr/bin/python3", "--name", "py"])
    return (w, w.pid(of: id))
  }

  /// A worker forked from py, running the fixture's `program`; its id and pid.
  static func worker(_ w: World, _ name: String, _ program: String) -> (id: String, pid: Int32) {
    let id = w.ok(["fork", "--name", name, "py"])
    w.ok(["run", name, program])
    return (id, w.pid(of: id))
  }

  @Test("a hosted worker is the host's child, and its exit status comes from the host's childEnded")
  func statusFromChildEnded() throws {
    let (w, host) = Self.hostWorld()
    let (_, pid) = Self.worker(w, "w", "sleep:0.3:7")
    #expect(statFields(pid).map { Int32($0[1]) } == host)
    #expect(w.run(["wait", "--timeout", "20", "w"]).code == 7)
    // The host reaped it after its report: no zombie is left, of the host's or the daemon's.
    #expect(eventually("the worker reaped") { statFields(pid) == nil })
    #expect(zombieChildren(of: host).isEmpty)
    // The daemon answers for a child while it is a zombie and reaps it right after.
    #expect(eventually("no zombie of the daemon") { zombieChildren(of: w.daemonPID).isEmpty })
  }

  @Test("a host killed with SIGKILL while its worker runs: the worker's exact status still comes to wait")
  func hostKilledWhileWorkerRuns() throws {
    let (w, host) = Self.hostWorld()
    let (_, pid) = Self.worker(w, "w", "sleep:1:5")
    w.ok(["kill", "-KILL", "py"])
    #expect(w.run(["wait", "--timeout", "20", "py"]).code == 128 + SIGKILL)
    // Given to the daemon, the subreaper, which reaps it itself.
    #expect(eventually("the worker re-parented") { statFields(pid).map { Int32($0[1]) } == w.daemonPID })
    #expect(w.run(["wait", "--timeout", "20", "w"]).code == 5)
    #expect(eventually("the worker reaped") { statFields(pid) == nil })
    // The daemon answers for a child while it is a zombie and reaps it right after.
    #expect(eventually("no zombie of the daemon") { zombieChildren(of: w.daemonPID).isEmpty })
    _ = host
  }

  @Test("a host killed after its worker ended and before it reported it: the daemon reaps the zombie's status")
  func hostKilledBeforeReport() throws {
    let (w, host) = Self.hostWorld()
    w.ok(["eval", "py", "stop reporting ends"])
    let (_, pid) = Self.worker(w, "w", "exit:3")
    #expect(eventually("the worker a zombie of its host") { statFields(pid)?.first == "Z" })
    #expect(zombieChildren(of: host) == [pid])
    w.ok(["kill", "-KILL", "py"])
    #expect(w.run(["wait", "--timeout", "20", "w"]).code == 3)
    #expect(eventually("no zombie left") { zombieChildren(of: w.daemonPID).isEmpty && statFields(pid) == nil })
  }

  @Test("kill reaches a hosted worker (through its pidfd), and wait gives the signal")
  func killHostedWorker() throws {
    let (w, _) = Self.hostWorld()
    let (_, pid) = Self.worker(w, "w", "sleep:30:0")
    w.ok(["kill", "w"])
    #expect(w.run(["wait", "--timeout", "20", "w"]).code == 128 + SIGTERM)
    #expect(eventually("the worker reaped") { statFields(pid) == nil })
    // Reaped by its host: a second kill must not reach whatever took its pid.
    #expect(w.run(["kill", "w"]).code == 125)
  }

  @Test("a hosted worker holds no descriptor of the daemon's: only 0, 1 and 2")
  func noLeakedDescriptor() throws {
    let (w, _) = Self.hostWorld()
    let (_, pid) = Self.worker(w, "w", "sleep:30:0")
    #expect(eventually("the worker runs its program") { readFile("/proc/\(pid)/comm") == "sleep\n" })
    #expect(openDescriptors(pid).keys.sorted() == [0, 1, 2])
    w.ok(["kill", "-KILL", "w"])
    _ = w.run(["wait", "--timeout", "20", "w"])
  }

  @Test("audit of a host's worker prints, after its mappings, the modules its forkctl-imports file names")
  func auditPrintsModules() throws {
    let (w, _) = Self.hostWorld()
    let id = w.ok(["fork", "--name", "w", "py"])
    // What a real host's import finder does in a worker, done here by eval in the fork.
    let code = "import os; fd = os.memfd_create('forkctl-imports'); os.write(fd, b'json\\njson.decoder\\n')"
    w.ok(["eval", "w", code])
    let r = w.run(["audit", id])
    #expect(r.code == 0, "\(r.stderr)")
    #expect(r.stdout.hasSuffix("imported after the fork:\njson\njson.decoder\n"), "\(r.stdout)")
  }

  @Test("an interpreter that is not executable fails exec clearly and starts nothing")
  func badInterpreter() {
    let w = World()
    let r = w.run(["exec", "--python", "--interpreter", "/etc/passwd"])
    #expect(r.code == 125)
    #expect(r.stderr == "forkctl: cannot start a python host: /etc/passwd is not an executable file\n")
    let missing = w.run(["exec", "--perl", "--interpreter", "no-such-perl-here"])
    #expect(missing.code == 125)
    #expect(missing.stderr == "forkctl: cannot start a perl host: no-such-perl-here is not in PATH\n")
  }

  @Test("a native template refuses eval, saying what eval needs")
  func nativeRefusesEval() {
    let w = World()
    let id = w.ok(["exec", "--name", "t"])
    let r = w.run(["eval", "t", "x = 1"])
    #expect(r.code == 125)
    #expect(
      r.stderr
        == "forkctl: cannot eval in process \(id) (t): process \(id) is a native template, which runs no interpreter: "
        + "eval needs a template made with exec --python or --perl\n")
  }
}
