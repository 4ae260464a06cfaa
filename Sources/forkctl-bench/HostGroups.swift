// The groups of issue 14: language hosts against what Python and Perl programmers use today.
// Python's side is Scripts/bench.d/python-hosts.py (self-timed, or printing `value` lines);
// Perl's is Scripts/bench.d/anyevent-fork.pl and Scripts/bench.d/forkctl-perl.pl.
import ForkctlSys

extension Groups {
  /// Debian's python3, whose python3-numpy Scripts/bench installs: another python3 first on
  /// PATH (a pyenv shim) may lack numpy or be another version.
  var python: String { Sys.isExecutableFile("/usr/bin/python3") ? "/usr/bin/python3" : runner.lookUp("python3") }

  var pythonHosts: [String] { [python, o.scripts + "/python-hosts.py"] }

  func pythonWorkers() -> Group {
    let (server, fork) = ("multiprocessing forkserver", "multiprocessing fork context")
    let (fromPython, fromShell) = ("forkctl Python host, from Python", "forkctl spawn --call, from a shell")
    let floor = "floor: os.fork, os._exit, waitpid"
    let template = "bench-python"
    // The shell's template: made and loaded once here; the loop spawns from it.
    runner.expectStatus(
      "forkctl exec --python", 0,
      [o.forkctl, "exec", "--python", "--interpreter", python, "--name", template])
    runner.expectStatus("forkctl load", 0, [o.forkctl, "load", template, "numpy", "pybench"])
    var g = timedGroup(
      "Python workers: start + join of a trivial function, numpy preloaded",
      notes: [
        "multiprocessing: set_forkserver_preload([\"numpy\", \"pybench\"]) (and PYTHONPATH, as 3.11's",
        "  forkserver ignores the sys.path it is given: gh-98552), then Process(target=pybench.noop)",
        "  start() + join(); the fork context from a process that imported numpy",
        "forkctl: forkctl.Template(preload=[\"numpy\", \"pybench\"]) once (python/), then",
        "  Process(target=\"pybench:noop\") start() + join(); or `forkctl spawn --from T --call",
        "  pybench:noop` in a bash loop against a template that loaded both",
        "floor: no start method, no report: a process that imported numpy and pybench forks, the",
        "  child calls os._exit(0), the parent waits; no way of making a worker per call beats it",
      ],
      [
        Contender(label: server, command: pythonHosts + ["forkserver", "{N}"]),
        Contender(label: fork, command: pythonHosts + ["fork", "{N}"]),
        Contender(label: fromPython, command: pythonHosts + ["forkctl", "{N}"]),
        shellLoop(fromShell, [o.forkctl, "spawn", "--from", template, "--call", "pybench:noop"]),
        Contender(label: floor, command: pythonHosts + ["bare", "{N}"]),
      ])
    g.rows += [
      .rateRatio("forkctl (Python) / forkserver", numerator: fromPython, denominator: server, .atLeast(5)),
      .rateRatio("forkctl (shell) / forkserver", numerator: fromShell, denominator: server, nil),
      .rateRatio("forkctl (Python) / fork context", numerator: fromPython, denominator: fork, nil),
      .rateRatio("floor / forkserver", numerator: floor, denominator: server, nil),
      .rateRatio("forkctl (Python) / floor", numerator: fromPython, denominator: floor, nil),
    ]
    runner.expectStatus("forkctl kill", 0, [o.forkctl, "kill", "-KILL", template])
    return g
  }

  func pythonSharing() -> Group {
    let (mb, n) = (o.pythonMB, Sharing.workers)
    var g = Group(
      "Python sharing: \(mb) MB of objects preloaded, \(n) workers, proportional memory (Pss + SwapPss)",
      "one measurement per row")
    g.note("a template imports pybench, which builds \(mb) MB of small lists ([int, str]); \(n) workers")
    g.note("forked from it each then either read every object (iterate: each reference count is")
    g.note("written) or allocate and run gc.collect() without reading them (collect), and stay alive")
    g.note("while the template's and their smaps_rollup are read. forkserver: multiprocessing's, with")
    g.note("the same preload; forkctl: a Python host, whose loads end with gc.collect() + gc.freeze()")
    for mode in ["iterate", "collect"] {
      let server = runner.measureCommand(pythonHosts + ["share-forkserver", "\(mb)", "\(n)", mode])
      let host = runner.measureCommand(pythonHosts + ["share-forkctl", "\(mb)", "\(n)", mode])
      let (s, h) = (server.value("pss_kb"), host.value("pss_kb"))
      let ratio = Format.fixed(Double(h) / Double(s), 2)
      g.rows += [
        .value(
          "\(mode): forkserver + \(n) workers", Double(s), text: Format.fixed(Double(s) / 1024, 0), unit: "MB", nil),
        .value(
          "\(mode): forkctl host + \(n) workers", Double(h), text: Format.fixed(Double(h) / 1024, 0), unit: "MB", nil),
        .value(
          "\(mode): forkctl / forkserver", Double(ratio)!, text: ratio, unit: "x",
          mode == "iterate" ? .atMost(0.5) : nil),
      ]
    }
    return g
  }

  func perlWorkers() -> Group {
    let ae = "AnyEvent::Fork $t->fork->run"
    let host = "forkctl Perl host, spawn --call from Perl"
    let floor = "floor: fork, POSIX::_exit, waitpid"
    var g = timedGroup(
      "Perl workers: a trivial function called in a worker of a preloaded template",
      notes: [
        "AnyEvent::Fork: $t = new->require(\"BenchWorker\") once; then $t->fork->run(\"BenchWorker::f\")",
        "  and wait until the socket closes (f returned, the process exited)",
        "forkctl: a Perl host template (exec --perl) loaded BenchWorker once; then one spawn request",
        "  calling BenchWorker::f, answered when the worker has exited (Scripts/bench.d/forkctl-perl.pl)",
        "floor: a perl that required BenchWorker forks, the child calls POSIX::_exit(0), the parent",
        "  waits: no template that forks a perl per worker beats it",
      ],
      [
        Contender(label: ae, command: anyEventFork + ["run", "{N}"]),
        Contender(label: host, command: [runner.lookUp("perl"), o.scripts + "/forkctl-perl.pl", "call", "{N}"]),
        Contender(label: floor, command: [runner.lookUp("perl"), o.scripts + "/forkctl-perl.pl", "bare", "{N}"]),
      ])
    g.rows += [
      .rateRatio("forkctl Perl host / AnyEvent::Fork", numerator: host, denominator: ae, .atLeast(1.5)),
      .rateRatio("floor / AnyEvent::Fork", numerator: floor, denominator: ae, nil),
      .rateRatio("forkctl Perl host / floor", numerator: host, denominator: floor, nil),
    ]
    return g
  }
}
