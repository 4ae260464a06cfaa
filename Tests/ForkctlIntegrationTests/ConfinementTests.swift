// A client confined by namespaces or a seccomp filter cannot get, through the daemon (same
// uid), a program without that confinement (issue 10, item 4): it is refused with a clear
// error. The clients are made with unshare(1) and a seccomp filter installed by Python.
import ForkctlSys
import Glibc
import Testing

extension World {
  /// Runs `command` with the world's environment; stdout and stderr captured.
  func runCommand(_ command: [String], tag: String) -> Outcome {
    let out = "\(dir)/\(tag).out"
    let err = "\(dir)/\(tag).err"
    let o = try! Sys.open(out, .writeOnly, options: [.create, .truncate])
    let e = try! Sys.open(err, .writeOnly, options: [.create, .truncate])
    let pid = try! Sys.posixSpawn(path: command[0], arguments: command, environment: environment, fds: [nil, o, e])
    o.closeQuietly()
    e.closeQuietly()
    let status = try! Sys.waitChild(pid)
    return Outcome(status: status, stdout: readFile(out), stderr: readFile(err))
  }
}

@Suite struct ConfinementTests {
  /// Installs an allow-everything seccomp filter (after no_new_privs, as an unprivileged
  /// process must), then executes argv[1:]: a client under a filter the daemon does not have.
  static let underSeccomp = """
    import ctypes, os, struct, sys
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    SECCOMP_RET_ALLOW = 0x7fff0000
    insn = struct.pack("HBBI", 0x06, 0, 0, SECCOMP_RET_ALLOW)   # BPF_RET|BPF_K
    buf = ctypes.create_string_buffer(insn)
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(1, ctypes.cast(buf, ctypes.c_void_p))
    assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    assert libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0, ctypes.get_errno()
    os.execv(sys.argv[1], sys.argv[1:])
    """

  @Test(
    """
    a client in another mount or network namespace is refused, and so is one under a seccomp \
    filter; the same command unconfined is served
    """,
    arguments: ["mnt", "net", "seccomp"])
  func confinedClientsAreRefused(_ confinement: String) throws {
    try #require(getuid() == 0, "unshare needs root: run the tests as root (CI does)")
    try requireProgram("/usr/bin/unshare", package: "util-linux")
    let w = World()
    defer { _ = w.run(["shutdown"]) }
    // The daemon starts unconfined.
    #expect(w.run(["spawn", "true"]).code == 0)
    let script = w.dir + "/seccomp.py"
    writeFile(script, Self.underSeccomp)
    let spawn = [forkctlBinary, "spawn", "--", "/bin/echo", "escaped"]
    let command: [String] =
      switch confinement {
      case "mnt": ["/usr/bin/unshare", "--mount"] + spawn
      case "net": ["/usr/bin/unshare", "--net"] + spawn
      default: ["/usr/bin/python3", script] + spawn
      }
    let r = w.runCommand(command, tag: confinement)
    #expect(r.code == 125, "\(confinement): exit \(r.code), stdout \(r.stdout), stderr \(r.stderr)")
    #expect(!r.stdout.contains("escaped"))
    let expected = confinement == "seccomp" ? "seccomp filter" : "another \(confinement) namespace"
    #expect(r.stderr.contains(expected), "\(confinement): \(r.stderr)")
    // Unconfined, the same command is served.
    let plain = w.runCommand(spawn, tag: confinement + "-plain")
    #expect(plain.code == 0 && plain.stdout == "escaped\n", "\(plain.stderr)")
  }
}

@Suite struct ConfinementAppliedTests {
  /// The program's own /proc/self/status lines for `keys`, run through spawn by `prefix`.
  static func statusLines(_ w: World, _ prefix: [String], tag: String) -> Outcome {
    w.runCommand(
      prefix + [
        forkctlBinary, "spawn", "--", "/bin/grep", "-E", "^(NoNewPrivs|CapBnd|CapEff|CapPrm)", "/proc/self/status",
      ],
      tag: tag)
  }

  @Test(
    """
    a client with no_new_privs or a smaller capability bounding set gets programs held to the \
    same, as a direct child would be
    """
  )
  func programsAreHeldToTheClientsLimits() throws {
    try #require(getuid() == 0, "setpriv of capabilities needs root: run the tests as root (CI does)")
    try requireProgram(setprivBinary, package: "util-linux")
    let w = World()
    defer { _ = w.run(["shutdown"]) }
    #expect(w.run(["spawn", "true"]).code == 0)  // the daemon starts unconfined, as root
    let plain = Self.statusLines(w, [], tag: "plain")
    #expect(plain.stdout.contains("NoNewPrivs:\t0"), "\(plain.stdout) \(plain.stderr)")
    let nnp = Self.statusLines(w, [setprivBinary, "--no-new-privs", "--"], tag: "nnp")
    #expect(nnp.code == 0, "\(nnp.stderr)")
    #expect(nnp.stdout.contains("NoNewPrivs:\t1"), "\(nnp.stdout)")
    // Directly, under the same setpriv: the reference.
    let direct = w.runCommand(
      [setprivBinary, "--bounding-set=-net_raw,-sys_admin", "--", "/bin/grep", "^CapBnd", "/proc/self/status"],
      tag: "direct")
    let bounded = Self.statusLines(w, [setprivBinary, "--bounding-set=-net_raw,-sys_admin", "--"], tag: "caps")
    #expect(bounded.code == 0, "\(bounded.stderr)")
    let line = direct.stdout.split(separator: "\n").first.map(String.init) ?? "?"
    #expect(bounded.stdout.contains(line), "direct \(line); through spawn: \(bounded.stdout)")
    #expect(!plain.stdout.contains(line), "the unconfined program has the full set: \(plain.stdout)")
  }
}
