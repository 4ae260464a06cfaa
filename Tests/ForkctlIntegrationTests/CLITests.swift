// The command line itself: help, version, usage errors and their exit codes, option
// spellings, and argv bytes that must pass through the parser untouched.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@Suite struct CLITests {
  static let subcommandsInHelpOrder = [
    "spawn", "new", "exec", "fork", "send-fd", "send-arg", "run", "wait", "kill", "list", "status", "shutdown",
    "daemon",
  ]

  @Test("--help, -h and help print the top-level help, which lists every subcommand in order")
  func topLevelHelp() {
    let w = World()
    let help = w.run(["--help"])
    #expect(help.code == 0 && help.stderr.isEmpty)
    #expect(help.stdout.hasPrefix("usage: forkctl SUBCOMMAND"))
    for args in [["-h"], ["help"], ["--socket", w.socket, "--help"]] {
      let r = w.run(args)
      #expect(r.code == 0 && r.stdout == help.stdout, "forkctl \(args)")
    }
    let listed = help.stdout.split(separator: "\n").compactMap { line -> String? in
      let words = line.split(separator: " ")
      guard line.hasPrefix("  "), let name = words.first, Self.subcommandsInHelpOrder.contains(String(name)) else {
        return nil
      }
      return String(name)
    }
    #expect(listed == Self.subcommandsInHelpOrder)
  }

  @Test("a subcommand's help: SUBCOMMAND --help, -h and help SUBCOMMAND, exit 0, starting with its usage line")
  func subcommandHelp() {
    let w = World()
    for name in Self.subcommandsInHelpOrder {
      let help = w.run(["help", name])
      #expect(help.code == 0 && help.stderr.isEmpty, "help \(name)")
      #expect(help.stdout.hasPrefix("usage: forkctl \(name) "), "help \(name): \(help.stdout)")
      for flag in ["--help", "-h"] {
        let r = w.run([name, flag])
        #expect(r.code == 0 && r.stdout == help.stdout, "\(name) \(flag)")
      }
    }
    // Help wins over whatever else is on the command line before it.
    let late = w.run(["kill", "--socket", w.socket, "-h"])
    #expect(late.code == 0 && late.stdout.hasPrefix("usage: forkctl kill "))
  }

  @Test("no arguments is a usage error: the usage line on stderr, nothing on stdout, exit 64")
  func noArgumentsIsAUsageError() {
    let w = World()
    let r = w.run([])
    #expect(r.code == 64 && r.stdout.isEmpty)
    #expect(r.stderr == "forkctl: missing subcommand\nusage: forkctl SUBCOMMAND [OPTION...] [ARG...]\n", "\(r.stderr)")
    #expect(w.run(["--socket", w.socket]).code == 64, "global options without a subcommand")
  }

  @Test("--version prints the program's name and its version, at the top level and in a subcommand")
  func versionPrintsNameAndVersion() {
    let w = World()
    for args in [["--version"], ["list", "--version"], ["--socket", w.socket, "--version"]] {
      let r = w.run(args)
      #expect(r.code == 0 && r.stdout == "forkctl 0.1.0\n" && r.stderr.isEmpty, "forkctl \(args): \(r.stdout)")
    }
  }

  @Test("--socket before the subcommand is the subcommand's socket")
  func globalSocketBeforeSubcommand() {
    let w = World()
    let other = w.dir + "/other/sock"
    let id = w.ok(["--socket", other, "exec", "--name", "there"])
    #expect(w.ok(["--socket=\(other)", "list", "--json"]).contains("\"name\":\"there\""))
    #expect(!w.ok(["list", "--json"]).contains("\"name\":\"there\""), "the world's own daemon got it")
    // Its own --socket, after the subcommand, wins.
    #expect(w.ok(["--socket", w.dir + "/nowhere/sock", "list", "--socket", other, "--json"]).contains("\"id\":\(id),"))
    let bad = w.run(["--bogus", "list"])
    #expect(bad.code == 64 && bad.stderr.hasPrefix("forkctl: unknown option '--bogus'\n"))
    w.ok(["--socket", other, "shutdown"])
  }

  @Test("options of wait, kill, list, fork and send-fd may follow their operands, up to --")
  func optionsAfterOperands() {
    let w = World()
    let a = w.ok(["new"])
    w.ok(["run", a, "--", "sh", "-c", "exit 6"])
    let printed = w.run(["wait", a, "--print"])
    #expect(printed.code == 6 && printed.stdout == "\(a) 6\n", "\(printed.stdout) \(printed.stderr)")
    let b = w.ok(["new"])
    w.ok(["send-fd", b, "1", "--socket", w.socket])
    let c = w.ok(["fork", b, "--name", "forked"])
    w.ok(["run", c, "--", "sleep", "30"])
    w.ok(["kill", c, "--signal", "KILL"])
    #expect(w.run(["wait", "forked", "--socket", w.socket]).code == 137)
    #expect(w.ok(["list", "--socket", w.socket]).contains("forked"))
    // After --, a word is an operand, whatever it looks like.
    let after = w.run(["wait", "--", "--print"])
    #expect(after.code == 125 && after.stderr.contains("no process object --print"), "\(after.stderr)")
  }

  @Test("run ID --wait PROGRAM: options between ID and PROGRAM are run's, without --; after PROGRAM, PROGRAM's")
  func runOptionsBetweenIDAndProgram() {
    let w = World()
    let a = w.ok(["new"])
    let r = w.run([
      "run", a, "--wait", "--env", "CODE=9", "sh", "-c", "test \"$1\" = --wait && exit $CODE", "sh", "--wait",
    ])
    #expect(r.code == 9, "\(r.stderr)")
    let b = w.ok(["new"])
    let unknown = w.run(["run", b, "--bogus", "true"])
    #expect(unknown.code == 64 && unknown.stderr.hasPrefix("forkctl: unknown option '--bogus'\n"), "\(unknown.stderr)")
    // A program whose name begins with `-` comes after --.
    let dashed = w.run(["run", "--wait", b, "--", "-x"])
    #expect(dashed.code == 127 && dashed.stderr.hasPrefix("forkctl: cannot run -x in process "), "\(dashed.stderr)")
  }

  @Test("--name must not be empty nor begin with '-', in new, exec, fork and spawn; the daemon refuses '-' too")
  func namesMustBeNonEmptyAndNotLikeOptions() throws {
    let w = World()
    let t = w.ok(["new"])
    for args in [["new", "--name", ""], ["exec", "--name="], ["fork", "--name", "", t], ["new", "--name", "-x"]] {
      let r = w.run(args)
      #expect(r.code == 64 && r.stderr.hasPrefix("forkctl: --name "), "forkctl \(args): \(r.stderr)")
    }
    for args in [["spawn", "--name", "", "true"], ["spawn", "--name", "-n", "true"]] {
      let r = w.run(args)
      #expect(r.code == 125 && r.stderr.hasPrefix("forkctl: --name "), "forkctl \(args): \(r.stderr)")
    }
    #expect(!w.ok(["list"]).contains(" -x "), "nothing was made")
    // A client that does not check (another language's) meets the daemon's refusal.
    let fd = try UnixSocket.connect(to: w.socket)
    defer { fd.closeQuietly() }
    var channel = FrameChannel(fd)
    try channel.send(Request.new(name: Array("-x".utf8)).frame())
    guard case .frame(let frame, _) = try channel.receive(), case .failure(let code, let message) = try Reply(frame)
    else {
      Issue.record("no failure reply")
      return
    }
    #expect(code == .badRequest && String(decoding: message, as: UTF8.self).contains("not beginning with '-'"))
  }

  @Test("daemon --allow-uid and --allow-gid take names as well as numbers; an unknown name is a usage error")
  func allowListTakesNames() {
    let w = World()
    let bad = w.run(["daemon", "--allow-uid", "no-such-user-forkctl"])
    #expect(bad.code == 64, "\(bad.stderr)")
    #expect(bad.stderr.hasPrefix("forkctl: --allow-uid 'no-such-user-forkctl' is neither a user id nor a user name\n"))
    let badGroup = w.run(["daemon", "--allow-gid", "no-such-group-forkctl"])
    #expect(badGroup.code == 64 && badGroup.stderr.hasPrefix("forkctl: --allow-gid 'no-such-group-forkctl' is"))
    // root and its group exist on every system; a daemon admitting them by name starts and
    // makes the socket reachable to others, as --allow-uid 0 would.
    let daemon = startAccessDaemon(w, options: ["--allow-uid", "root", "--allow-gid", "root"])
    var st = stat()
    #expect(lstat(w.socket, &st) == 0 && st.st_mode & 0o777 == 0o666)
    w.ok(["shutdown"])
    #expect((try? Sys.waitChild(daemon))?.exitCode == 0)
  }

  @Test("an unknown subcommand or option, a missing value or a bad number is a usage error: 64, message and usage line")
  func usageErrorsExit64() {
    let w = World()
    let cases: [([String], String)] = [
      (["nosuch"], "forkctl: unknown subcommand 'nosuch'\nusage: forkctl SUBCOMMAND"),
      (["--bogus"], "forkctl: unknown option '--bogus'\nusage: forkctl SUBCOMMAND"),
      (["help", "nosuch"], "forkctl: unknown subcommand 'nosuch'\n"),
      (["new", "--bogus"], "forkctl: unknown option '--bogus'\nusage: forkctl new [--socket PATH] [--name NAME]\n"),
      (["kill", "-x", "1"], "forkctl: unknown option '-x'\nusage: forkctl kill "),
      (["new", "--name"], "forkctl: --name needs a value\nusage: forkctl new "),
      (["list", "--json=yes"], "forkctl: --json takes no value\nusage: forkctl list "),
      (["list", "extra"], "forkctl: unexpected argument 'extra'\nusage: forkctl list "),
      (["fork"], "forkctl: fork needs an ID\nusage: forkctl fork "),
      (["kill", "-s", "FOO", "1"], "forkctl: unknown signal 'FOO'\nusage: forkctl kill "),
      (
        ["send-fd", "1", "x=y"], "forkctl: 'x=y' is not a descriptor N or TARGET=N (0 to 1023)\nusage: forkctl send-fd "
      ),
      (["run", "1", "--"], "forkctl: run needs a PROGRAM\nusage: forkctl run "),
      (["run", "--env", "x", "1", "--", "true"], "forkctl: --env 'x' is not NAME=VALUE\nusage: forkctl run "),
      (["daemon", "--max-processes", "x"], "forkctl: --max-processes 'x' is not a number\nusage: forkctl daemon "),
      (["daemon", "--max-processes", "0"], "forkctl: --max-processes must be at least 1\nusage: forkctl daemon "),
      (
        ["daemon", "--kill-grace", "-1"],
        "forkctl: --kill-grace must be from 0 to 86400 seconds\nusage: forkctl daemon "
      ),
    ]
    for (args, stderr) in cases {
      let r = w.run(args)
      #expect(r.code == 64, "forkctl \(args) exited \(r.code): \(r.stderr)")
      #expect(r.stderr.hasPrefix(stderr), "forkctl \(args): \(r.stderr)")
      #expect(r.stdout.isEmpty)
    }
    #expect(w.daemonPID == 0, "no usage error started a daemon")
  }

  @Test("a usage error of spawn, wait or run --wait exits 125, since their status is otherwise a program's")
  func usageErrorsOfStatusCommandsExit125() {
    let w = World()
    let cases: [([String], String)] = [
      (["spawn"], "forkctl: spawn needs a PROGRAM\nusage: forkctl spawn "),
      (["spawn", "--bogus", "true"], "forkctl: unknown option '--bogus'\nusage: forkctl spawn "),
      (["spawn", "--fd", "1024", "true"], "forkctl: --fd 1024 is not a descriptor number from 0 to 1023\n"),
      (["spawn", "--fd=x", "true"], "forkctl: --fd x is not a descriptor number from 0 to 1023\n"),
      (["wait"], "forkctl: wait needs at least one id\nusage: forkctl wait "),
      (["wait", "--bogus", "1"], "forkctl: unknown option '--bogus'\n"),
      (["run", "--wait", "1"], "forkctl: run needs a PROGRAM\n"),
      (["run", "1", "--wait", "--bogus", "--", "true"], "forkctl: unknown option '--bogus'\n"),
    ]
    for (args, stderr) in cases {
      let r = w.run(args)
      #expect(r.code == 125, "forkctl \(args) exited \(r.code): \(r.stderr)")
      #expect(r.stderr.hasPrefix(stderr), "forkctl \(args): \(r.stderr)")
    }
    // Without --wait a usage error of run is an ordinary one.
    #expect(w.run(["run", "1"]).code == 64)
  }

  @Test("--opt=value means --opt value, for --socket, --name, --signal and --env")
  func optionsWithEquals() {
    let w = World()
    let other = w.dir + "/other/sock"
    let id = w.ok(["exec", "--socket=\(other)", "--name=eq"])
    #expect(w.ok(["list", "--socket", other, "--json"]).contains("\"name\":\"eq\""))
    #expect(!w.ok(["list", "--json"]).contains("\"name\":\"eq\""), "the other daemon got it")
    w.ok(["run", "--socket=\(other)", "--env=CODE=0", "eq", "--", "sleep", "30"])
    w.ok(["kill", "--socket=\(other)", "--signal=KILL", id])
    #expect(w.run(["wait", "--socket=\(other)", id]).code == 137)
    let short = w.ok(["new"])
    w.ok(["run", short, "--", "sleep", "30"])
    w.ok(["kill", "-sINT", short])
    #expect(w.run(["wait", short]).code == 130)
    #expect(w.run(["spawn", "--env=CODE=5", "sh", "-c", "exit $CODE"]).code == 5)
    w.ok(["shutdown", "--socket=\(other)"])
  }

  @Test("spawn --help prints help; spawn -- --help runs a program named --help, which is not found")
  func helpOnlyBeforeProgram() {
    let w = World()
    let help = w.run(["spawn", "--help"])
    #expect(help.code == 0 && help.stdout.hasPrefix("usage: forkctl spawn "))
    let program = w.run(["spawn", "--", "--help"])
    #expect(program.code == 127)
    #expect(program.stderr == "forkctl: --help: No such file or directory\n")
    // After PROGRAM, options are PROGRAM's.
    let printf = w.run(["spawn", "printf", "%s|", "--help", "--name", "x", "--"])
    #expect(printf.code == 0 && printf.stdout == "--help|--name|x|--|")
  }

  @Test("run: options between ID and -- are run's; without --, everything after ID is PROGRAM and its ARGs")
  func runOptionsAfterID() {
    let w = World()
    let a = w.ok(["new"])
    #expect(w.run(["run", a, "--wait", "--env", "CODE=7", "--", "sh", "-c", "exit $CODE"]).code == 7)
    let b = w.ok(["new"])
    let r = w.run(["run", "--wait", b, "sh", "-c", "exit 3", "--", "x"])
    #expect(r.code == 3)
  }

  @Test("list's ROLE: template until told to run a program, worker after; JSON's role stays how it was made")
  func listRolesAreTemplateAndWorker() {
    let w = World()
    let forked = w.ok(["new"])
    let ranForked = w.ok(["new"])
    let ranFresh = w.ok(["exec"])
    for id in [ranForked, ranFresh] { #expect(w.run(["run", "--wait", id, "--", "true"]).code == 0) }
    var roles: [String: String] = [:]
    for line in w.ok(["list"]).split(separator: "\n").dropFirst() {
      let columns = line.split(separator: " ")
      roles[String(columns[0])] = String(columns[2])
    }
    #expect(roles.values.filter { $0 == "default-template" }.count == 1, "\(roles)")
    #expect(roles[forked] == "template" && roles[ranForked] == "worker" && roles[ranFresh] == "worker", "\(roles)")
    let json = w.ok(["list", "--json"])
    #expect(json.contains(#""id":\#(ranForked),"name":null,"role":"process""#), "\(json)")
    #expect(json.contains(#""id":\#(ranFresh),"name":null,"role":"template""#), "\(json)")
  }

  @Test("bytes that are not UTF-8 pass through spawn, send-arg, run and --env byte for byte")
  func nonUTF8ArgumentsSurvive() {
    let w = World()
    let r = w.script(
      #"""
      $F spawn sh -c 'printf %s "$1" | od -An -tx1' sh "$(printf '\377\376')"
      $F spawn --env "B=$(printf 'x\377y')" sh -c 'printf %s "$B" | od -An -tx1'
      id=$($F new) && $F send-fd "$id" 1=1 &&
      $F send-arg "$id" -- -c 'printf %s "$1|$2" | od -An -tx1' sh "$(printf '\300\200')" &&
      $F run --wait "$id" -- sh "$(printf 'a\377')"
      """#)
    #expect(r.code == 0, "\(r.stderr)")
    let hex = r.stdout.split(separator: "\n").map { $0.split(separator: " ").joined() }
    #expect(hex == ["fffe", "78ff79", "c0807c61ff"], "\(r.stdout)")
  }

  @Test("kill takes signals as kill(1) does: -9, -KILL, -SIGKILL, -s KILL, IOT, CLD, POLL, RTMIN+n")
  func killTakesSignalsAsKillDoes() {
    let w = World()
    let cases: [([String], Int32)] = [
      (["-9"], 137), (["-KILL"], 137), (["-SIGKILL"], 137), (["-s", "KILL"], 137), (["-s", "IOT"], 134),
      (["-POLL"], 128 + 29), (["--signal", "RTMIN+2"], 128 + Signal.realtimeMin.rawValue + 2), (["-RTMAX"], 128 + 64),
      (["-15"], 143), (["-INT"], 130),
    ]
    for (options, status) in cases {
      let id = w.ok(["new"])
      w.ok(["run", id, "--", "sleep", "30"])
      w.ok(["kill"] + options + [id])
      #expect(w.run(["wait", id]).code == status, "kill \(options)")
    }
    // CLD (SIGCHLD) is ignored by default: the program runs on.
    let id = w.ok(["new"])
    w.ok(["run", id, "--", "sleep", "30"])
    w.ok(["kill", "-CLD", id])
    #expect(isAlive(w.pid(of: id)))
    w.ok(["kill", id, "-KILL"])
    #expect(w.run(["wait", id]).code == 137)
    for bad in [["-s", "RTMIN+99", id], ["-NOPE", id], ["-s", "CLDX", id]] {
      #expect(w.run(["kill"] + bad).code == 64, "kill \(bad)")
    }
  }

  @Test("kill --group signals the worker's whole process group; without it, the worker alone")
  func killGroupSignalsTheProcessGroup() {
    let w = World()
    func start(_ tag: String) -> (id: String, child: Int32) {
      let id = w.ok(["new"])
      let file = "\(w.dir)/\(tag).pid"
      w.ok(["run", id, "--", "sh", "-c", "sleep 30 & echo $! > \(file).tmp; mv \(file).tmp \(file); wait"])
      #expect(eventually("the child's pid") { !readFile(file).isEmpty })
      return (id, Int32(readFile(file).split(separator: "\n").first ?? "") ?? 0)
    }
    let alone = start("alone")
    w.ok(["kill", "-KILL", alone.id])
    #expect(w.run(["wait", alone.id]).code == 137)
    #expect(isAlive(alone.child), "without --group the worker's child runs on")
    kill(alone.child, SIGKILL)
    let grouped = start("grouped")
    w.ok(["kill", "--group", "-KILL", grouped.id])
    #expect(w.run(["wait", grouped.id]).code == 137)
    #expect(eventually("the child's death") { !isAlive(grouped.child) }, "--group reached the worker's child")
  }

  @Test("wait --timeout gives up with 124, as timeout(1) does, and leaves the process running; in time, its status")
  func waitTimeoutExits124() {
    let w = World()
    let id = w.ok(["new"])
    w.ok(["run", id, "--", "sleep", "30"])
    let started = Sys.monotonicMilliseconds()
    let r = w.run(["wait", "--timeout", "0.3", id])
    let took = Sys.monotonicMilliseconds() - started
    #expect(r.code == 124 && r.stdout.isEmpty && r.stderr.isEmpty, "\(r.code) \(r.stderr)")
    #expect(took >= 300 && took < 5000, "took \(took) ms")
    #expect(isAlive(w.pid(of: id)))
    let quick = w.ok(["new"])
    w.ok(["run", quick, "--", "sh", "-c", "sleep 0.2; exit 8"])
    #expect(w.run(["wait", quick, "--timeout", "20", "--print"]).stdout == "\(quick) 8\n")
    #expect(w.run(["wait", "--timeout", "-1", id]).code == 125, "a usage error")
    w.ok(["kill", "-KILL", id])
  }

  @Test("list shows a program stopped by a signal as stopped, and as running once continued")
  func listShowsStoppedPrograms() {
    let w = World()
    let id = w.ok(["new"])
    w.ok(["run", id, "--", "sleep", "30"])
    func state() -> String? { w.entries().first { String($0.id) == id }?.state }
    w.ok(["kill", "-STOP", id])
    #expect(eventually("stopped") { state() == "stopped" }, "\(String(describing: state()))")
    let row = w.ok(["list"]).split(separator: "\n").first { $0.hasPrefix("\(id) ") } ?? ""
    #expect(row.split(separator: " ").contains("stopped"), "\(row)")
    w.ok(["kill", "-CONT", id])
    #expect(eventually("continued") { state() == "running" }, "\(String(describing: state()))")
    w.ok(["kill", "-KILL", id])
  }

  @Test("a command that starts a daemon keeps an existing 0711 socket directory 0711, and refuses a 0755 one")
  func existingSearchableDirectoryIsKept() {
    let w = World()
    #expect(mkdir(w.dir + "/run", 0o700) == 0 && chmod(w.dir + "/run", 0o711) == 0)
    w.ok(["list"])
    var st = stat()
    #expect(lstat(w.dir + "/run", &st) == 0 && st.st_mode & 0o777 == 0o711, "\(String(st.st_mode, radix: 8))")
    #expect(lstat(w.socket, &st) == 0 && st.st_mode & 0o777 == 0o600)
    w.ok(["shutdown"])
    #expect(chmod(w.dir + "/run", 0o755) == 0)
    let open = w.run(["list"])
    #expect(open.code == 125 && open.stderr.contains(w.dir + "/run"), "\(open.stderr)")
    #expect(lstat(w.dir + "/run", &st) == 0 && st.st_mode & 0o777 == 0o755)
  }

  @Test("a socket path too long for the daemon's PATH.PID.new is refused up front, naming the limit, leaving nothing")
  func tooLongSocketPathIsRefusedUpFront() {
    let w = World()
    /// A socket path of exactly `length` bytes under the world's directory.
    func path(_ length: Int) -> String {
      let head = w.dir + "/"
      return head + String(repeating: "d", count: length - head.utf8.count - "/sock".utf8.count) + "/sock"
    }
    let longest = path(95)
    w.ok(["--socket", longest, "list"])
    w.ok(["--socket", longest, "shutdown"])
    let over = path(96)
    let directory = String(over.dropLast("/sock".count))
    for args in [["--socket", over, "list"], ["spawn", "--socket", over, "true"]] {
      let r = w.run(args)
      #expect(r.code == 125, "forkctl \(args): \(r.stderr)")
      #expect(r.stderr.contains("is 96 bytes, more than the 95 a daemon can listen on"), "\(r.stderr)")
    }
    let daemon = w.run(["daemon", "--socket", over])
    #expect(daemon.code == 1 && daemon.stderr.contains("more than the 95"), "\(daemon.stderr)")
    var st = stat()
    #expect(lstat(directory, &st) != 0, "nothing was made: no directory, .log, .pid or .start.lock")
  }
}
