// spawn as a true drop-in for the caller's process attributes (issue 10, items 2, 3 and 5):
// each test runs the same program directly and through `forkctl spawn`, from the same shell,
// and compares. The daemon is started first by the test process, so that its attributes are
// not the ones under test.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// Prints what a program inherits from its caller: umask, every soft and hard limit, nice
/// value, and the ignored signals but glibc's own 32 and 33, which forkctl does not pass on
/// (through sh, whose start-up leaves SIG_IGN alone but unblocks every signal, so the mask is
/// read without it, in `blockedSignals`).
private let probe =
  #"umask; ulimit -a; ulimit -Ha; nice; v=$(sed -n "s/^SigIgn:\t//p" /proc/self/status); "#
  + #"printf "SigIgn %x\n" $((0x$v & ~0x180000000))"#

/// Blocks SIGUSR1 and SIGTERM, then executes its arguments.
private let blockingExec =
  "python3 -c 'import os, signal, sys; "
  + "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM}); os.execvp(sys.argv[1], sys.argv[1:])'"

extension World {
  /// Runs `setup`, then `program` directly and through `$F spawn`, in the same shell;
  /// returns both outputs and forkctl's stderr.
  func sideBySide(
    _ setup: String, _ program: String, prefix: String = "", tag: String
  ) -> (direct: String, spawned: String, stderr: String) {
    let r = script(
      #"\#(setup); \#(prefix) \#(program) > "$HOME/\#(tag).direct"; "#
        + #"\#(prefix) $F spawn -- \#(program) > "$HOME/\#(tag).spawned""#, tag: tag)
    return (readFile("\(dir)/\(tag).direct"), readFile("\(dir)/\(tag).spawned"), r.stderr)
  }
}

@Suite("spawn gives the program the caller's process attributes")
struct AttributesTests {
  @Test("under umask 077 the program makes a 0600 file, as run directly")
  func privateUmask() {
    let w = World()
    w.ok(["list"])
    let r = w.script(#"cd "$HOME" && umask 077 && $F spawn touch spawned && touch direct && stat -c %a spawned direct"#)
    #expect(r.stdout == "600\n600\n", "\(r.stderr)")
  }

  @Test("run, like spawn, gives the program the caller's umask and limits, with --wait or without")
  func runToo() {
    let w = World()
    let a = w.ok(["new"])
    let b = w.ok(["new"])
    let r = w.script(
      #"cd "$HOME" && umask 077 && ulimit -n 300 && $F run \#(a) --wait -- sh -c 'touch a; ulimit -n > n' && "#
        + #"$F run \#(b) -- touch b && $F wait \#(b) && cat n && stat -c %a a b"#)
    #expect(r.stdout == "300\n600\n600\n", "\(r.stderr)")
  }

  @Test("umask 027, ulimit -n 200 and ulimit -c unlimited: every limit, the umask and the ignored signals as direct")
  func limitsAndUmask() {
    let w = World()
    w.ok(["list"])
    let s = w.sideBySide(
      #"umask 027; ulimit -n 200; ulimit -c "$(ulimit -Hc)"; ulimit -Ss 4096; trap '' USR2"#, "sh -c '\(probe)'",
      tag: "limits")
    #expect(s.stderr == "")
    #expect(s.direct.contains("0027\n"))
    #expect(s.direct.contains("200\n"))
    #expect(s.spawned == s.direct)
  }

  @Test("nice -n 10 forkctl spawn runs the program at nice 10, as nice -n 10 does")
  func niceValue() {
    let w = World()
    w.ok(["list"])
    let s = w.sideBySide("true", "sh -c '\(probe)'", prefix: "nice -n 10", tag: "nice")
    #expect(s.stderr == "")
    #expect(s.direct.contains("\n10\nSigIgn "))
    #expect(s.spawned == s.direct)
  }

  @Test("under nohup a SIGHUP to forkctl does not reach the program: it runs on and exits 0, as directly")
  func nohup() {
    let w = World()
    w.ok(["list"])
    let run: (String) -> String = { command in
      w.script(
        #"nohup \#(command) sh -c 'sleep 1; echo survived' & sleep 0.3; kill -HUP $!; wait $!; echo "rc=$?""#
      ).stdout
    }
    let direct = run("")
    #expect(direct == "survived\nrc=0\n")
    #expect(run("$F spawn --") == direct)
  }

  @Test("with SIGINT ignored (trap '' INT) a SIGINT to forkctl does not reach the program, as directly")
  func ignoredInterrupt() {
    let w = World()
    w.ok(["list"])
    let run: (String) -> String = { command in
      w.script(
        #"trap '' INT; \#(command) sh -c 'sleep 1; echo done' & sleep 0.3; kill -INT $!; wait $!; echo "rc=$?""#
      ).stdout
    }
    let direct = run("")
    #expect(direct == "done\nrc=0\n")
    #expect(run("$F spawn --") == direct)
  }

  @Test("signals blocked in the caller are blocked in the program, which a blocked signal does not kill")
  func blockedSignals() throws {
    try requireProgram(python3Binary, package: "python3")
    let w = World()
    w.ok(["list"])
    let mask = w.sideBySide("true", "grep SigBlk /proc/self/status", prefix: blockingExec, tag: "mask")
    #expect(mask.direct == "SigBlk:\t0000000000004200\n")
    #expect(mask.spawned == mask.direct)
    let kill = w.sideBySide(
      "true", #"python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGUSR1); print("alive")'"#,
      prefix: blockingExec, tag: "kill")
    #expect(kill.direct == "alive\n")
    #expect(kill.spawned == kill.direct)
  }

  @Test(
    """
    a core is the program's, written under the caller's ulimit -c, never forkctl's: forkctl re-raises \
    without one and says the program dumped core
    """)
  func coreIsTheProgramsOwn() {
    let w = World()
    w.ok(["list"])
    let withCore = w.startScript(
      #"cd "$HOME" && mkdir sub && ulimit -c "$(ulimit -Hc)" && "#
        + #"exec $F spawn --name dumped sh -c 'cd sub && kill -QUIT $$'"#, tag: "core")
    let status = try! Sys.waitChild(withCore.pid)
    #expect(status.signal == SIGQUIT)
    #expect(!status.coreDumped)
    #expect(access("\(w.dir)/sub/core", F_OK) == 0, "the program's core")
    #expect(access("\(w.dir)/core", F_OK) != 0, "forkctl's own core")
    #expect(readFile(withCore.err) == "forkctl: sh: SIGQUIT (core dumped)\n")
    #expect(w.ok(["list", "--json"]).contains(#""core_dumped":true"#))
    let without = w.startScript(
      #"cd "$HOME/sub" && rm -f core && ulimit -c 0 && exec $F spawn sh -c 'kill -QUIT $$'"#, tag: "nocore")
    let plain = try! Sys.waitChild(without.pid)
    #expect(plain.signal == SIGQUIT)
    #expect(!plain.coreDumped)
    #expect(access("\(w.dir)/sub/core", F_OK) != 0)
    #expect(readFile(without.err) == "")
  }

  @Test("a daemon auto-started under umask 077 and ulimit -Sn 64 imposes neither on a later client's spawn")
  func autoStartedDaemonImposesNothing() {
    let w = World()
    let start = w.script(#"umask 077; ulimit -Sn 64; ulimit -Sc 0; exec $F list"#)
    #expect(start.code == 0, "\(start.stderr)")
    #expect(readFile("/proc/\(w.daemonPID)/status").contains("Umask:\t0077"))
    let s = w.sideBySide("umask 022; ulimit -Sn 100", "sh -c '\(probe)'", tag: "later")
    #expect(s.stderr == "")
    #expect(s.spawned == s.direct)
  }

  @Test(
    """
    a hard limit above the daemon's is lowered to it, never raised past it, and one below it \
    is the caller's, soft and hard
    """)
  func hardLimitAboveTheDaemons() {
    let w = World()
    // Without CAP_SYS_RESOURCE the daemon cannot raise a hard limit (setrlimit(2)); as root,
    // drop it from the bounding set, which is what root's capabilities after exec come from.
    let drop = getuid() == 0 ? "setpriv --bounding-set=-sys_resource" : ""
    let start = w.script(#"ulimit -n 100; exec \#(drop) $F list"#)
    #expect(start.code == 0, "\(start.stderr)")
    let above = w.script(#"ulimit -n 200; $F spawn sh -c 'ulimit -n; ulimit -Hn'"#)
    #expect(above.stdout == "100\n100\n", "\(above.stderr)")
    #expect(above.stderr == "")
    let within = w.script(#"ulimit -n 50; $F spawn sh -c 'ulimit -n; ulimit -Hn'"#)
    #expect(within.stdout == "50\n50\n", "\(within.stderr)")
  }
}

/// A new pseudo-terminal: the master, and the slave opened by name. Glibc's module does not
/// export posix_openpt, grantpt, unlockpt and ptsname (they need _XOPEN_SOURCE), so they are
/// looked up by name.
private func openPseudoTerminal() throws -> (master: FileDescriptor, slave: FileDescriptor) {
  typealias IntCall = @convention(c) (CInt) -> CInt
  typealias NameCall = @convention(c) (CInt) -> UnsafeMutablePointer<CChar>?
  func lookUp<T>(_ name: String, _: T.Type) throws -> T {
    unsafeBitCast(try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), name), "\(name)"), to: T.self)
  }
  let master = try lookUp("posix_openpt", IntCall.self)(O_RDWR | O_NOCTTY | O_CLOEXEC)
  try #require(master >= 0)
  try #require(try lookUp("grantpt", IntCall.self)(master) == 0 && lookUp("unlockpt", IntCall.self)(master) == 0)
  let name = String(cString: try #require(try lookUp("ptsname", NameCall.self)(master)))
  let slave = try Sys.open(name, .readWrite, options: FileDescriptor.OpenOptions(rawValue: O_NOCTTY))
  return (FileDescriptor(rawValue: master), slave)
}

@Suite("The session and controlling terminal a terminal relay asks for")
struct SessionAttributesTests {
  /// Prints the program's pid, session, tty_nr, parent, process group and the terminal's
  /// foreground group (proc(5)), then whether /dev/tty opens.
  static let sessionProbe = RunSpec(
    program: Array("/bin/sh".utf8),
    arguments: [
      Array("-c".utf8),
      Array(
        (#"read -r pid comm state ppid pgrp sid tty tpgid rest < /proc/$$/stat; "#
          + #"echo "$pid $sid $tty $ppid $pgrp $tpgid"; "#
          + #"if (: < /dev/tty) 2> /dev/null; then echo tty; fi"#).utf8),
    ],
    environment: [Array("PATH=/bin:/usr/bin".utf8)])

  @Test(
    """
    newSessionWithControllingTerminal: the program is in a new session whose terminal is its descriptor 0, led \
    by its parent, the monitor, and leads the terminal's foreground process group
    """)
  func newSessionWithTerminal() throws {
    let w = World()
    let pty = try openPseudoTerminal()
    defer { pty.master.closeQuietly() }
    let out = try Sys.open(w.dir + "/session.out", .writeOnly, options: [.create, .truncate])
    var c = try ForkctlConnection(socketPath: w.socket, daemonExecutable: forkctlBinary)
    var attributes = ProcessAttributes()
    attributes.flags = [.newSessionWithControllingTerminal]
    _ = try c.spawn(Self.sessionProbe, fds: [(pty.slave, 0), (out, 1)], attributes: attributes)
    pty.slave.closeQuietly()
    out.closeQuietly()
    #expect(try c.awaitStatus(forwarding: nil) == .exited(0))
    let fields = readFile(w.dir + "/session.out").split(whereSeparator: { $0 == " " || $0 == "\n" })
    try #require(fields.count == 7, "\(fields)")
    #expect(fields[1] == fields[3], "its parent, the monitor, leads its session")
    #expect(fields[1] != String(w.daemonPID), "a new session, not the daemon's")
    #expect(fields[0] == fields[4], "the program leads its process group")
    #expect(fields[4] == fields[5], "which is the terminal's foreground group")
    #expect(fields[2] != "0", "it has a controlling terminal")
    #expect(fields[6] == "tty")
  }

  @Test("without it the program has no controlling terminal, in a group of its own in the daemon's session")
  func noTerminal() throws {
    let w = World()
    let out = try Sys.open(w.dir + "/plain.out", .writeOnly, options: [.create, .truncate])
    var c = try ForkctlConnection(socketPath: w.socket, daemonExecutable: forkctlBinary)
    _ = try c.spawn(Self.sessionProbe, fds: [(out, 1)], attributes: ProcessAttributes())
    out.closeQuietly()
    #expect(try c.awaitStatus(forwarding: nil) == .exited(0))
    let fields = readFile(w.dir + "/plain.out").split(whereSeparator: { $0 == " " || $0 == "\n" })
    try #require(fields.count == 6, "\(fields)")
    #expect(fields[1] != fields[0])
    #expect(fields[2] == "0")
  }

  @Test("a forked process object already leads a group: a new session is refused there, named, not run")
  func newSessionInAForkedObject() throws {
    let w = World()
    var c = try ForkctlConnection(socketPath: w.socket, daemonExecutable: forkctlBinary)
    var attributes = ProcessAttributes()
    attributes.flags = [.newSessionWithControllingTerminal]
    var spec = Self.sessionProbe
    spec.keepControl = true
    #expect {
      _ = try c.spawn(spec, fds: [], attributes: attributes)
    } throws: { error in
      (error as? ForkctlError)?.message == "cannot start a new session: Operation not permitted"
    }
  }
}
