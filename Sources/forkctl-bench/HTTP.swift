// Group "prefork HTTP" (issue 13): the same tiny C handler (Scripts/bench.d/http-handler.c)
// served by W prefork workers four ways, each on a listening socket of its own (127.0.0.1,
// backlog 1024) that this process makes and hands over at descriptor 3, under wrk on
// loopback at 1, 8 and 64 connections:
//   (a) floor      W handlers started here, sharing the listener;
//   (b) prefork    Parallel::Prefork (Scripts/bench.d/prefork.pl), max_workers W, each
//                  worker exec'ing the handler;
//   (c) gunicorn   `gunicorn -w W` sync workers and a WSGI app that answers the same
//                  (Scripts/bench.d/gunicorn_app.py): another handler, for reference;
//   (d) forkctl    a template with the listener sent to it (`forkctl exec`, `send-fd 3=3`)
//                  and `forkctl pool create --start W --min-idle 1 --max-idle W --max W`
//                  of the handler, whose idle count `pool status --json` reads after each
//                  run, once the load has ended; and the CPU time the daemon spent per
//                  request during the run (it reads two datagrams a request, BUSY=1 and
//                  IDLE=1), from /proc/PID/stat.
// Every contender runs at once, idle in accept(2) between its runs; the runs go round-robin
// (the first contender rotates each round), R rounds of every level.
import ForkctlSys
import Glibc

enum HTTP {
  static let levels = [1, 8, 64]
  /// Result keys, in the order the rows print: the contenders.
  static let floor = "floor"
  static let prefork = "prefork"
  static let gunicorn = "gunicorn"
  static let forkctl = "forkctl"
  /// The names of (d)'s template and pool in the shared private daemon.
  static let templateName = "bench-http"
  static let poolName = "bench-http-pool"
  /// A run's requests/s is reported as the microseconds that this many requests took.
  static let requestsPerSample = 1000

  static func run(_ o: Options) {
    if o.handler.isEmpty || o.scripts.isEmpty || o.directory.isEmpty || o.forkctl.isEmpty {
      fail("http needs --handler, --scripts, --dir and --forkctl")
    }
    if mkdir(o.directory, 0o700) != 0 && errno != EEXIST {
      fail("cannot make \(o.directory): \(Sys.describe(Errno(rawValue: errno)))")
    }
    let bench = HTTPBench(o)
    bench.start()
    bench.measure()
    bench.stop()
  }
}

/// A server under test: the processes this process started (their process groups), and
/// the port it listens on.
struct Server {
  let key: String
  let port: Int
  var leaders: [Int32]
}

/// What wrk printed for one run.
struct WrkRun {
  var requests = 0
  var requestsPerSecond = 0.0
  /// Socket errors (connect, read, write, timeout) and non-2xx or 3xx responses.
  var errors = 0
}

final class HTTPBench {
  let o: Options
  let runner: Runner
  let wrk: String
  var servers: [Server] = []
  /// Whether (d) runs: the forkctl measured has `pool`.
  let hasPools: Bool

  init(_ o: Options) {
    self.o = o
    runner = Runner(directory: o.directory)
    wrk = runner.lookUp("wrk")
    // A forkctl from before pools (issue 13) says "unknown subcommand" and exits 64.
    hasPools = runner.run([o.forkctl, "pool", "status"], keepOutput: false).0.exitCode == 0
  }

  /// Stops every server started so far, then fails the run.
  func abort(_ text: String) -> Never {
    stop()
    fail(text)
  }

  func start() {
    let w = o.httpWorkers
    let handler = o.handler
    serve(HTTP.floor, Array(repeating: [handler], count: w))
    serve(HTTP.prefork, [[runner.lookUp("perl"), o.scripts + "/prefork.pl", "\(w)", handler]])
    let gunicorn = [runner.lookUp("gunicorn"), "-w", "\(w)", "--bind", "fd://3", "--backlog", "1024"]
    serve(HTTP.gunicorn, [gunicorn + ["--chdir", o.scripts, "gunicorn_app:app"]])
    if hasPools { startPool() }
  }

  /// Starts each of `commands` in a process group of its own, with a new listener at
  /// descriptor 3 and its output in the run's directory, as the server `key`.
  func serve(_ key: String, _ commands: [[String]]) {
    let (listener, port) = listen()
    defer { listener.closeQuietly() }
    servers.append(Server(key: key, port: port, leaders: []))
    for command in commands {
      let pid = spawn(command, listener, log: key)
      servers[servers.count - 1].leaders.append(pid)
    }
  }

  /// (d): a template holding the listener, and a pool of W handlers forked from it.
  func startPool() {
    let (listener, port) = listen()
    defer { listener.closeQuietly() }
    servers.append(Server(key: HTTP.forkctl, port: port, leaders: []))
    let w = "\(o.httpWorkers)"
    forkctlOK(["exec", "--name", HTTP.templateName])
    forkctlOK(["send-fd", HTTP.templateName, "3=3"], listener)
    forkctlOK([
      "pool", "create", HTTP.poolName, "--from", HTTP.templateName, "--start", w, "--min-idle", "1",
      "--max-idle", w, "--max", w, "--", o.handler,
    ])
  }

  /// Runs `forkctl ARGUMENTS` against the shared daemon, with `fd` (if any) at its
  /// descriptor 3; it must exit 0. Its output.
  @discardableResult
  func forkctlOK(_ arguments: [String], _ fd: FileDescriptor? = nil) -> String {
    let command = [o.forkctl] + arguments
    let pid = spawn(command, fd, log: "forkctl")
    let status: ExitStatusValue
    do { status = try Sys.waitChild(pid) } catch { abort("cannot wait for forkctl: \(Sys.describe(error))") }
    if status.exitCode != 0 {
      abort("'forkctl \(arguments.joined(separator: " "))' ended with \(status): see \(o.directory)/forkctl.log")
    }
    return readFile(o.directory + "/forkctl.out")
  }

  /// Starts `command` in a process group of its own, stdin /dev/null, stdout in
  /// `log`.out, stderr in `log`.log, and `fd` (if any) on descriptor 3.
  func spawn(_ command: [String], _ fd: FileDescriptor?, log: String) -> Int32 {
    do {
      let out = try Sys.open(o.directory + "/\(log).out", .writeOnly, options: [.create, .truncate])
      defer { out.closeQuietly() }
      let err = try Sys.open(o.directory + "/\(log).log", .writeOnly, options: [.create, .append])
      defer { err.closeQuietly() }
      return try Sys.posixSpawn(
        path: command[0], arguments: command, environment: runner.environment, fds: [nil, out, err, fd],
        newProcessGroup: true)
    } catch {
      abort("cannot start '\(command.joined(separator: " "))': \(Sys.describe(error))")
    }
  }

  /// A TCP socket listening on 127.0.0.1 at a port the kernel picks, close-on-exec (the
  /// servers get it at descriptor 3 through posix_spawn's dup2), and that port.
  func listen() -> (FileDescriptor, Int) {
    let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    if fd < 0 { abort("cannot make a TCP socket: \(Sys.describe(Errno(rawValue: errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var size = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, size) == 0 && Glibc.listen(fd, 1024) == 0 && getsockname(fd, $0, &size) == 0
      }
    }
    if !bound {
      close(fd)
      abort("cannot listen on 127.0.0.1: \(Sys.describe(Errno(rawValue: errno)))")
    }
    return (FileDescriptor(rawValue: fd), Int(UInt16(bigEndian: address.sin_port)))
  }

  /// One wrk run of `seconds` against `server` with `connections` connections.
  func load(_ server: Server, connections: Int, seconds: Int) -> WrkRun {
    let command = [
      wrk, "-t", "\(min(2, connections))", "-c", "\(connections)", "-d", "\(seconds)s",
      "http://127.0.0.1:\(server.port)/",
    ]
    let (status, text) = runner.run(command)
    if status.exitCode != 0 { abort("'\(command.joined(separator: " "))' ended with \(status): \(text)") }
    var run = WrkRun()
    for line in text.split(separator: "\n") {
      let words = line.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
      switch words.first {
      case "Requests/sec:": run.requestsPerSecond = Double(words.last ?? "") ?? 0
      // "  12345 requests in 5.00s, 1.23MB read"
      case let first? where words.count > 1 && words[1] == "requests": run.requests = Int(first) ?? 0
      // "Socket errors: connect 0, read 0, write 0, timeout 0"
      case "Socket": run.errors += words.compactMap { Int($0) }.reduce(0, +)
      // "Non-2xx or 3xx responses: 12"
      case "Non-2xx": run.errors += Int(words.last ?? "") ?? 0
      default: break
      }
    }
    return run
  }

  /// Up to ten one-second runs at 8 connections, until one is answered without an error: the
  /// server has started (gunicorn boots for a while) and is warm.
  func warmUp(_ server: Server) {
    for _ in 0..<10 {
      let run = load(server, connections: 8, seconds: 1)
      if run.requestsPerSecond > 0 && run.errors == 0 { return }
    }
    abort("\(server.key) did not answer a one-second wrk run without errors in ten tries")
  }

  func measure() {
    for server in servers { warmUp(server) }
    var errors: [String: Int] = [:]
    var idle: [Int: [Int]] = [:]
    let daemon = hasPools ? Footprint.daemonPID(o.socket) : 0
    for round in 0..<o.rounds {
      for connections in HTTP.levels {
        progress("prefork HTTP: round \(round + 1)/\(o.rounds), \(connections) connections")
        for j in servers.indices {
          let server = servers[(round + j) % servers.count]
          let key = "\(server.key)-c\(connections)"
          let ticks = server.key == HTTP.forkctl ? cpuTicks(daemon) : 0
          let run = load(server, connections: connections, seconds: o.httpSeconds)
          if run.requestsPerSecond <= 0 { abort("wrk counted no requests of \(key)") }
          let microseconds = Double(HTTP.requestsPerSample) * 1e6 / run.requestsPerSecond
          Report.line("sample \(key) \(HTTP.requestsPerSample) \(UInt64(microseconds.rounded()))")
          errors[key, default: 0] += run.errors
          if server.key == HTTP.forkctl {
            let ns = (cpuTicks(daemon) - ticks) * 1_000_000_000 / sysconf(CInt(_SC_CLK_TCK)) / max(1, run.requests)
            Report.stat(key, "daemon_ns_per_request", UInt64(ns))
            idle[connections, default: []].append(idleWorkers())
          }
        }
      }
    }
    for (key, n) in errors.sorted(by: { $0.key < $1.key }) { Report.value("errors-\(key)", n) }
    for (connections, counts) in idle.sorted(by: { $0.key < $1.key }) {
      Report.value("idle-low-c\(connections)", counts.min()!)
      Report.value("idle-high-c\(connections)", counts.max()!)
    }
  }

  /// The CPU time process `pid` has used, user and system, in clock ticks: fields 14 and 15
  /// of /proc/PID/stat (proc(5)), counted after the command name, which may hold spaces.
  func cpuTicks(_ pid: Int32) -> Int {
    let text = readFile("/proc/\(pid)/stat")
    guard let end = text.lastIndex(of: ")") else { abort("/proc/\(pid)/stat: '\(text)'") }
    let fields = text[text.index(after: end)...].split(separator: " ")
    guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else {
      abort("/proc/\(pid)/stat has no CPU times: '\(text)'")
    }
    return user + system
  }

  /// The pool's idle count once the load has ended: `pool status --json` read until no
  /// worker is busy or starting (at most 3 s: wrk's last connections close as it exits).
  func idleWorkers() -> Int {
    var counts: [String: Int] = [:]
    for _ in 0..<30 {
      let json = forkctlOK(["pool", "status", HTTP.poolName, "--json"])
      for name in ["idle", "busy", "starting"] {
        guard let count = HTTPBench.number(json, name) else { abort("pool status --json has no \(name): \(json)") }
        counts[name] = count
      }
      if counts["busy"] == 0 && counts["starting"] == 0 { break }
      usleep(100_000)
    }
    return counts["idle"]!
  }

  /// The integer after "NAME": in the first object of `json`.
  static func number(_ json: String, _ name: String) -> Int? {
    guard let key = json.firstRange(of: "\"\(name)\":") else { return nil }
    return Int(json[key.upperBound...].prefix { $0.isNumber })
  }

  /// Stops every server: (d) with `pool stop` and the template's TERM; the others with
  /// TERM to their leader, then KILL to their process group after 10 s.
  func stop() {
    let all = servers
    servers = []
    for server in all where server.key == HTTP.forkctl {
      _ = runner.run([o.forkctl, "pool", "stop", HTTP.poolName], keepOutput: false)
      _ = runner.run([o.forkctl, "kill", HTTP.templateName], keepOutput: false)
    }
    let leaders = all.flatMap(\.leaders)
    for pid in leaders { try? Sys.kill(pid, .terminate) }
    for pid in leaders {
      var status: CInt = 0
      var waited = 0
      while waitpid(pid, &status, WNOHANG) == 0 && waited < 1000 {
        usleep(10_000)
        waited += 1
      }
      if waited == 1000 {
        progress("pid \(pid) did not end within 10 s of SIGTERM: SIGKILL to its group")
        try? Sys.signalOnlyGroup(pid, .kill)
        _ = waitpid(pid, &status, 0)
      }
    }
  }
}

extension Groups {
  func http() -> Group {
    if o.handler.isEmpty { fail("the http group needs --handler") }
    let (w, s) = (o.httpWorkers, o.httpSeconds)
    let title = "prefork HTTP: \(w) workers on loopback under wrk, requests/s"
    var g = Group(title, "\(s) s per run, R=\(o.rounds)")
    progress(title)
    let r = runner.measure(
      [
        "http", "--handler", o.handler, "--http-workers", "\(w)", "--seconds", "\(s)", "-r", "\(o.rounds)",
        "--scripts", o.scripts, "--dir", o.directory + "/http",
      ] + daemon)
    let floor = "(a) floor: \(w) http-handlers"
    let prefork = "(b) Parallel::Prefork"
    let gunicorn = "(c) gunicorn -w \(w) (sync, a WSGI app)"
    let forkctl = "(d) forkctl pool"
    g.note("the same C handler (Scripts/bench.d/http-handler.c: one request per connection, a fixed")
    g.note("  200 with Connection: close) for (a), (b) and (d), each with a listener of its own at fd 3:")
    g.note("(a) started directly; (b) Scripts/bench.d/prefork.pl, max_workers \(w), each worker execs it;")
    g.note("(c) gunicorn's sync workers and Scripts/bench.d/gunicorn_app.py, another handler (reference);")
    g.note("(d) forkctl exec, send-fd 3=3, pool create --start \(w) --min-idle 1 --max-idle \(w) --max \(w);")
    g.note("  idle: the pool's idle workers after each run, lowest..highest; daemon CPU: the daemon's")
    g.note("  user + system time over the run's requests (each sends it BUSY=1 and IDLE=1), median")
    g.note("`wrk -t2 -cC -d\(s)s` (-t1 at 1 connection); a \"call\" is a request; errors are socket errors")
    g.note("  and non-2xx responses over the R runs")
    g.note("versions: \(versions())")
    let hasPools = r.has("forkctl-c1")
    if !hasPools { g.note("NOTE: this forkctl has no pool command: (d) is not measured") }
    for c in HTTP.levels {
      let label = { (name: String) in "\(name), \(c) conn" }
      var rows: [(String, String)] = [
        (label(floor), HTTP.floor), (label(prefork), HTTP.prefork), (label(gunicorn), HTTP.gunicorn),
      ]
      if hasPools { rows.append((label(forkctl), HTTP.forkctl)) }
      for (text, key) in rows {
        var extra = "errors \(r.value("errors-\(key)-c\(c)"))"
        if key == HTTP.forkctl {
          let daemon = Format.fixed(r.medianStat("\(key)-c\(c)", "daemon_ns_per_request") / 1000, 1)
          extra +=
            ", idle after \(r.value("idle-low-c\(c)"))..\(r.value("idle-high-c\(c)")), daemon CPU \(daemon) us/req"
        }
        g.rows.append(.measured(text, r.summary("\(key)-c\(c)"), extra: extra))
      }
      guard hasPools else { continue }
      // The best of (b) and (c): the faster median.
      let best =
        r.summary("\(HTTP.prefork)-c\(c)").medianPerCall <= r.summary("\(HTTP.gunicorn)-c\(c)").medianPerCall
        ? label(prefork) : label(gunicorn)
      let which = best == label(prefork) ? "(b)" : "(c)"
      g.rows.append(
        .rateRatio(
          "(d) / \(which) (best of b, c), \(c) conn", numerator: label(forkctl), denominator: best, .atLeast(0.9)))
    }
    var errors = 0
    for c in HTTP.levels {
      for key in [HTTP.floor, HTTP.prefork, HTTP.gunicorn] + (hasPools ? [HTTP.forkctl] : []) {
        errors += r.value("errors-\(key)-c\(c)")
      }
    }
    g.rows.append(.value("errors, every run", errors, unit: "errors", .atMost(0)))
    if hasPools {
      let low = HTTP.levels.map { r.value("idle-low-c\($0)") }.min()!
      let high = HTTP.levels.map { r.value("idle-high-c\($0)") }.max()!
      g.rows.append(.value("(d) fewest idle after a run", low, unit: "workers", .atLeast(1)))
      g.rows.append(.value("(d) most idle after a run", high, unit: "workers", .atMost(Double(w))))
    }
    return g
  }

  /// "wrk V, Parallel::Prefork V, gunicorn V", from their Debian packages.
  func versions() -> String {
    let packages = ["wrk", "libparallel-prefork-perl", "gunicorn"]
    let (_, text) = runner.run(
      [runner.lookUp("dpkg-query"), "-W", "-f", "${Package} ${Version}\\n"] + packages)
    let found = text.split(separator: "\n").map { $0.split(separator: " ") }
    return zip(["wrk", "Parallel::Prefork", "gunicorn"], packages).map { name, package in
      name + " " + (found.first { $0.first.map(String.init) == package }?.last.map(String.init) ?? "?")
    }.joined(separator: ", ")
  }
}
