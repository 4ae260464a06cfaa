// forkctl spawn against a real daemon, driven from /bin/sh as a user's script would.
import ForkctlSys
import Glibc
import Testing

extension World {
  /// Environment for scripts: the world's, with $F the forkctl binary.
  var scriptEnvironment: [String] { environment + ["F=\(forkctlBinary)"] }

  /// Starts `sh -c script` without waiting; stdout and stderr go to files named by the
  /// returned paths, stdin is `stdin` or /dev/null.
  func startScript(_ script: String, stdin: FileDescriptor? = nil, tag: String) -> (
    pid: Int32, out: String, err: String
  ) {
    let out = "\(dir)/\(tag).out"
    let err = "\(dir)/\(tag).err"
    let o = try! Sys.open(out, .writeOnly, options: [.create, .truncate])
    let e = try! Sys.open(err, .writeOnly, options: [.create, .truncate])
    defer {
      o.closeQuietly()
      e.closeQuietly()
    }
    let pid = try! Sys.posixSpawn(
      path: "/bin/sh", arguments: ["sh", "-c", script], environment: scriptEnvironment, fds: [stdin, o, e])
    return (pid, out, err)
  }

  /// Runs `sh -c script` to the end.
  func script(_ script: String, stdin: FileDescriptor? = nil, tag: String = "script") -> Outcome {
    let s = startScript(script, stdin: stdin, tag: tag)
    let status = try! Sys.waitChild(s.pid)
    return Outcome(status: status, stdout: readFile(s.out), stderr: readFile(s.err))
  }
}

func readBytes(_ path: String) -> [UInt8] {
  guard let fd = try? Sys.open(path, .readOnly) else { return [] }
  defer { fd.closeQuietly() }
  return (try? fd.readAll(limit: 64 << 20)) ?? []
}

/// The pids of the daemon's children running `program` (argv[0]), templates excluded.
func workers(_ w: World, running program: String) -> [Int32] {
  let daemon = w.daemonPID
  return allProcessIDs().filter { pid in
    guard let f = statFields(pid), f.count > 1, Int32(f[1]) == daemon, f[0] != "Z" else { return false }
    return commandLine(pid).hasPrefix(program)
  }
}

@Suite struct SpawnTests {
  @Test("exit codes: the program's own (0, 5), 125 forkctl failed, 126 not executable, 127 not found, each named")
  func exitCodes() {
    let w = World()
    #expect(w.run(["spawn", "--", "true"]).code == 0)
    #expect(w.run(["spawn", "sh", "-c", "exit 5"]).code == 5)
    let unknown = w.run(["spawn", "--from", "nosuch", "true"])
    #expect(unknown.code == 125)
    #expect(unknown.stderr == "forkctl: no process object nosuch\n")
    let missing = w.run(["spawn", "no-such-program-x"])
    #expect(missing.code == 127)
    #expect(missing.stderr == "forkctl: no-such-program-x: No such file or directory\n")
    let notExecutable = w.run(["spawn", "/etc/passwd"])
    #expect(notExecutable.code == 126)
    #expect(notExecutable.stderr == "forkctl: /etc/passwd: Permission denied\n")
    let usage = w.run(["spawn"])
    #expect(usage.code == 125)
    // No daemon can be started there: 125 too.
    let unreachable = w.run(["spawn", "--socket", "/proc/forkctl/sock", "true"])
    #expect(unreachable.code == 125)
    #expect(unreachable.stderr.hasPrefix("forkctl: "))
  }

  @Test("a death by SIGTERM or SIGKILL is seen by the calling shell as 143 or 137, as with a direct child")
  func deathsBySignal() {
    let w = World()
    let r = w.script(#"$F spawn sh -c 'kill -TERM $$'; echo "term=$?"; $F spawn sh -c 'kill -KILL $$'; echo "kill=$?""#)
    #expect(r.stdout == "term=143\nkill=137\n")
    let direct = w.script(#"sh -c 'kill -TERM $$'; echo "term=$?"; sh -c 'kill -KILL $$'; echo "kill=$?""#)
    #expect(r.stdout == direct.stdout)
  }

  @Test("stdio is the caller's own descriptors, passed and not copied; closed stdin becomes /dev/null")
  func stdio() {
    let w = World()
    let r = w.script(
      #"echo in | $F spawn sh -c 'cat; echo err >&2; readlink /proc/self/fd/1 /proc/self/fd/2'; "#
        + #"$F spawn sh -c 'readlink /proc/self/fd/0' <&-"#,
      tag: "stdio")
    #expect(r.stdout == "in\n\(w.dir)/stdio.out\n\(w.dir)/stdio.err\n/dev/null\n")
    #expect(r.stderr == "err\n")
  }

  @Test("5 MB through stdin arrive intact")
  func bigStdin() {
    let w = World()
    let input = "\(w.dir)/big.in"
    var bytes = [UInt8](repeating: 0, count: 5 << 20)
    var x: UInt32 = 2_463_534_242
    for i in bytes.indices {
      x ^= x << 13
      x ^= x >> 17
      x ^= x << 5
      bytes[i] = UInt8(truncatingIfNeeded: x)
    }
    let f = try! Sys.open(input, .writeOnly, options: [.create, .truncate])
    try! f.writeFully(bytes)
    f.closeQuietly()
    let r = w.script(#"$F spawn cat < "\#(input)" > "\#(input).out""#)
    #expect(r.code == 0, "\(r.stderr)")
    // Compared as a Bool: a failing comparison of two 5 MB arrays would be diffed for ever.
    let out = readBytes(input + ".out")
    let intact = out == bytes
    #expect(intact, "\(out.count) bytes came out of \(bytes.count)")
  }

  @Test("--fd N passes more descriptors at the same numbers, and nothing else reaches the worker")
  func extraDescriptors() {
    let w = World()
    // ls lists the descriptors of sh, its parent, straight to stdout: in a pipeline, or with
    // a redirection, sh would hold more of them (the pipe's, a saved fd 1) while ls reads
    // the list; `exit` keeps sh from replacing itself with ls, its last command.
    let r = w.script(
      #"exec 7>"$HOME/seven"; exec 9</dev/null; $F spawn --fd 7 sh -c 'echo seven >&7; ls /proc/$$/fd; exit'"#)
    #expect(r.stdout.split(separator: "\n").compactMap { Int($0) }.sorted() == [0, 1, 2, 7], "\(r.stdout)")
    #expect(readFile(w.dir + "/seven") == "seven\n")
  }

  @Test("the environment is the caller's exactly (= in values, non-UTF-8 bytes); --env overrides; --clear-env empties")
  func environment() {
    let w = World()
    let r = w.script(
      #"export A='b=c=d' B="$(printf 'x\377y')"; $F spawn sh -c 'printf "%s|%s|%s" "$A" "$B" "$PATH"'; echo; "#
        + #"$F spawn --env A=new --env C=3 sh -c 'echo "$A $C"'; "#
        + #"$F spawn --clear-env --env ONLY=1 /usr/bin/env"#
    )
    #expect(r.code == 0, "\(r.stderr)")
    #expect(
      readBytes(w.dir + "/script.out") == Array("b=c=d|x".utf8) + [0xff]
        + Array("y|/usr/local/bin:/usr/bin:/bin\nnew 3\nONLY=1\n".utf8))
    // The whole environment, byte for byte, as env prints it for a direct child.
    let direct = w.script(#"export A='b=c=d' B="$(printf 'x\377y')"; env | sort"#, tag: "direct")
    let spawned = w.script(#"export A='b=c=d' B="$(printf 'x\377y')"; $F spawn env | sort"#, tag: "spawned")
    #expect(direct.code == 0 && spawned.code == 0)
    #expect(readBytes(w.dir + "/spawned.out") == readBytes(w.dir + "/direct.out"))
  }

  @Test("the working directory is the caller's, also renamed or deleted since")
  func workingDirectory() {
    let w = World()
    let r = w.script(
      #"mkdir -p "$HOME/a/b" && cd "$HOME/a/b" && $F spawn pwd && mv "$HOME/a" "$HOME/moved" && $F spawn pwd -P && "#
        + #"mkdir "$HOME/gone" && cd "$HOME/gone" && rmdir "$HOME/gone" && $F spawn readlink /proc/self/cwd"#
    )
    #expect(r.stdout == "\(w.dir)/a/b\n\(w.dir)/moved/b\n\(w.dir)/gone (deleted)\n", "\(r.stderr)")
  }

  @Test("argv is kept byte for byte, and PROGRAM is found in the caller's PATH")
  func argumentsAndPath() {
    let w = World()
    _ = w.script(
      #"mkdir -p "$HOME/bin" && printf '#!/bin/sh\nprintf "[%%s]" "$0" "$@"\n' > "$HOME/bin/mytool" && "#
        + #"chmod +x "$HOME/bin/mytool""#
    )
    let r = w.script(#"PATH="$HOME/bin:$PATH" $F spawn mytool "a b" "" '*' "$(printf '\377\001')" -- --x"#)
    #expect(r.code == 0, "\(r.stderr)")
    #expect(
      readBytes(w.dir + "/script.out") == Array("[\(w.dir)/bin/mytool][a b][][*][".utf8) + [0xff, 0x01]
        + Array("][--][--x]".utf8))
  }

  @Test("Ctrl-C (SIGINT to forkctl) reaches a worker that traps it; so do SIGUSR1 and SIGTERM")
  func signalsForwarded() {
    let w = World()
    let s = w.startScript(
      #"exec $F spawn sh -c 'trap "echo got USR1" USR1; trap "echo got INT; exit 7" INT; "#
        + #"echo ready; while :; do sleep 0.05; done'"#,
      tag: "trap")
    #expect(eventually("worker ready") { readFile(s.out) == "ready\n" })
    kill(s.pid, SIGUSR1)
    #expect(eventually("USR1 handled") { readFile(s.out) == "ready\ngot USR1\n" })
    kill(s.pid, SIGINT)
    let status = try! Sys.waitChild(s.pid)
    #expect(status.exitCode == 7)
    #expect(readFile(s.out) == "ready\ngot USR1\ngot INT\n")
    // An untrapped SIGTERM kills the worker, and forkctl dies of it in turn.
    let t = w.startScript(#"exec $F spawn sh -c 'echo ready; exec sleep 100'"#, tag: "term")
    #expect(eventually("worker ready") { readFile(t.out) == "ready\n" })
    #expect(eventually("sleep exec'd") { !workers(w, running: "sleep").isEmpty })
    kill(t.pid, SIGTERM)
    #expect(try! Sys.waitChild(t.pid).signal == SIGTERM)
  }

  @Test("SIGTSTP stops the worker and forkctl; SIGCONT resumes both")
  func stopAndContinue() {
    let w = World()
    let s = w.startScript(#"exec $F spawn sh -c 'echo ready; while :; do sleep 0.05; done'"#, tag: "stop")
    #expect(eventually("ready") { readFile(s.out) == "ready\n" })
    let worker = workers(w, running: "sh -c echo ready").first ?? 0
    #expect(worker > 0)
    kill(s.pid, SIGTSTP)
    #expect(eventually("both stopped") { statFields(worker)?.first == "T" && statFields(s.pid)?.first == "T" })
    kill(s.pid, SIGCONT)
    #expect(eventually("both running") { statFields(worker)?.first != "T" && statFields(s.pid)?.first != "T" })
    kill(s.pid, SIGTERM)
    _ = try! Sys.waitChild(s.pid)
  }

  @Test("a killed client takes its worker down: SIGTERM, then SIGKILL after the grace for one that ignores TERM")
  func killedClient() {
    let w = World()
    let d = startForegroundDaemon(w, extra: ["--kill-grace", "0.3"])
    #expect(d.ready == "ready\n")
    let plain = w.startScript(#"exec $F spawn sleep 101"#, tag: "plain")
    let stubborn = w.startScript(
      #"exec $F spawn sh -c 'trap "" TERM; echo ready; while :; do sleep 0.05; done'"#, tag: "stubborn")
    #expect(
      eventually("started") { workers(w, running: "sleep 101").count == 1 && readFile(stubborn.out) == "ready\n" })
    let sleeper = workers(w, running: "sleep 101")[0]
    let trapper = workers(w, running: "sh -c trap").first ?? 0
    #expect(trapper > 0)
    kill(plain.pid, SIGKILL)
    kill(stubborn.pid, SIGKILL)
    _ = try! Sys.waitChild(plain.pid)
    _ = try! Sys.waitChild(stubborn.pid)
    #expect(eventually("both gone") { !isAlive(sleeper) && !isAlive(trapper) && workers(w, running: "sleep").isEmpty })
    #expect(eventually("reaped") { zombieChildren(of: d.pid).isEmpty })
    // Nothing is left listed but the default template.
    #expect(w.entries().map(\.state) == ["ready"])
    _ = w.run(["shutdown"])
    _ = try? Sys.waitChild(d.pid)
  }

  @Test("--detach prints the id and returns at once; the worker runs on and stays waitable by id and name")
  func detached() {
    let w = World()
    let c = w.startScript(
      #"exec $F spawn --detach --name keeper sh -c 'echo ready; while :; do sleep 0.05; done'"#, tag: "detach")
    let status = try! Sys.waitChild(c.pid)
    #expect(status.exitCode == 0)
    #expect(eventually("ready") { readFile(c.out).split(separator: "\n").contains("ready") })
    let id = readFile(c.out).split(separator: "\n").first { $0 != "ready" }.map(String.init) ?? "?"
    let worker = workers(w, running: "sh -c echo ready").first ?? 0
    #expect(isAlive(worker))
    w.ok(["kill", "-s", "HUP", id])
    #expect(w.run(["wait", "keeper"]).code == 128 + SIGHUP)
  }

  @Test("the worker leads its own process group and is the daemon's child")
  func processGroup() {
    let w = World()
    let r = w.script(#"$F spawn sh -c 'cut -d" " -f4,5 /proc/$$/stat; echo $$'"#)
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines.first == "\(w.daemonPID) \(lines.last ?? "")")
  }

  @Test("40 parallel spawns each get their own exact status")
  func parallel() {
    let w = World()
    w.ok(["list"])  // one daemon, started before the rush
    var clients: [(Int32, Int32)] = []
    for i in 0..<40 {
      let script =
        i % 5 == 4
        ? "exec $F spawn sh -c 'kill -\(i % 3 == 0 ? "TERM" : "KILL") $$'" : "exec $F spawn sh -c 'exit \(i)'"
      let expected: Int32 = i % 5 == 4 ? 128 + (i % 3 == 0 ? SIGTERM : SIGKILL) : Int32(i)
      clients.append((w.startScript(script, tag: "p\(i)").pid, expected))
    }
    for (pid, expected) in clients {
      let status = try! Sys.waitChild(pid)
      let code = status.exitCode ?? 128 + (status.signal ?? 0)
      #expect(code == expected)
    }
    // The daemon answers for a child while it is a zombie and reaps it right after.
    #expect(eventually("no zombie of the daemon") { zombieChildren(of: w.daemonPID).isEmpty })
    #expect(w.entries().count == 1)
  }

  @Test("run --wait forwards signals and re-raises the worker's death")
  func runWaitForwards() {
    let w = World()
    let id = w.ok(["new"])
    let s = w.startScript(
      #"$F send-fd "# + id + #" 1=1 && exec $F run "# + id
        + #" --wait -- sh -c 'trap "exit 3" USR2; echo ready; while :; do sleep 0.05; done'"#, tag: "rw")
    #expect(eventually("ready") { readFile(s.out) == "ready\n" })
    kill(s.pid, SIGUSR2)
    #expect(try! Sys.waitChild(s.pid).exitCode == 3)
  }
}
