// Issue 14 with a real interpreter: the Python host (Hosts/python/forkctl_host.py) started by
// `forkctl exec --python`, its modules loaded and its code evaluated, its functions called in
// workers it forks and reports to the daemon (Tests/Fixtures/hosts/pyhost_fixture.py). The
// host's own behaviour, frame by frame, is tested against a fake daemon by
// Tests/Fixtures/hosts/test_python_host.py.
import ForkctlSys
import Glibc
import Testing

/// Tests/Fixtures/hosts: the modules the Python host's tests load and call.
let hostFixtures: String = {
  var path = #filePath
  for _ in 0..<2 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Fixtures/hosts"
}()

@Suite struct PythonHostTests {
  /// A world whose scripts start in the fixtures' directory, so that `load` finds them.
  func world() throws -> World {
    try requireProgram(python3Binary, package: "python3")
    let w = World()
    // No __pycache__ beside the fixtures.
    w.extraEnvironment = ["PYTHONDONTWRITEBYTECODE=1"]
    return w
  }

  /// The start of a script: a Python host named py, in the fixtures' directory, with `modules` loaded.
  func start(_ w: World, _ modules: String = "pyhost_fixture") -> String {
    """
    cd '\(hostFixtures)' || exit 99
    $F exec --python --name py >/dev/null || exit 90
    $F load py \(modules) || exit 91

    """
  }

  @Test(
    """
    call runs module:function in a worker of the Python host with the descriptors and strings sent, \
    then its own; an int it returns is the status
    """
  )
  func callWithDescriptorsAndStrings() throws {
    let w = try world()
    let r = w.script(
      start(w)
        + """
        wk=$($F fork py) || exit 92
        $F send-fd "$wk" 0 1 2 || exit 93
        $F send-arg "$wk" 1 hello || exit 94
        $F call --wait "$wk" -- pyhost_fixture:write world || exit 95
        echo
        exec $F spawn --from py --call pyhost_fixture:Greeter.greet -- 1 you
        """)
    #expect(r.code == 4, "stderr: \(r.stderr)")
    #expect(r.stdout == "hello world\nhello you", "stderr: \(r.stderr)")
  }

  @Test("list names a Python host's role python-host, in the table and in --json")
  func listedRole() throws {
    let w = try world()
    let r = w.script(
      """
      $F exec --python --name py >/dev/null || exit 90
      $F list | awk '$2 == "py" { print $3 }'
      $F list --json | tr '{' '\\n' | grep -o '"name":"py","role":"[a-z-]*"'
      """)
    #expect(r.code == 0, "stderr: \(r.stderr)")
    #expect(r.stdout == "python-host\n\"name\":\"py\",\"role\":\"python-host\"\n", "stderr: \(r.stderr)")
  }

  @Test(
    """
    call of a module that cannot be imported fails with 127 and says where the reason is; the \
    ImportError is on the worker's stderr
    """
  )
  func callOfAModuleThatCannotBeImported() throws {
    let w = try world()
    let r = w.script(
      start(w)
        + """
        wk=$($F fork py) || exit 92
        $F send-fd "$wk" 2=2 || exit 93
        $F call --wait "$wk" -- no_such_module_here:fn
        """)
    #expect(r.code == 127, "stderr: \(r.stderr)")
    #expect(r.stderr.contains("No module named 'no_such_module_here'"), "stderr: \(r.stderr)")
    #expect(
      r.stderr.contains(
        "cannot call no_such_module_here:fn in process "), "stderr: \(r.stderr)")
    #expect(
      r.stderr.contains(
        "its module cannot be imported there or does not define it (the worker's stderr says which)")
        && !r.stderr.contains("()"), "stderr: \(r.stderr)")
  }

  @Test("exit codes: an int returned, sys.exit, an exception (traceback on stderr, 1), a signal")
  func exitCodes() throws {
    let w = try world()
    #expect(w.script(start(w)).code == 0)
    #expect(w.run(["spawn", "--from", "py", "--call", "pyhost_fixture:exit_with", "--", "7"]).code == 7)
    #expect(w.run(["spawn", "--from", "py", "--call", "pyhost_fixture:leave", "--", "3"]).code == 3)
    #expect(w.run(["spawn", "--from", "py", "--call", "pyhost_fixture:say", "--", "fine"]).stdout == "fine\n")
    let failed = w.run(["spawn", "--from", "py", "--call", "pyhost_fixture:fail"])
    #expect(failed.code == 1)
    #expect(failed.stderr.contains("Traceback (most recent call last)"), "\(failed.stderr)")
    #expect(failed.stderr.contains("ValueError: boom from the worker"), "\(failed.stderr)")
    let killed = w.run(["spawn", "--from", "py", "--call", "pyhost_fixture:die", "--", "\(SIGTERM)"])
    #expect(killed.code == 128 + SIGTERM, "\(killed.stderr)")
    let missing = w.run(["spawn", "--from", "py", "--call", "pyhost_fixture:no_such_function"])
    #expect(missing.code == 127, "\(missing.stderr)")
    let worker = w.ok(["fork", "py"])
    let missingCall = w.run(["call", "--wait", worker, "--", "no_such_module:f"])
    #expect(missingCall.code == 127, "\(missingCall.stderr)")
  }

  @Test("load imports modules with the init given its ARGs; its errors are refused with the reason")
  func loadAndEval() throws {
    let w = try world()
    let r = w.script(
      """
      cd '\(hostFixtures)' || exit 99
      $F exec --python --name py >/dev/null || exit 90
      $F load py pyhost_fixture --init init -- a b || exit 91
      $F eval py 'import sys
      ARGV = sys.argv[:]
      def show():
          print(ARGV)' x y || exit 92
      $F spawn --from py --call pyhost_fixture:write_loaded -- 1 || exit 93
      echo
      exec $F spawn --from py --call __main__:show
      """)
    #expect(r.code == 0, "stderr: \(r.stderr)")
    #expect(r.stdout == "['a', 'b']\n['-c', 'x', 'y']\n", "stderr: \(r.stderr)")
    let absent = w.run(["load", "py", "no_such_module"])
    #expect(absent.code != 0 && absent.stderr.contains("No module named 'no_such_module'"), "\(absent.stderr)")
    let broken = w.script("cd '\(hostFixtures)' && exec $F load py pyhost_broken")
    #expect(broken.code != 0 && broken.stderr.contains("RuntimeError: broken at import"), "\(broken.stderr)")
    let bad = w.run(["eval", "py", "def ("])
    #expect(bad.code != 0 && bad.stderr.contains("SyntaxError"), "\(bad.stderr)")
    w.ok(["exec", "--name", "native"])
    let native = w.run(["eval", "native", "pass"])
    #expect(native.code != 0 && native.stderr.contains("native template"), "\(native.stderr)")
  }

  @Test("a worker whose host was killed while it ran still has its exact status")
  func statusAfterTheHostDied() throws {
    let w = try world()
    let go = w.dir + "/go"
    let r = w.script(
      start(w)
        + """
        wk=$($F fork py) || exit 92
        $F call "$wk" -- pyhost_fixture:await_file '\(go)' 5 || exit 93
        $F kill -s KILL py || exit 94
        touch '\(go)'
        exec $F wait --print "$wk"
        """)
    #expect(r.code == 5, "stderr: \(r.stderr)")
    #expect(r.stdout.hasSuffix(" 5\n"), "stdout: \(r.stdout) stderr: \(r.stderr)")
    // The daemon answers for a child while it is a zombie and reaps it right after.
    #expect(eventually("no zombie of the daemon") { zombieChildren(of: w.daemonPID).isEmpty })
  }

  @Test("a module that starts a thread when imported makes the host refuse to fork, naming its threads")
  func threadRefusal() throws {
    let w = try world()
    let load = w.script(
      "cd '\(hostFixtures)' && $F exec --python --name py >/dev/null && exec $F load py pyhost_threads")
    #expect(load.code == 0, "\(load.stderr)")
    #expect(load.stderr.contains("2 threads"), "\(load.stderr)")
    let fork = w.run(["fork", "py"])
    #expect(fork.code == 125)
    #expect(fork.stderr.contains("has 2 threads (forkctl/object, ticker); forking it is unsafe"), "\(fork.stderr)")
    let spawn = w.run(["spawn", "--from", "py", "--call", "pyhost_fixture:say"])
    #expect(spawn.code == 125 && spawn.stderr.contains("2 threads"), "\(spawn.stderr)")
  }

  @Test("audit lists the modules a worker imported after its fork")
  func auditImports() throws {
    let w = try world()
    let mark = w.dir + "/imported"
    let go = w.dir + "/go"
    let r = w.script(
      start(w)
        + """
        wk=$($F fork py) || exit 92
        $F call "$wk" -- pyhost_fixture:import_late_and_await '\(mark)' '\(go)' || exit 93
        while [ ! -e '\(mark)' ]; do sleep 0.01; done
        $F audit "$wk"; s=$?
        touch '\(go)'
        $F wait "$wk" >/dev/null
        exit $s
        """)
    #expect(r.code == 0, "stderr: \(r.stderr)")
    let after = r.stdout.split(separator: "\n").drop { $0 != "imported after the fork:" }.map(String.init)
    #expect(after.count > 1, "audit printed: \(r.stdout)")
    #expect(after.contains { $0.contains("colorsys") }, "audit printed: \(r.stdout)")
    #expect(!after.contains { $0.contains("pyhost_fixture") }, "loaded before the fork: \(r.stdout)")
  }

  @Test("numpy loads into the Python host, which stays single-threaded, and a worker calls it")
  func numpy() throws {
    let w = try world()
    try requireNumpy(w)
    let r = w.script(start(w, "numpy pyhost_fixture") + "exec $F spawn --from py --call pyhost_fixture:numpy_sum -- 10")
    #expect(r.code == 0 && r.stdout == "45\n", "stderr: \(r.stderr)")
    // forkctl load says when a template has threads after loading: it has one.
    #expect(!r.stderr.contains("threads"), "stderr: \(r.stderr)")
  }

  /// numpy for /usr/bin/python3: installed from Debian (python3-numpy) by Scripts/setup when missing.
  func requireNumpy(_ w: World) throws {
    let check = "\(python3Binary) -c 'import numpy'"
    if w.script(check).code != 0 {
      let root = String(hostFixtures.dropLast("/Tests/Fixtures/hosts".count))
      w.script("'\(root)/Scripts/setup' python3-numpy")
    }
    try #require(w.script(check).code == 0, "numpy is missing: Scripts/setup python3-numpy installs it")
  }

  @Test("a pool of Python workers calls module:function; each says READY=1 through forkctl_host.notify")
  func pool() throws {
    let w = try world()
    let log = w.dir + "/log"
    #expect(w.script(start(w)).code == 0)
    let made = w.run([
      "pool", "create", "pp", "--from", "py", "--start", "2", "--min-idle", "0", "--max-idle", "2", "--max", "2",
      "--call", "pyhost_fixture:pool_worker", "--", log,
    ])
    try #require(made.code == 0, "pool create: \(made.stderr)")
    func idle() -> Int {
      let r = w.run(["pool", "status", "pp", "--json"])
      let pools = (JSON.values(r.stdout) ?? []).flatMap { $0.array ?? [$0] }
      return pools.first { $0["name"]?.string == "pp" }.map(PoolInfo.init)?.workers(in: "idle").count ?? 0
    }
    #expect(
      eventually("both workers report READY=1") { idle() == 2 },
      "pool status: \(w.run(["pool", "status", "pp"]).stdout)")
    let lines = readFile(log).split(separator: "\n")
    #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("worker ") && $0.contains(" pp ") }, "\(lines)")
    #expect(w.run(["pool", "stop", "pp"]).code == 0)
  }
}
