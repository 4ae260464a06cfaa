// A failure to start a program is blamed on what the caller did, as a shell would say it
// (issue 10, item 8): the working directory rather than the program, the program's name or
// kind, the environment and the limit it broke; never "protocol error".
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@Suite struct ErrorBlameTests {
  @Test("a working directory the worker cannot enter is named as such, 125, whatever the program")
  func workingDirectoryNotEnterable() throws {
    try requireRootAndSetpriv()
    let daemonUID: UInt32 = 64020
    let w = World()
    // Root's clients trust that user's daemon only when told to (forkctl(1), SECURITY).
    w.extraEnvironment = ["FORKCTL_DAEMON_UID=\(daemonUID)"]
    // The daemon is an unprivileged user that admits root; root's 0700 directory is closed
    // to it, and so to its workers.
    #expect(chmod(w.dir, 0o711) == 0)
    #expect(mkdir(w.socketDirectory, 0o700) == 0 && chown(w.socketDirectory, daemonUID, daemonUID) == 0)
    #expect(mkdir(w.dir + "/private", 0o700) == 0)
    let ready = try Sys.pipe()
    let daemon = try Sys.posixSpawn(
      path: setprivBinary,
      arguments: [
        "setpriv", "--reuid=\(daemonUID)", "--regid=\(daemonUID)", "--clear-groups", "--", forkctlBinary, "daemon",
        "--socket", w.socket, "--ready-fd", "3", "--allow-uid", "0",
      ],
      environment: w.environment, fds: [nil, nil, FileDescriptor.standardError, ready.write])
    ready.write.closeQuietly()
    let answer = String(decoding: (try? ready.read.readAll()) ?? [], as: UTF8.self)
    ready.read.closeQuietly()
    try #require(answer == "ready\n", "daemon start: \(answer)")
    for program in ["/usr/bin/id", "no-such-program"] {
      let r = w.script("cd \(w.dir)/private && $F spawn -- \(program)")
      #expect(r.code == 125)
      #expect(r.stderr == "forkctl: cannot change to the working directory \(w.dir)/private: Permission denied\n")
    }
    let id = w.ok(["new"])
    let run = w.script("cd \(w.dir)/private && $F run --wait \(id) -- /usr/bin/id")
    #expect(run.code == 125)
    #expect(run.stderr == "forkctl: cannot change to the working directory \(w.dir)/private: Permission denied\n")
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(daemon).exitCode == 0)
  }

  @Test("an empty program name is not found, 127, as a shell says")
  func emptyProgramName() {
    let w = World()
    let r = w.run(["spawn", "--", ""])
    #expect(r.code == 127)
    #expect(r.stderr == "forkctl: '': No such file or directory\n")
    #expect(w.script("''").code == 127, "the shell's own status")
  }

  @Test("a program path that names a directory is 'Is a directory', 126, as bash says")
  func directoryAsProgram() throws {
    try requireProgram("/usr/bin/bash", package: "bash")
    let w = World()
    #expect(mkdir(w.dir + "/adir", 0o755) == 0)
    let r = w.script("cd \(w.dir) && $F spawn -- ./adir")
    #expect(r.code == 126)
    #expect(r.stderr == "forkctl: ./adir: Is a directory\n")
    let bash = w.script("cd \(w.dir) && bash -c ./adir")
    #expect(bash.code == 126 && bash.stderr.hasSuffix("./adir: Is a directory\n"), "\(bash.stderr)")
  }

  @Test("an environment entry without '=' is named, with the rule it breaks, 125")
  func environmentEntryWithoutEquals() throws {
    let w = World()
    let out = w.dir + "/env.err"
    let e = try Sys.open(out, .writeOnly, options: [.create, .truncate])
    let pid = try Sys.posixSpawn(
      path: forkctlBinary, arguments: ["forkctl", "spawn", "--", "true"], environment: w.environment + ["NOEQUALS"],
      fds: [nil, nil, e])
    e.closeQuietly()
    #expect(try Sys.waitChild(pid).exitCode == 125)
    #expect(
      readFile(out)
        == "forkctl: cannot pass the environment entry 'NOEQUALS': each must be NAME=VALUE, without a NUL byte\n")
  }

  @Test("an environment over what one request carries is named with its size and the limit, 125")
  func environmentOverTheLimit() {
    let w = World()
    // 45 variables of 100,000 bytes: each under Linux's 128 KiB for one string, together
    // over 4 MiB, which an unlimited stack lets execve take.
    let r = w.script(
      #"""
      x=$(head -c 100000 /dev/zero | tr '\0' a); i=0
      while [ $i -lt 45 ]; do export V$i=$x; i=$((i+1)); done
      ulimit -s unlimited; exec $F spawn -- true
      """#)
    #expect(r.code == 125)
    #expect(r.stderr.hasPrefix("forkctl: cannot pass an environment of 45"), "\(r.stderr)")
    #expect(r.stderr.hasSuffix(" bytes and arguments of 4 bytes: forkctl passes at most 4194304 bytes in all\n"))
  }

  @Test("the library names the working directory a refusal blames, which the daemon knows only as a descriptor")
  func libraryNamesTheWorkingDirectory() throws {
    let (client, daemon) = try Sys.socketPair()
    defer { daemon.closeQuietly() }
    try FrameChannel(daemon).send(Reply.failure(.workingDirectoryFailed, "Permission denied").frame())
    var c = ForkctlConnection(adopting: client, socketPath: "fake")
    let dir = try Sys.open("/usr/share", .readOnly, options: .directory)
    defer { dir.closeQuietly() }
    #expect {
      _ = try c.spawn(RunSpec(program: Array("id".utf8)), fds: [], workingDirectory: dir)
    } throws: {
      ($0 as? ForkctlError)?.message == "cannot change to the working directory /usr/share: Permission denied"
    }
  }
}
