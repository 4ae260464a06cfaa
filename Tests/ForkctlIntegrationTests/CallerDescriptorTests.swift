// The descriptors a spawned program gets are the caller's, never forkctl's own (issue 10,
// items 1 and 7): a number the caller left closed is refused, not filled with forkctl's
// signalfd, working directory or daemon connection; --inherit-fds passes what a direct child
// would inherit.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@Suite struct CallerDescriptorTests {
  @Test(
    "spawn --fd N with N closed in the caller is 'descriptor N is not open', 125, not forkctl's own",
    arguments: [3, 4, 5])
  func closedDescriptorRefused(_ n: Int) {
    let w = World()
    // The daemon already runs, as in the issue: forkctl's signalfd, working directory and
    // connection took 3, 4 and 5.
    w.ok(["list"])
    let r = w.script("$F spawn --fd \(n) -- sh -c 'ls -l /proc/$$/fd/\(n)' \(n)>&-")
    #expect(r.code == 125)
    #expect(r.stderr == "forkctl: descriptor \(n) is not open\n")
    #expect(r.stdout == "", "the program ran with descriptor \(n): \(r.stdout)")
  }

  @Test("spawn --fd 0 with stdin closed is refused; without --fd the program's stdin is /dev/null")
  func closedStandardInput() {
    let w = World()
    let asked = w.script("$F spawn --fd 0 -- true <&-")
    #expect(asked.code == 125)
    #expect(asked.stderr == "forkctl: descriptor 0 is not open\n")
    let implicit = w.script(#"$F spawn -- sh -c 'readlink /proc/$$/fd/0' <&-"#)
    #expect(implicit.code == 0, "\(implicit.stderr)")
    #expect(implicit.stdout == "/dev/null\n")
  }

  @Test("send-fd of a descriptor closed in the caller is refused, 125, and the worker gets nothing")
  func sendFDOfClosedDescriptor() {
    let w = World()
    let id = w.ok(["new"])
    // Sent without a target, a descriptor lands on the worker's lowest free number: 0.
    let r = w.script(
      #"""
      $F send-fd \#(id) 3 3>&-; echo "status $?"
      $F send-fd \#(id) 1=1 && $F run --wait \#(id) -- sh -c 'readlink /proc/$$/fd/0'
      """#)
    #expect(r.stderr == "forkctl: descriptor 3 is not open\n")
    #expect(r.stdout == "status 125\n/dev/null\n")
  }

  @Test("a program asked for a descriptor the caller left closed cannot keep the client's connection and outlive it")
  func killOnDisconnectHolds() {
    let w = World()
    w.ok(["list"])
    // With 3 to 5 closed, forkctl's own daemon connection took 5: a program holding it kept
    // the connection open after forkctl was killed, and was never sent SIGTERM.
    let closed = w.startScript("exec $F spawn --fd 5 -- sleep 47 5>&-", tag: "closed")
    _ = eventually("forkctl exits or its program starts") {
      !isAlive(closed.pid) || !workers(w, running: "sleep 47").isEmpty
    }
    kill(closed.pid, SIGKILL)
    let status = try! Sys.waitChild(closed.pid)
    #expect(status.exitCode == 125, "forkctl: \(status)")
    #expect(readFile(closed.err) == "forkctl: descriptor 5 is not open\n")
    #expect(eventually("the program ends") { workers(w, running: "sleep 47").isEmpty })
    for pid in workers(w, running: "sleep 47") { kill(pid, SIGKILL) }
    // With the caller's own 5 passed, killing forkctl still ends the program (SIGTERM).
    let open = w.startScript("exec $F spawn --fd 5 -- sleep 48 5</dev/null", tag: "open")
    #expect(eventually("the program starts") { !workers(w, running: "sleep 48").isEmpty })
    kill(open.pid, SIGKILL)
    _ = try! Sys.waitChild(open.pid)
    #expect(eventually("the program ends", timeout: 5) { workers(w, running: "sleep 48").isEmpty })
  }

  @Test("with stderr closed, forkctl's error text goes nowhere: never into its connection to the daemon")
  func closedStandardErrorKeepsTheConnectionClean() throws {
    let w = World()
    // A daemon of our own, which answers the one request with a refusal and then reads
    // whatever else the client sends.
    let path = w.dir + "/fake.sock"
    let listener = try UnixSocket.listen(at: path)
    defer { listener.closeQuietly() }
    let client = w.startScript("exec 2>&-; exec $F kill --socket \(path) 1", tag: "fake")
    try #require(eventually("the client connects") { Sys.isReadableNow(listener) })
    let connection = try #require(try UnixSocket.accept(listener))
    defer { connection.closeQuietly() }
    try connection.setNonblocking(false)
    var channel = FrameChannel(connection)
    guard case .frame(let frame, _) = try channel.receive() else {
      Issue.record("no request from the client")
      return
    }
    #expect(try Request(frame) == .kill(signal: SIGTERM, refs: [Array("1".utf8)]))
    try channel.send(Reply.failure(.unknownProcess, "no process object 1").frame())
    #expect(try Sys.waitChild(client.pid).exitCode == 125)
    let rest = try connection.readAll()
    #expect(rest.isEmpty, "the client sent after its request: \(String(decoding: rest, as: UTF8.self))")
  }

  @Test("spawn --inherit-fds passes a script's exec 3>log at 3, as a direct child gets it; without it, 3 is closed")
  func inheritFDsPassesRedirection() {
    let w = World()
    let r = w.script(
      #"""
      exec 3>"$L"; $F spawn --inherit-fds sh -c 'echo hi >&3'; echo "status $?"
      $F spawn sh -c 'echo lost >&3' 2>/dev/null; echo "status $?"
      """#.replacing("$L", with: w.dir + "/redirect.log"))
    #expect(r.stdout == "status 0\nstatus 2\n", "\(r.stderr)")
    #expect(readFile(w.dir + "/redirect.log") == "hi\n")
  }

  @Test("spawn --inherit-fds passes exactly the caller's descriptors: none of forkctl's own")
  func inheritFDsPassesNothingOfForkctls() {
    let w = World()
    // The shell's test builtin opens nothing, where a glob or ls would list its own.
    let r = w.script(
      #"""
      exec 7</dev/null
      $F spawn --inherit-fds sh -c 'n=0; while [ $n -lt 100 ]; do [ -e /proc/$$/fd/$n ] && echo $n; n=$((n+1)); done'
      """#)
    #expect(r.code == 0, "\(r.stderr)")
    #expect(r.stdout == "0\n1\n2\n7\n")
  }

  @Test("spawn --inherit-fds with more descriptors than a request carries says so, 125")
  func inheritFDsOverTheLimit() {
    let w = World()
    // bash: dash takes one digit in a redirection.
    writeFile(
      w.dir + "/many.sh",
      #"for ((i = 3; i <= 72; i++)); do eval "exec $i</dev/null"; done; $F spawn --inherit-fds true"#)
    let r = w.script("bash \(w.dir)/many.sh")
    #expect(r.code == 125)
    #expect(r.stderr == "forkctl: cannot pass 73 descriptors: one request carries at most 63\n")
  }

  @Test("a sub-make run through spawn --inherit-fds has make's jobserver, as one run directly does")
  func makeJobserver() throws {
    try requireProgram("/usr/bin/make", package: "make")
    let w = World()
    // The sub-make's recipe (+: make keeps its jobserver descriptors open for it) reports
    // whether the descriptors named in MAKEFLAGS are open.
    writeFile(
      w.dir + "/check.sh",
      #"""
      auth=$(printf '%s\n' $MAKEFLAGS | sed -n 's/^--jobserver-auth=//p')
      r=${auth%,*} w=${auth#*,}
      if [ -n "$auth" ] && [ -e /proc/$$/fd/$r ] && [ -e /proc/$$/fd/$w ]; then echo "jobserver open"
      else echo "no jobserver"; fi
      """#)
    writeFile(w.dir + "/sub.mk", "all:\n\t+@sh check.sh\n")
    writeFile(w.dir + "/direct.mk", "all:\n\t+@$(MAKE) --no-print-directory -f sub.mk\n")
    writeFile(w.dir + "/spawn.mk", "all:\n\t+@$(F) spawn --inherit-fds $(MAKE) --no-print-directory -f sub.mk\n")
    writeFile(w.dir + "/plain.mk", "all:\n\t+@$(F) spawn $(MAKE) --no-print-directory -f sub.mk\n")
    let direct = w.script("cd \(w.dir) && make -s -j4 -f direct.mk")
    #expect(direct.stdout == "jobserver open\n", "\(direct.stderr)")
    let spawned = w.script("cd \(w.dir) && make -s -j4 -f spawn.mk F=$F")
    #expect(spawned.code == 0)
    #expect(spawned.stdout == direct.stdout)
    #expect(!spawned.stderr.contains("jobserver unavailable"), "\(spawned.stderr)")
    // What the manual says is passed by default: 0, 1 and 2 only, and the sub-make runs -j1.
    let plain = w.script("cd \(w.dir) && make -s -j4 -f plain.mk F=$F")
    #expect(plain.stdout == "no jobserver\n")
  }

  @Test("the library refuses a descriptor that is not open, or its own connection, before sending anything")
  func libraryChecksDescriptors() throws {
    let (client, daemon) = try Sys.socketPair()
    defer { daemon.closeQuietly() }
    var c = ForkctlConnection(adopting: client, socketPath: "fake")
    let closed = FileDescriptor(rawValue: 1020)
    let spec = RunSpec(program: Array("true".utf8))
    func refused(_ message: String) -> (any Error) -> Bool {
      { ($0 as? ForkctlError).map { $0.code == .badDescriptor && $0.message == message } ?? false }
    }
    #expect(performing: { _ = try c.spawn(spec, fds: [(closed, 3)]) }, throws: refused("descriptor 1020 is not open"))
    #expect(performing: { try c.sendFDs("1", [(closed, nil)]) }, throws: refused("descriptor 1020 is not open"))
    let own = "descriptor \(client.rawValue) is forkctl's own connection to the daemon"
    #expect(performing: { _ = try c.spawn(spec, fds: [(client, 3)]) }, throws: refused(own))
    #expect(!Sys.isReadableNow(daemon), "a request was sent")
  }
}
