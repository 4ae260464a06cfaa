// Issue 14 with the real binary: a Perl host (Hosts/perl/forkctl_host.pl) started by
// `forkctl exec --perl`, its modules required once, its functions called in workers it forks
// with Perl's fork, their statuses reported through it (childEnded) or, when it is killed,
// reaped by the daemon. The modules are Tests/Fixtures/hosts/perl-lib, found through PERL5LIB,
// which the client's environment gives the host. Needs perl and libsocket-msghdr-perl
// (Scripts/setup installs it). Tests/Fixtures/hosts/test_perl_host.py drives the host alone.
import ForkctlSys
import Glibc
import Testing

/// Tests/Fixtures/hosts/perl-lib: the modules the Perl host's tests load.
let perlFixtures: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/PerlHostTests.swift
  for _ in 0..<2 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Fixtures/hosts/perl-lib"
}()

@Suite struct PerlHostTests {
  /// A world whose clients give their hosts the fixtures' modules.
  func world() -> World {
    let w = World()
    w.extraEnvironment = ["PERL5LIB=\(perlFixtures)"]
    return w
  }

  @Test(
    """
    exec --perl, load with an init, eval, then a call gets descriptors, the strings sent and its own, \
    and spawn --from --call runs a function eval defined
    """
  )
  func loadEvalCall() {
    let w = world()
    let r = w.script(
      """
      $F exec --perl --name pl >/dev/null || exit 90
      $F load --init init pl ForkctlPerlTest -- alpha beta || exit 91
      $F eval pl 'our @saved = @ARGV; sub greet { print "hello @saved @_\\n"; 0 }' from eval || exit 92
      w=$($F fork pl) || exit 93
      $F send-fd "$w" 0 1 2 || exit 94
      $F send-arg "$w" one || exit 95
      $F call --wait "$w" -- ForkctlPerlTest::echo two 'three four' || exit 96
      exec $F spawn --from pl --call greet -- there
      """)
    #expect(r.code == 0, "stderr: \(r.stderr)")
    #expect(
      r.stdout == "arg:one\narg:two\narg:three four\ninit:alpha\ninit:beta\nhello from eval there\n",
      "stderr: \(r.stderr)")
  }

  @Test("list names a Perl host's role perl-host, in the table and in --json; its fork is a template")
  func listedRole() {
    let r = world().script(
      """
      $F exec --perl --name pl >/dev/null || exit 90
      w=$($F fork pl) || exit 91
      $F list | awk -v w="$w" '$2 == "pl" || $1 == w { print $3 }'
      $F list --json | tr '{' '\\n' | grep -o '"name":"pl","role":"[a-z-]*"'
      """)
    #expect(r.code == 0, "stderr: \(r.stderr)")
    #expect(r.stdout == "perl-host\ntemplate\n\"name\":\"pl\",\"role\":\"perl-host\"\n", "stderr: \(r.stderr)")
  }

  @Test(
    """
    exec of a host whose interpreter cannot run it fails, naming the interpreter and how it ended, \
    and leaves no process object
    """
  )
  func hostThatCannotStart() {
    let r = world().script(
      """
      $F exec --perl --interpreter /bin/false --name pl; echo "perl:$?"
      $F exec --python --interpreter /bin/true --name py; echo "python:$?"
      $F list | tail -n +2 | grep -c -e ' pl ' -e ' py '
      """)
    #expect(r.stdout == "perl:125\npython:125\n0\n", "stderr: \(r.stderr)")
    #expect(
      r.stderr.contains(
        "cannot start a perl host with /bin/false: it exited with status 1 before it served"),
      "stderr: \(r.stderr)")
    #expect(
      r.stderr.contains("cannot start a python host with /bin/true: it exited with status 0 before it served"),
      "stderr: \(r.stderr)")
  }

  @Test("a call reads a descriptor sent to a fixed number")
  func callWithDescriptor() {
    let w = world()
    let r = w.script(
      """
      $F exec --perl --name pl >/dev/null && $F load pl ForkctlPerlTest || exit 90
      w=$($F fork pl) && $F send-fd "$w" 0 1 2 || exit 91
      echo 'through 7' > "$HOME/in" && $F send-fd "$w" 7=0 < "$HOME/in" || exit 92
      exec $F call --wait "$w" -- ForkctlPerlTest::copy_from 7
      """)
    #expect(r.code == 0, "stderr: \(r.stderr)")
    #expect(r.stdout == "through 7\n", "stderr: \(r.stderr)")
  }

  @Test("a function's number is its status, undef 0, exit n is n, and die prints its message and is 1")
  func exitStatuses() {
    let w = world()
    let r = w.script(
      """
      $F exec --perl --name pl >/dev/null && $F load pl ForkctlPerlTest || exit 90
      $F spawn --from pl --call ForkctlPerlTest::returns -- 7; echo "returns $?"
      $F spawn --from pl --call ForkctlPerlTest::returns -- 300; echo "300 $?"
      $F spawn --from pl --call ForkctlPerlTest::returns_nothing; echo "nothing $?"
      $F spawn --from pl --call ForkctlPerlTest::exits -- 5; echo "exits $?"
      $F spawn --from pl --call ForkctlPerlTest::dies 2>"$HOME/err"; echo "dies $?"; cat "$HOME/err"
      """)
    #expect(r.stdout == "returns 7\n300 44\nnothing 0\nexits 5\ndies 1\nworker failed on purpose\n", "\(r.stderr)")
  }

  @Test("a function the template does not define fails the call, as a missing symbol does; nothing runs")
  func missingFunction() {
    let w = world()
    w.ok(["exec", "--perl", "--name", "pl"])
    w.ok(["load", "pl", "ForkctlPerlTest"])
    let r = w.run(["spawn", "--from", "pl", "--call", "ForkctlPerlTest::no_such_function"])
    #expect(r.code != 0)
    #expect(r.stderr.contains("ForkctlPerlTest::no_such_function"), "\(r.stderr)")
  }

  @Test("load and eval errors carry Perl's message; the host serves on")
  func loadAndEvalErrors() {
    let w = world()
    w.ok(["exec", "--perl", "--name", "pl"])
    let missing = w.run(["load", "pl", "No::Such::Module"])
    #expect(missing.code != 0 && missing.stderr.contains("Can't locate No/Such/Module.pm"), "\(missing.stderr)")
    let dies = w.run(["eval", "pl", "die \"no good\\n\""])
    #expect(dies.code != 0 && dies.stderr.contains("no good"), "\(dies.stderr)")
    let badInit = w.run(["load", "--init", "broken_init", "pl", "ForkctlPerlTest"])
    #expect(badInit.code != 0 && badInit.stderr.contains("the init refuses"), "\(badInit.stderr)")
    #expect(w.run(["spawn", "--from", "pl", "--call", "ForkctlPerlTest::returns", "--", "4"]).code == 4)
  }

  @Test("eval in a native template is refused: it runs no interpreter")
  func evalInNativeTemplate() {
    let w = world()
    w.ok(["exec", "--name", "native"])
    let r = w.run(["eval", "native", "1"])
    #expect(r.code != 0)
    #expect(r.stderr.contains("native template, which runs no interpreter"), "\(r.stderr)")
  }

  @Test("workers keep their exact statuses, code and signal, when their Perl host is killed")
  func statusesAfterHostDies() throws {
    let w = world()
    let go = w.dir + "/go"
    let t = w.ok(["exec", "--perl", "--name", "pl"])
    w.ok(["load", "pl", "ForkctlPerlTest"])
    let a = w.ok(["fork", "pl"])
    let b = w.ok(["fork", "pl"])
    #expect(w.run(["call", a, "--", "ForkctlPerlTest::await_file", go, "7"]).code == 0)
    #expect(w.run(["call", b, "--", "ForkctlPerlTest::crash"]).code == 0)
    // b's end goes through the host, which is alive: its childEnded report.
    #expect(w.run(["wait", "--print", b]).stdout == "\(b) \(128 + SIGSEGV)\n")
    let host = w.pid(of: t)
    kill(host, SIGKILL)
    #expect(eventually("host gone") { !isAlive(host) })
    let worker = w.pid(of: a)
    #expect(eventually("worker adopted") { statFields(worker).map { Int32($0[1]) } == w.daemonPID })
    writeFile(go, "")
    #expect(w.run(["wait", "--print", a]).stdout == "\(a) 7\n")
    #expect(eventually("no zombie") { zombieChildren(of: w.daemonPID).isEmpty })
  }

  @Test("kill reaches a Perl host's worker, and wait reports the signal")
  func killWorker() {
    let w = world()
    w.ok(["exec", "--perl", "--name", "pl"])
    w.ok(["load", "pl", "ForkctlPerlTest"])
    let a = w.ok(["fork", "pl"])
    #expect(w.run(["call", a, "--", "ForkctlPerlTest::await_file", w.dir + "/never", "0"]).code == 0)
    w.ok(["kill", "-TERM", a])
    #expect(w.run(["wait", "--print", a]).stdout == "\(a) \(128 + SIGTERM)\n")
  }

  @Test("audit names the modules a worker required after its fork")
  func auditPostForkRequires() {
    let w = world()
    let go = w.dir + "/go"
    w.ok(["exec", "--perl", "--name", "pl"])
    w.ok(["load", "pl", "ForkctlPerlTest"])
    let a = w.ok(["fork", "pl"])
    #expect(w.run(["call", a, "--", "ForkctlPerlTest::require_late_and_await", go]).code == 0)
    var audit = ""
    #expect(
      eventually("both requires recorded") {
        audit = w.ok(["audit", a])
        return audit.contains("ForkctlPerlTest::Late")
      })
    let imported = audit.split(separator: "\n", omittingEmptySubsequences: false).drop {
      $0 != "imported after the fork:"
    }
    #expect(
      imported.dropFirst().map { $0.trimmingCharacters(in: " ") } == ["Text::Abbrev", "ForkctlPerlTest::Late"],
      "\(audit)")
    writeFile(go, "")
    #expect(w.run(["wait", "--print", a]).stdout == "\(a) 0\n")
  }

  @Test("a pool calls a Perl function in each worker, which reports through Forkctl::Host::notify")
  func poolWithCall() {
    let w = world()
    w.ok(["exec", "--perl", "--name", "pl"])
    w.ok(["load", "pl", "ForkctlPerlTest"])
    w.ok(["pool", "create", "perls", "--from", "pl", "--start", "2", "--call", "ForkctlPerlTest::pool_worker", "x"])
    var status = ""
    let reported = eventually("both workers reported") {
      status = w.ok(["pool", "status", "perls"])
      return status.split(separator: "\n").filter { $0.hasSuffix(" of perls x") }.count == 2
    }
    // Each worker's STATUS= line: its id (FORKCTL_WORKER), its pool, the call's argument.
    #expect(reported, "\(status)")
    for line in status.split(separator: "\n") where line.hasSuffix(" of perls x") {
      let fields = line.split(separator: " ")
      #expect(line.hasSuffix("perl worker \(fields[0]) of perls x"), "\(status)")
    }
    w.ok(["pool", "stop", "perls"])
  }

  @Test("a Perl host whose module started a thread refuses to fork, naming its threads")
  func threadRefusal() {
    let w = world()
    w.ok(["exec", "--perl", "--name", "pl"])
    let load = w.run(["load", "pl", "ForkctlPerlThreads"])
    #expect(load.code == 0 && load.stderr.contains("2 threads"), "\(load.stderr)")
    let fork = w.run(["fork", "pl"])
    #expect(fork.code != 0)
    #expect(fork.stderr.contains("has 2 threads (forkctl/object, "), "\(fork.stderr)")
  }
}

extension Substring {
  fileprivate func trimmingCharacters(in set: String) -> String {
    String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
  }
}
