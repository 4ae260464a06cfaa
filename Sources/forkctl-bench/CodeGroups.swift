// The groups of issue 12: code loaded into a template (Code.swift measures them).
extension Groups {
  func sharing() -> Group {
    let (mb, n) = (o.shareMB, Sharing.workers)
    let title = "sharing: a template's data read by \(n) workers, proportional memory (Pss + SwapPss)"
    var g = Group(title, "\(mb) MB, one measurement")
    let r = runner.measure(
      ["sharing", "--share-mb", "\(mb)", "--library", o.library, "--host", o.host] + daemon)
    g.note("forkctl: a template loads Scripts/bench.d/library.c, whose init writes \(mb) MB; \(n) workers")
    g.note("  forked from it (fork, send-fd, call share_read) each read all of it and stay alive while")
    g.note("  the template's and their smaps_rollup are read")
    g.note("independent: \(n) tiny C processes (bench-host) each dlopen the library, run its init and")
    g.note("  read the data; one at a time (the sum is the same: they share no data), the median is")
    g.note("  \"one process\"")
    let one = r.value("one_pss_kb")
    func megabytes(_ label: String, _ kb: Int) -> Row {
      .value(label, Double(kb), text: Format.fixed(Double(kb) / 1024, 1), unit: "MB", nil)
    }
    func times(_ label: String, _ kb: Int, _ target: Target?) -> Row {
      let ratio = Format.fixed(Double(kb) / Double(one), 2)
      return .value(label, Double(ratio)!, text: ratio, unit: "x", target)
    }
    g.rows += [
      megabytes("one independent process", one),
      megabytes("forkctl: template + \(n) workers", r.value("forkctl_pss_kb")),
      megabytes("  the template alone, after", r.value("template_pss_kb")),
      megabytes("\(n) independent processes", r.value("independent_pss_kb")),
      times("forkctl / one process", r.value("forkctl_pss_kb"), .atMost(1.2)),
      times("independent / one process", r.value("independent_pss_kb"), nil),
    ]
    return g
  }

  func functionWorkers() -> Group {
    let ae = "AnyEvent::Fork $t->fork->run"
    let (forkCall, spawnCall) = ("forkctl fork + call --wait", "forkctl spawn --call + wait")
    let floor = "fork + _exit + waitpid (C)"
    let library = ["--library", o.library]
    var g = timedGroup(
      "function workers: a trivial function called in a worker of a preloaded template",
      notes: [
        "AnyEvent::Fork: $t = new->require(\"BenchWorker\") once; then $t->fork->run(\"BenchWorker::f\")",
        "  and wait until the socket closes (f returned, the process exited)",
        "forkctl: a template loaded Scripts/bench.d/library.c once; then ForkctlClient fork + call",
        "  (nothing, waitForExit: the reply comes when it has exited): 2 requests; or spawn(call:",
        "  nothing, from:) + wait(): 1 request",
        "floor: bench-host, a tiny C process, forks a child that calls _exit(0) and waits for it",
      ],
      [
        Contender(label: ae, command: anyEventFork + ["run", "{N}"]),
        Contender(label: forkCall, command: selfTimedLoop("fork-call") + library),
        Contender(label: spawnCall, command: selfTimedLoop("spawn-call") + library),
        Contender(label: floor, command: [o.host, "floor", "{N}"]),
      ])
    g.rows += [
      .rateRatio("fork + call / AnyEvent::Fork", numerator: forkCall, denominator: ae, .atLeast(2)),
      .rateRatio("spawn --call / AnyEvent::Fork", numerator: spawnCall, denominator: ae, .atLeast(2)),
      .rateRatio("fork + call / floor", numerator: forkCall, denominator: floor, .atLeast(0.5)),
      .rateRatio("spawn --call / floor", numerator: spawnCall, denominator: floor, .atLeast(0.5)),
    ]
    return g
  }
}
