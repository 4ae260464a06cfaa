// Issue 12 with real processes: a library loaded into a template, its functions called in
// workers made by glibc's fork and adopted by the daemon (Tests/Fixtures/libraries/worker.c).
import ForkctlSys
import Glibc
import Testing

/// Tests/Fixtures/libraries/worker.c, built; nil when it did not build.
let workerLibrary = buildLibrary("worker")

@Suite struct FunctionWorkerTests {
  func library() throws -> String { try #require(workerLibrary, "the test library did not build") }

  @Test(
    """
    a function called in a worker gets argv (name, strings sent, ARGs), descriptors, env and cwd; \
    its return is the status
    """
  )
  func loadAndCall() throws {
    let lib = try library()
    let w = World()
    let r = w.script(
      """
      cd /tmp || exit 99
      t=$($F exec --name scorer) || exit 90
      $F load scorer '\(lib)' -- model.bin || exit 91
      w=$($F fork scorer) || exit 92
      $F send-fd "$w" 0 1 2 || exit 93
      $F send-arg "$w" sent || exit 94
      FOO=bar $F call --wait "$w" -- show a 'b c'
      """)
    #expect(r.code == 4, "stderr: \(r.stderr)")
    #expect(r.stdout == "model=model.bin argv=show|sent|a|b c FOO=bar cwd=/tmp fds=0,1,2\n", "\(r.stderr)")
  }

  @Test("a call with --keep-control finds its control socket through forkctl.h")
  func keepControl() throws {
    let lib = try library()
    let w = World()
    let r = w.script(
      """
      $F exec --name t >/dev/null && $F load t '\(lib)' || exit 90
      w=$($F fork t) && $F send-fd "$w" 0 1 2 && exec $F call --wait --keep-control "$w" -- control
      """)
    #expect(r.stdout == "control=3 socket=1\n", "\(r.stderr)")
  }

  @Test("spawn --from --call runs the function with the caller's stdio, environment and directory")
  func spawnCall() throws {
    let lib = try library()
    let w = World()
    let r = w.script(
      """
      $F exec --name t >/dev/null && $F load t '\(lib)' -- m || exit 90
      cd /usr && FOO=baz exec $F spawn --from t --call show -- x
      """)
    #expect(r.code == 2, "stderr: \(r.stderr)")
    #expect(r.stdout == "model=m argv=show|x FOO=baz cwd=/usr fds=0,1,2\n")
    #expect(w.run(["spawn", "--from", "t", "--call", "answer"]).code == 42)
  }

  @Test("spawn --call --tty always gives the function a terminal of its own; without it, none")
  func callWithTerminal() throws {
    let lib = try library()
    let w = World()
    w.ok(["exec", "--name", "t"])
    #expect(w.run(["load", "t", lib]).code == 0)
    let always = w.run(["spawn", "--tty=always", "--from", "t", "--call", "terminal"])
    #expect(always.code == 0 && always.stdout.hasPrefix("tty=/dev/pts/"), "\(always.stdout) \(always.stderr)")
    #expect(w.run(["spawn", "--from", "t", "--call", "terminal"]).stdout == "tty=none\n")
  }

  @Test("a worker is a glibc fork: the atfork child handler ran, its thread id is its own, the daemon is its parent")
  func realFork() throws {
    let lib = try library()
    let w = World()
    let r = w.script("$F exec --name t >/dev/null && $F load t '\(lib)' && exec $F spawn --from t --call identity")
    #expect(r.code == 0, "stderr: \(r.stderr)")
    #expect(r.stdout == "atfork=1 tid=1 clock=1 ppid=\(w.daemonPID)\n")
  }

  @Test("a robust mutex held by a worker that died is EOWNERDEAD in its sibling")
  func robustMutex() throws {
    let lib = try library()
    let w = World()
    let r = w.script(
      """
      $F exec --name t >/dev/null && $F load t '\(lib)' -- m robust || exit 90
      $F spawn --from t --call lock_and_die; echo "died $?"
      exec $F spawn --from t --call take_lock
      """)
    #expect(r.stdout == "died 3\nEOWNERDEAD\n", "stderr: \(r.stderr)")
  }

  @Test("workers keep their exact statuses, code and signal, when their template is killed")
  func statusesAfterTemplateDies() throws {
    let lib = try library()
    let w = World()
    let go = w.dir + "/go"
    let t = w.ok(["exec", "--name", "t"]).trimmingTrailingSpaces().filter { $0 != "\n" }
    #expect(w.run(["load", "t", lib]).code == 0)
    let a = w.ok(["fork", "t"]).filter { $0 != "\n" }
    let b = w.ok(["fork", "t"]).filter { $0 != "\n" }
    #expect(w.run(["call", a, "--", "await_file", go]).code == 0)
    #expect(w.run(["call", b, "--", "crash"]).code == 0)
    let template = w.pid(of: t)
    kill(template, SIGKILL)
    #expect(eventually("template gone") { !isAlive(template) })
    let worker = w.pid(of: a)
    #expect(statFields(worker).map { Int32($0[1]) } == w.daemonPID)
    writeFile(go, "")
    #expect(w.run(["wait", "--print", a, b]).stdout == "\(a) 7\n\(b) \(128 + SIGSEGV)\n")
    #expect(eventually("no zombie") { zombieChildren(of: w.daemonPID).isEmpty })
  }

  @Test("a handler the init installed stays in the worker, while forkctl's own are reset as exec would")
  func signalActions() throws {
    let lib = try library()
    let w = World()
    w.ok(["exec", "--name", "h"])
    #expect(w.run(["load", "h", lib, "--", "m", "handler"]).code == 0)
    #expect(w.run(["spawn", "--from", "h", "--call", "usr1"]).code == 5)
    w.ok(["exec", "--name", "plain"])
    #expect(w.run(["load", "plain", lib]).code == 0)
    #expect(w.run(["spawn", "--from", "plain", "--call", "usr1"]).code == 128 + SIGUSR1)
    // The Swift runtime's crash handler of the template is not the worker's.
    #expect(w.run(["spawn", "--from", "plain", "--call", "crash"]).code == 128 + SIGSEGV)
  }

  @Test("loading fails with the loader's words, and leaves the template as it was")
  func loadFailures() throws {
    let lib = try library()
    let w = World()
    w.ok(["exec", "--name", "t"])
    let missing = w.run(["load", "t", w.dir + "/nope.so"])
    #expect(missing.code == 125)
    #expect(missing.stderr.contains("cannot open shared object file: No such file or directory"), "\(missing.stderr)")
    writeFile(w.dir + "/text.so", "not a library\n")
    let text = w.run(["load", "t", w.dir + "/text.so"])
    #expect(text.code == 125 && text.stderr.contains("text.so"), "\(text.stderr)")
    let noInit = w.run(["load", "--init", "no_such_init", "t", lib])
    #expect(noInit.code == 127 && noInit.stderr.contains("does not export no_such_init"), "\(noInit.stderr)")
    // The template still works.
    #expect(w.run(["load", "t", lib]).code == 0)
    #expect(w.run(["spawn", "--from", "t", "--call", "answer"]).code == 42)
  }

  @Test("an init that returns non-zero fails the load, and the template exits with its value")
  func initFails() throws {
    let lib = try library()
    let w = World()
    let t = w.ok(["exec"]).filter { $0 != "\n" }
    let r = w.run(["load", t, lib, "--", "m", "fail=3"])
    #expect(r.code == 125)
    #expect(r.stderr.contains("its init forkctl_init returned 3"), "\(r.stderr)")
    #expect(w.run(["wait", "--print", t]).stdout == "\(t) 3\n")
  }

  @Test("calls and loads in the wrong place are refused, and nothing runs")
  func refusals() throws {
    let lib = try library()
    let w = World()
    w.ok(["exec", "--name", "t"])
    let plain = w.ok(["fork", "t"]).filter { $0 != "\n" }
    let none = w.run(["call", plain, "--", "answer"])
    #expect(none.code == 125 && none.stderr.contains("it has loaded no library"), "\(none.stderr)")
    #expect(w.run(["load", "t", lib]).code == 0)
    let worker = w.ok(["fork", "t"]).filter { $0 != "\n" }
    let missing = w.run(["call", "--wait", worker, "--", "no_such_function"])
    #expect(missing.code == 127 && missing.stderr.contains("no library it loaded exports it"), "\(missing.stderr)")
    let spawnMissing = w.run(["spawn", "--from", "t", "--call", "no_such_function"])
    #expect(spawnMissing.code == 127, "\(spawnMissing.stderr)")
    w.ok(["new"])
    let intoDefault = w.run(["load", "default", lib])
    #expect(intoDefault.code == 125 && intoDefault.stderr.contains("default template"), "\(intoDefault.stderr)")
    let ran = w.ok(["fork", "t"]).filter { $0 != "\n" }
    #expect(w.run(["call", "--wait", ran, "--", "answer"]).code == 42)
    let intoRun = w.run(["load", ran, lib])
    #expect(intoRun.code == 125 && intoRun.stderr.contains("it has exited"), "\(intoRun.stderr)")
  }

  @Test("a template whose init started a thread says so, and refuses to fork, naming its threads")
  func threadGuard() throws {
    let lib = try library()
    let w = World()
    w.ok(["exec", "--name", "t"])
    let load = w.run(["load", "--init", "start_thread", "t", lib])
    #expect(load.code == 0)
    #expect(load.stderr == "forkctl: t has 2 threads after loading (forkctl/object, ticker); it will refuse to fork\n")
    let fork = w.run(["fork", "t"])
    #expect(fork.code == 125)
    #expect(fork.stderr.contains("has 2 threads (forkctl/object, ticker); forking it is unsafe"), "\(fork.stderr)")
    let spawn = w.run(["spawn", "--from", "t", "--call", "answer"])
    #expect(spawn.code == 125 && spawn.stderr.contains("2 threads"), "\(spawn.stderr)")
    #expect(w.run(["list"]).code == 0)
  }
}
