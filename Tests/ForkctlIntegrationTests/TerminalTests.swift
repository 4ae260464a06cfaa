// `forkctl spawn` in a real terminal: an interactive bash in tmux types the commands and reads
// the screen, as a user would. Needs the Debian packages tmux and less (Scripts/test installs
// them). Every wait is for text on the screen, with a deadline.
import ForkctlSys
import Glibc
import Testing

let tmuxBinary = "/usr/bin/tmux"
let lessBinary = "/usr/bin/less"
let vimBinary = "/usr/bin/vim"

/// An interactive bash in a tmux session of its own (80 columns, 24 rows), whose forkctl
/// calls use `world`'s daemon; `$F` is the forkctl under test.
final class TerminalSession {
  let world: World
  private let server: String
  private var counter = 0

  init(_ world: World) throws {
    try requireProgram(tmuxBinary, package: "tmux")
    self.world = world
    server = world.dir + "/tmux.sock"
    let shell = [
      "env", "-i", "FORKCTL_SOCKET=\(world.socket)", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=\(world.dir)",
      "TERM=screen", "PS1=$ ", "HISTFILE=/dev/null", "F=\(absoluteForkctlBinary)", "bash", "--norc", "--noprofile",
      "-i",
    ].joined(separator: " ")
    tmux(["new-session", "-d", "-x", "80", "-y", "24", shell])
    #expect(waitForLine("$"), "no shell prompt in tmux:\n\(screen())")
  }

  deinit { tmux(["kill-server"]) }

  /// Runs tmux with `arguments` on this session's server; its standard output.
  @discardableResult
  func tmux(_ arguments: [String]) -> String {
    counter += 1
    let out = "\(world.dir)/tmux.out.\(counter)"
    let o = try! Sys.open(out, .writeOnly, options: [.create, .truncate])
    let pid = try! Sys.posixSpawn(
      path: tmuxBinary, arguments: ["tmux", "-S", server] + arguments, environment: ["PATH=/usr/bin:/bin"],
      fds: [nil, o, o])
    o.closeQuietly()
    _ = try! Sys.waitChild(pid)
    return readFile(out)
  }

  /// Types `text` and presses Enter.
  func type(_ text: String) {
    tmux(["send-keys", "-l", text])
    press("Enter")
  }

  /// Presses one key by tmux's name for it ("C-c", "C-z", "Enter").
  func press(_ key: String) { tmux(["send-keys", key]) }

  /// The screen's text, trailing spaces left out.
  func screen() -> String {
    tmux(["capture-pane", "-p"]).split(separator: "\n", omittingEmptySubsequences: false)
      .map { String($0).trimmingTrailingSpaces() }.joined(separator: "\n")
  }

  /// Waits until the screen shows what `condition` looks for, or `timeout` seconds have
  /// passed; it looks every 50 ms, each look being a tmux process.
  func waitForScreen(timeout: Double = 10, _ condition: (String) -> Bool) -> Bool {
    let deadline = Sys.monotonicMilliseconds() + Int64(timeout * 1000)
    while !condition(screen()) {
      if Sys.monotonicMilliseconds() > deadline { return false }
      usleep(50_000)
    }
    return true
  }

  /// Waits until `text` is on the screen.
  func waitFor(_ text: String) -> Bool { waitForScreen { $0.contains(text) } }

  /// Waits until a line of the screen is exactly `line`.
  func waitForLine(_ line: String) -> Bool { waitForScreen { $0.split(separator: "\n").contains { $0 == line } } }

  /// Clears the screen and tmux's history of it, so that what comes next is new.
  func clear() {
    type("clear")
    _ = waitForScreen { $0.split(separator: "\n").filter { !$0.isEmpty } == ["$"] }
  }
}

@Suite("terminal: a pseudo-terminal of its own under spawn, relayed to the caller's", .serialized)
struct TerminalTests {
  @Test("Ctrl-C ends the program as it would a direct one, and the terminal is restored exactly")
  func interruptKeyEndsProgram() throws {
    let t = try TerminalSession(World())
    t.type("S=$(stty -g); $F spawn -- sh -c 'echo started; exec sleep 100'")
    #expect(t.waitForLine("started"), "\(t.screen())")
    t.press("C-c")
    // Typed only once the prompt is back: what the relay has read when the program ends is
    // lost, where a direct program would have left it in the terminal for the shell.
    #expect(t.waitForLine("$"), "\(t.screen())")
    // Not in the same command line: bash abandons a list whose command died of SIGINT.
    t.type("echo \"rc=$?\"")
    #expect(t.waitForLine("rc=130"), "\(t.screen())")
    t.type("[ \"$(stty -g)\" = \"$S\" ] && echo same-settings")
    #expect(t.waitForLine("same-settings"), "\(t.screen())")
  }

  @Test("with a terminal of its own the program still gets the caller's umask and resource limits")
  func terminalKeepsCallerAttributes() throws {
    let t = try TerminalSession(World())
    t.type("(umask 027; ulimit -n 100; $F spawn -- sh -c 'echo \"attributes $(umask) $(ulimit -n)\"')")
    #expect(t.waitForLine("attributes 0027 100"), "\(t.screen())")
  }

  @Test("the program's controlling terminal is its own: a /dev/tty prompt is answered")
  func programCanOpenDevTty() throws {
    let t = try TerminalSession(World())
    t.type("$F spawn -- sh -c 'printf \"name? \" >/dev/tty; read x </dev/tty; echo \"hello $x\"'; echo \"rc=$?\"")
    #expect(t.waitForLine("name?"), "\(t.screen())")
    t.type("bob")
    #expect(t.waitForLine("hello bob"), "\(t.screen())")
    #expect(t.waitForLine("rc=0"), "\(t.screen())")
  }

  @Test("Ctrl-Z in less stops the job as the shell sees it, fg brings less back, q ends it")
  func suspendAndResumeLess() throws {
    try requireProgram(lessBinary, package: "less")
    try Self.suspendAndResume("less", quit: "q", status: 0)
  }

  @Test(
    """
    Ctrl-Z in vim, which stops itself from its own SIGTSTP handler, stops the job; fg brings vim back, \
    and its exit status (:cq 3) is forkctl's
    """)
  func suspendAndResumeVim() throws {
    try requireProgram(vimBinary, package: "vim")
    try Self.suspendAndResume("vim -u NONE -i NONE -N -n", quit: ":cq 3\n", status: 3)
  }

  /// Shows a 100-line file with `viewer` under spawn, presses Ctrl-Z, checks that the shell
  /// reports the job stopped, brings it back with `fg` (the viewer redraws when continued),
  /// types `quit` and checks the exit status and that the terminal's settings are as before.
  static func suspendAndResume(_ viewer: String, quit: String, status: Int) throws {
    let t = try TerminalSession(World())
    let file = t.world.dir + "/text"
    writeFile(file, (1...100).map { "line \($0)" }.joined(separator: "\n") + "\n")
    // Each command on a line of its own: bash goes on with a list past a stopped job.
    t.type("S=$(stty -g); $F spawn -- \(viewer) \(file)")
    #expect(t.waitForLine("line 23"), "\(t.screen())")
    t.press("C-z")
    #expect(t.waitFor("Stopped"), "\(viewer) did not stop:\n\(t.screen())")
    t.clear()
    t.type("jobs -l")
    #expect(t.waitFor("Stopped"), "\(t.screen())")
    t.clear()
    t.type("fg")
    #expect(t.waitForLine("line 23"), "\(viewer) did not come back:\n\(t.screen())")
    t.tmux(["send-keys", "-l", quit])
    #expect(t.waitForLine("$"), "\(t.screen())")
    t.type("echo \"rc=$?\"")
    #expect(t.waitForLine("rc=\(status)"), "\(t.screen())")
    t.type("[ \"$(stty -g)\" = \"$S\" ] && echo same-settings")
    #expect(t.waitForLine("same-settings"), "\(t.screen())")
  }

  @Test(
    "a background spawn that reads the terminal is stopped, as by SIGTTIN, and does not take the shell's input"
  )
  func backgroundReaderIsStopped() throws {
    let t = try TerminalSession(World())
    let file = t.world.dir + "/typed"
    // set -b: bash reports the stop at once, not before its next prompt.
    t.type("set -b; $F spawn -- cat > \(file) &")
    #expect(t.waitFor("Stopped"), "\(t.screen())")
    t.type("echo shell-got-it")
    #expect(t.waitForLine("shell-got-it"), "\(t.screen())")
    #expect(readFile(file) == "", "the background program read the shell's input")
    t.clear()
    t.type("fg")
    #expect(t.waitFor("cat > \(file)"), "\(t.screen())")
    t.type("for-cat")
    t.press("C-d")
    #expect(t.waitForLine("$"), "\(t.screen())")
    #expect(eventually("cat's file") { readFile(file) == "for-cat\n" }, "\(readFile(file))")
  }

  @Test("bash -i under spawn has job control: a background job, jobs, fg, Ctrl-C")
  func interactiveBashHasJobControl() throws {
    let t = try TerminalSession(World())
    t.type("$F spawn -- env PS1='inner$ ' bash --norc --noprofile -i; echo \"rc=$?\"")
    #expect(t.waitForLine("inner$"), "\(t.screen())")
    #expect(!t.screen().contains("no job control"), "\(t.screen())")
    t.type("sleep 100 &")
    t.type("jobs")
    #expect(t.waitFor("Running"), "\(t.screen())")
    t.type("fg")
    #expect(t.waitForLine("sleep 100"), "\(t.screen())")
    t.press("C-c")
    t.type("echo back-in-bash")
    #expect(t.waitForLine("back-in-bash"), "\(t.screen())")
    t.type("exit 7")
    #expect(t.waitForLine("rc=7"), "\(t.screen())")
  }

  @Test("a window resize reaches the program's terminal (stty size)")
  func windowResizeReachesProgram() throws {
    let t = try TerminalSession(World())
    t.type("$F spawn -- sh -c 'stty size; read x; stty size'")
    #expect(t.waitForLine("24 80"), "\(t.screen())")
    t.tmux(["resize-window", "-x", "100", "-y", "30"])
    #expect(t.waitForScreen { $0.split(separator: "\n", omittingEmptySubsequences: false).count >= 30 })
    t.press("Enter")
    #expect(t.waitForLine("30 100"), "\(t.screen())")
  }

  @Test(
    """
    with a terminal, a signal sent to the process object reaches the program behind its monitor, and a SIGKILL \
    ends both: forkctl exits with the program's status, 127 for one not found
    """)
  func monitorRelaysSignalsAndStatus() {
    let w = World()
    let marker = "monitored-\(getpid())"
    // SIGHUP ignored: the terminal's hang-up when its session leader dies does not end it.
    let program = #"trap '' HUP; trap 'echo usr1; exit 4' USR1; echo ready; while :; do sleep 0.05; done"#
    let usr1 = w.startScript("exec $F spawn --tty=always --name first -- sh -c \"\(program)\"", tag: "usr1")
    #expect(eventually("the program's ready line") { readFile(usr1.out).contains("ready") }, "\(readFile(usr1.err))")
    w.ok(["kill", "-USR1", "first"])
    #expect((try? Sys.waitChild(usr1.pid))?.exitCode == 4, "\(readFile(usr1.err))")
    #expect(readFile(usr1.out).contains("usr1"))
    let killed = w.startScript(
      "exec $F spawn --tty=always --name second -- sh -c \"\(program)\" \(marker)", tag: "kill")
    #expect(
      eventually("the program's ready line") { readFile(killed.out).contains("ready") }, "\(readFile(killed.err))")
    #expect(allProcessIDs().contains { commandLine($0).hasSuffix(marker) })
    w.ok(["kill", "-KILL", "second"])
    #expect((try? Sys.waitChild(killed.pid))?.signal == SIGKILL, "\(readFile(killed.err))")
    #expect(
      eventually("the program to end with its monitor") {
        !allProcessIDs().contains { commandLine($0).hasSuffix(marker) }
      })
    // A program that cannot be executed: the failure comes back from behind the monitor.
    let missing = w.run(["spawn", "--tty=always", "--", "/nonexistent"])
    #expect(missing.code == 127, "\(missing.stderr)")
    #expect(missing.stderr == "forkctl: /nonexistent: No such file or directory\n")
  }

  @Test("without a terminal the program gets none, unless --tty always; a bad --tty is a usage error")
  func terminalOnlyWhenAsked() {
    let w = World()
    #expect(w.run(["spawn", "--", "tty"]).stdout == "not a tty\n")
    let always = w.run(["spawn", "--tty=always", "--", "tty"])
    #expect(always.stdout.hasPrefix("/dev/pts/"), "\(always.stdout) \(always.stderr)")
    #expect(w.run(["spawn", "--tty", "never", "--", "tty"]).stdout == "not a tty\n")
    let bad = w.run(["spawn", "--tty", "sometimes", "--", "true"])
    #expect(bad.code == 125 && bad.stderr.contains("--tty sometimes"), "\(bad.stderr)")
  }
}
