// Faults (issue 5): SIGKILL of a template in the middle of a fork, of a worker, of a client
// in the middle of a request or holding half-sent descriptors, of the daemon itself;
// descriptor exhaustion; a client that vanishes before its reply (EPIPE); a worker that
// closes or replaces its stdio. Each test checks that the daemon keeps serving and that
// every exit status that existed is still reported exactly.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

// MARK: Helpers

/// CPU time (user + system, in clock ticks of 10 ms) a process has used (/proc/PID/stat
/// fields 14 and 15).
private func cpuTicks(_ pid: Int32) -> Int {
  guard let f = statFields(pid), f.count > 12 else { return 0 }
  return (Int(f[11]) ?? 0) + (Int(f[12]) ?? 0)
}

/// The daemon's descriptor count once it has noticed that every client went away (a
/// client that has exited may not have been dropped yet).
private func settledDescriptorCount(_ daemon: Int32) -> Int {
  _ = eventually("no client connection left") { clientConnections(of: daemon).isEmpty }
  return openDescriptors(daemon).count
}

/// Whether `fd` becomes readable (or hung up) within `milliseconds`.
private func readableWithin(_ fd: FileDescriptor, milliseconds: Int32) -> Bool {
  var p = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
  while true {
    let n = poll(&p, 1, milliseconds)
    if n >= 0 { return n > 0 }
    if errno != EINTR { return false }
  }
}

/// Sends `request` on `fd` and returns the reply, or nil when none came within 5 s (a
/// connection left in the listener's backlog gets none). A send that fails because the
/// daemon already refused the connection and closed it (EPIPE) is no failure: the
/// refusal is waiting to be read.
private func exchange(_ fd: FileDescriptor, _ request: Request, fds: [FileDescriptor] = []) -> Reply? {
  let channel = FrameChannel(fd)
  _ = try? channel.send(request.frame(), fds: fds)
  return nextReply(fd, channel)
}

private func nextReply(_ fd: FileDescriptor, _ channel: FrameChannel) -> Reply? {
  var channel = channel
  guard readableWithin(fd, milliseconds: 5000), case .frame(let f, let got)? = try? channel.receive() else {
    return nil
  }
  for g in got { g.closeQuietly() }
  return try? Reply(f)
}

private func failureText(_ reply: Reply?) -> (code: ErrorCode, message: String)? {
  guard case .failure(let code, let message)? = reply else { return nil }
  return (code, String(decoding: message, as: UTF8.self))
}

/// Reads `fd` to end of file, failing (rather than hanging) when it stays silent for 5 s.
private func readToEnd(_ fd: FileDescriptor) -> String? {
  var out: [UInt8] = []
  while true {
    guard readableWithin(fd, milliseconds: 5000), let chunk = try? fd.readSome(max: 4096) else { return nil }
    if chunk.isEmpty { return String(decoding: out, as: UTF8.self) }
    out += chunk
  }
}

/// The "pipe:[inode]" name of one of this process's descriptors, as /proc shows it in
/// whatever process holds the same pipe.
private func pipeName(_ fd: FileDescriptor) -> String {
  openDescriptors(getpid())[fd.rawValue] ?? "?"
}

/// Whether the pipe `read` is at end of file: no process holds its write end any more.
private func atEndOfFile(_ read: FileDescriptor) -> Bool {
  Sys.isReadableNow(read) && (try? read.readSome(max: 1))?.isEmpty == true
}

extension World {
  /// Waits for a script started with `startScript` to end, at most 10 s; a script that
  /// hangs is killed and reported rather than left to hang the suite.
  func finish(
    _ s: (pid: Int32, out: String, err: String), _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) -> Outcome {
    if !eventually(what, timeout: 10, { statFields(s.pid)?.first == "Z" }) {
      Issue.record("\(what) hangs", sourceLocation: sourceLocation)
      kill(s.pid, SIGKILL)
    }
    let status = try! Sys.waitChild(s.pid)
    return Outcome(status: status, stdout: readFile(s.out), stderr: readFile(s.err))
  }
}

/// A client that sends the header of a send-fds frame promising 2 descriptors and 64
/// payload bytes, with its descriptors 3 and 0 attached, then 4 of those bytes, closes its
/// own copy of 3, says "sent" and sleeps until it is killed. Python's standard library,
/// as forkctl-protocol(7) describes the frame.
private let halfFrameClient = #"""
  import array, os, socket, struct, sys, time
  s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  s.connect(sys.argv[1])
  header = struct.pack("<BBHI", 1, 0x05, 2, 64)
  s.sendmsg([header + b"\0\0\0\1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [3, 0]))])
  os.close(3)
  print("sent", flush=True)
  time.sleep(600)
  """#

// MARK: Tests

@Suite struct FaultTests {
  @Test(
    """
    SIGKILL of a template with a fork and two spawns in flight: each client gets a clear error, the daemon goes on, \
    every status stays exact, nothing leaks
    """
  )
  func templateKilledMidFork() throws {
    let w = World()
    #expect(w.run(["spawn", "true"]).code == 0)  // the daemon and its default template
    let daemon = w.daemonPID
    let baseline = settledDescriptorCount(daemon)
    // A template that holds a descriptor: the write end of a pipe, on 5, which its workers
    // inherit. The pipe reaches end of file only once nobody holds that end any more.
    let gate = try Sys.pipe()
    let holder = w.ok(["exec", "--name", "holder"])
    w.ok(["send-fd", "holder", "5=3"], fds: [3: gate.write])
    gate.write.closeQuietly()
    // Workers forked before the fault: one has exited, one still runs.
    let exited = w.ok(["fork", "holder"])
    w.ok(["run", exited, "--", "sh", "-c", "exit 7"])
    let running = w.ok(["fork", "holder"])
    w.ok(["run", running, "--", "sleep", "100"])
    // "In the middle": the template is stopped, so the commands of a fork, a spawn and a
    // spawn that keeps its control socket wait unread on its control socket.
    let template = w.pid(of: holder)
    kill(template, SIGSTOP)
    #expect(eventually("template stopped") { statFields(template)?.first == "T" })
    let fork = w.startScript("exec $F fork holder", tag: "fork")
    let spawn = w.startScript("exec $F spawn --from holder sh -c 'exit 3'", tag: "spawn")
    let keep = w.startScript("exec $F spawn --keep-control --from holder sh -c 'exit 4'", tag: "keep")
    // A listed record in "starting" means the daemon has queued its fork command.
    #expect(eventually("three forks queued") { w.entries().filter { $0.state == "starting" }.count == 3 })
    kill(template, SIGKILL)

    let forked = w.finish(fork, "fork client")
    #expect(forked.code == 125)
    #expect(forked.stderr == "forkctl: process \(holder) (holder) died while forking\n")
    for (client, what) in [(spawn, "spawn client"), (keep, "keep-control spawn client")] {
      let r = w.finish(client, what)
      #expect(r.code == 125, "\(what)")
      #expect(r.stderr == "forkctl: cannot spawn sh: process \(holder) (holder) died while forking\n", "\(what)")
    }
    // Every status that existed: the worker that had exited, the one that still ran (ended
    // now by a signal), and the template's own death.
    #expect(w.run(["kill", "-s", "USR1", running]).code == 0)
    let statuses = w.run(["wait", "--print", exited, running, "holder"])
    #expect(statuses.stdout == "\(exited) 7\n\(running) \(128 + SIGUSR1)\n\(holder) \(128 + SIGKILL)\n")
    #expect(statuses.code == 128 + SIGKILL)
    // The daemon goes on: nothing is left starting, the template is refused as dead, new
    // work is done, and no descriptor of the template or its unborn children is kept.
    #expect(!w.entries().contains { $0.state == "starting" })
    let refused = w.run(["fork", "holder"])
    #expect(refused.code == 125 && refused.stderr == "forkctl: cannot fork process \(holder) (holder): it has exited\n")
    #expect(w.run(["spawn", "sh", "-c", "exit 5"]).code == 5)
    #expect(eventually("daemon fds back to baseline") { openDescriptors(daemon).count == baseline })
    #expect(eventually("nobody holds the template's descriptor") { atEndOfFile(gate.read) })
    gate.read.closeQuietly()
    #expect(eventually("no zombie") { zombieChildren(of: daemon).isEmpty })
    #expect(w.daemonPID == daemon && isAlive(daemon))
  }

  @Test("SIGKILL of a worker: wait reports signal 9, spawn and run --wait die of it, the library says .signaled(9)")
  func workerKilled() throws {
    let w = World()
    #expect(w.run(["spawn", "true"]).code == 0)
    let daemon = w.daemonPID
    let baseline = settledDescriptorCount(daemon)
    // spawn: the client re-raises the worker's SIGKILL.
    let spawned = w.startScript("exec $F spawn sleep 100", tag: "spawn")
    // run --wait: the same.
    let waited = w.startScript("id=$($F new) && exec $F run --wait \"$id\" -- sleep 101", tag: "runwait")
    // new/run without waiting: wait, wait --print and list report it.
    let id = w.ok(["new"])
    w.ok(["run", id, "--", "sleep", "102"])
    #expect(
      eventually("workers running") {
        workers(w, running: "sleep 100").count == 1 && workers(w, running: "sleep 101").count == 1
      })
    for program in ["sleep 100", "sleep 101"] { kill(workers(w, running: program)[0], SIGKILL) }
    kill(w.pid(of: id), SIGKILL)
    for (client, what) in [(spawned, "spawn client"), (waited, "run --wait client")] {
      let r = w.finish(client, what)
      #expect(r.status.signal == SIGKILL && !r.status.coreDumped, "\(what): \(r.status) \(r.stderr)")
      #expect(r.stderr == "", "\(what)")
    }
    let r = w.run(["wait", "--print", id])
    #expect(r.code == 128 + SIGKILL && r.stdout == "\(id) \(128 + SIGKILL)\n")
    #expect(
      w.ok(["list", "--json"]).contains(
        #""id":\#(id),"name":null,"role":"process","pid":\#(w.pid(of: id)),"parent":1,"state":"exited","status":137,"#
          + #""exit_code":null,"signal":9,"core_dumped":false"#
      ))
    // The library.
    do {
      let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
      let p = try client.spawn("/bin/sleep", ["103"])
      kill(p.pid, SIGKILL)
      #expect(try p.wait() == .signaled(SIGKILL, coreDumped: false))
      p.pidfd?.closeQuietly()
    }
    // The daemon goes on.
    #expect(w.run(["spawn", "sh", "-c", "exit 6"]).code == 6)
    #expect(eventually("no zombie") { zombieChildren(of: daemon).isEmpty })
    #expect(eventually("daemon fds back to baseline") { openDescriptors(daemon).count == baseline })
  }

  @Test(
    "SIGKILL of a client holding half-sent descriptors, and of clients waiting for a fork: nothing leaks, nothing hangs"
  )
  func clientKilledMidRequest() throws {
    try requireProgram(python3Binary, package: "python3")
    let w = World()
    let d = startForegroundDaemon(w, extra: ["--kill-grace", "0.2"])
    #expect(d.ready == "ready\n")
    w.ok(["new"])  // the default template
    let baseline = settledDescriptorCount(d.pid)

    // 1. Half a send-fds frame whose header brought two descriptors: the write end of a pipe
    // (which only the daemon holds once the client has sent it) and /dev/null.
    let gate = try Sys.pipe()
    let out = "\(w.dir)/half.out"
    let o = try Sys.open(out, .writeOnly, options: [.create, .truncate])
    let python = try Sys.posixSpawn(
      path: python3Binary, arguments: ["python3", "-c", halfFrameClient, w.socket],
      environment: ["PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"], fds: [nil, o, FileDescriptor.standardError, gate.write])
    o.closeQuietly()
    gate.write.closeQuietly()
    let pipe = pipeName(gate.read)
    #expect(eventually("half frame sent") { readFile(out) == "sent\n" })
    #expect(
      eventually("the daemon holds the connection and both descriptors") {
        let fds = openDescriptors(d.pid)
        return fds.count == baseline + 3 && fds.values.contains(pipe)
      })
    #expect(!Sys.isReadableNow(gate.read), "the daemon holds the pipe's write end")
    kill(python, SIGKILL)
    #expect(try Sys.waitChild(python).signal == SIGKILL)
    #expect(eventually("daemon fds back to baseline") { openDescriptors(d.pid).count == baseline })
    #expect(eventually("the received descriptors were closed") { atEndOfFile(gate.read) })
    gate.read.closeQuietly()

    // 2. Clients killed while their fork is in flight (the template stopped): a `fork`,
    // whose child nobody can ever use, and a `spawn`, whose program is then ended.
    let template = w.entries().first { $0.id == 1 }!.pid
    kill(template, SIGSTOP)
    #expect(eventually("template stopped") { statFields(template)?.first == "T" })
    let fork = w.startScript("exec $F fork 1", tag: "fork")
    let spawn = w.startScript("exec $F spawn sleep 104", tag: "spawn")
    #expect(eventually("both forks queued") { w.entries().filter { $0.state == "starting" }.count == 2 })
    kill(fork.pid, SIGKILL)
    kill(spawn.pid, SIGKILL)
    #expect(try Sys.waitChild(fork.pid).signal == SIGKILL)
    #expect(try Sys.waitChild(spawn.pid).signal == SIGKILL)
    #expect(eventually("both connections gone") { clientConnections(of: d.pid).isEmpty })
    kill(template, SIGCONT)
    // Nobody can ever use the orphaned fork: it is killed and forgotten once reaped. The
    // orphaned spawn gets SIGTERM and is forgotten with its client.
    #expect(
      eventually("both orphans ended and were forgotten") {
        w.entries().map(\.id) == [1, 2] && childProcesses(of: d.pid).count == 2
          && workers(w, running: "sleep 104").isEmpty
      })
    // The daemon goes on.
    #expect(w.run(["spawn", "sh", "-c", "exit 9"]).code == 9)
    #expect(eventually("no zombie") { zombieChildren(of: d.pid).isEmpty })
    #expect(eventually("daemon fds back to baseline") { openDescriptors(d.pid).count == baseline })
    w.ok(["shutdown"])
    #expect(try Sys.waitChild(d.pid).exitCode == 0)
  }

  @Test("SIGKILL of the daemon: its workers run on, the next call starts a fresh daemon, unknown ids are a clear error")
  func daemonKilled() throws {
    let w = World()
    let d = startForegroundDaemon(w, extra: ["--kill-grace", "0.2"])
    #expect(d.ready == "ready\n")
    // A status already collected, a detached spawn, a program started by new/run, a process
    // object that never ran, and an attached spawn; the running ones beat into files.
    let finished = w.ok(["new"])
    w.ok(["run", finished, "--", "sh", "-c", "exit 6"])
    #expect(w.run(["wait", finished]).code == 6)
    let beat = #"while :; do echo >> "$HOME/$0.beat"; sleep 0.02; done"#
    let detached = w.startScript("exec $F spawn --detach --name det sh -c '\(beat)' detached", tag: "det")
    let attached = w.startScript("exec $F spawn sh -c '\(beat)' attached", tag: "att")
    let ran = w.ok(["new"])
    w.ok(["run", ran, "--", "sh", "-c", beat, "ran"])
    let unrun = w.ok(["new"])
    #expect(
      eventually("all beating") {
        ["detached", "attached", "ran"].allSatisfy { !readFile("\(w.dir)/\($0).beat").isEmpty }
      })
    let programs = ["detached", "attached", "ran"].map { name in
      workers(w, running: "sh -c while").first { commandLine($0).hasSuffix(name) } ?? 0
    }
    #expect(!programs.contains(0))
    let unrunPIDs = [w.entries().first { $0.id == 1 }!.pid, w.pid(of: unrun)]

    kill(d.pid, SIGKILL)
    #expect(try Sys.waitChild(d.pid).signal == SIGKILL)
    // A client attached to it learns that the daemon is gone; a --detach one had returned
    // as soon as its program ran.
    let detachedClient = w.finish(detached, "spawn --detach client")
    #expect(detachedClient.code == 0 && detachedClient.stderr.isEmpty, "\(detachedClient.stderr)")
    let r = w.finish(attached, "spawn client")
    #expect(r.code == 125)
    #expect(r.stderr == "forkctl: daemon at \(w.socket) closed the connection\n")
    // Process objects that never ran end with their control sockets; programs run on,
    // reparented (to the nearest subreaper, or init).
    #expect(eventually("the template and the unrun object ended") { unrunPIDs.allSatisfy { !isAlive($0) } })
    for (pid, name) in zip(programs, ["detached", "attached", "ran"]) {
      #expect(isAlive(pid), "\(name)")
      #expect(statFields(pid).map { Int32($0[1]) != d.pid } ?? false, "\(name) reparented")
      let beats = readFile("\(w.dir)/\(name).beat").count
      #expect(eventually("\(name) still beating") { readFile("\(w.dir)/\(name).beat").count > beats + 1 })
    }
    // The next call starts a fresh daemon, which does not know the old ids.
    let unknown = w.run(["wait", finished])
    #expect(unknown.code == 125)
    #expect(unknown.stderr == "forkctl: no process object \(finished)\n")
    let fresh = w.daemonPID
    #expect(fresh != d.pid && daemons(for: w.socket) == [fresh])
    let byName = w.run(["wait", "det"])
    #expect(byName.code == 125 && byName.stderr == "forkctl: no process object det\n")
    #expect(w.run(["spawn", "sh", "-c", "exit 8"]).code == 8)
    for pid in programs {
      #expect(isAlive(pid))
      kill(pid, SIGKILL)
    }
  }

  @Test(
    """
    descriptor exhaustion: at RLIMIT_NOFILE the daemon refuses new work with an error naming the limit, without \
    spinning, and recovers
    """
  )
  func descriptorExhaustion() throws {
    let w = World()
    let limit = 32
    let log = "\(w.dir)/daemon.log"
    let logFD = try Sys.open(log, .writeOnly, options: [.create, .truncate])
    let ready = try Sys.pipe()
    let daemon = try Sys.posixSpawn(
      path: "/bin/sh",
      arguments: ["sh", "-c", #"ulimit -n \#(limit) && exec "$F" daemon --socket "$S" --ready-fd 3 --kill-grace 0.2"#],
      environment: w.scriptEnvironment + ["S=\(w.socket)"], fds: [nil, nil, logFD, ready.write])
    logFD.closeQuietly()
    ready.write.closeQuietly()
    #expect(readToEnd(ready.read) == "ready\n")
    ready.read.closeQuietly()
    var held: [FileDescriptor] = []
    defer {
      // SIGTERM stops it as `shutdown` does, and reaches a daemon wedged at its limit too.
      for s in held { s.closeQuietly() }
      kill(daemon, SIGTERM)
      #expect((try? Sys.waitChild(daemon))?.exitCode == 0)
    }
    #expect(w.run(["spawn", "true"]).code == 0)
    w.ok(["exec", "--name", "sink"])
    let baseline = settledDescriptorCount(daemon)

    // Fill every descriptor with idle connections until one is refused.
    var refusal: (code: ErrorCode, message: String)?
    let fillCPU = cpuTicks(daemon)
    let fillStart = Sys.monotonicMilliseconds()
    while held.count < limit {
      let s = try UnixSocket.connect(to: w.socket)
      let reply = exchange(s, .list)
      if case .listing? = reply {
        held.append(s)
        continue
      }
      refusal = failureText(reply)
      s.closeQuietly()
      break
    }
    guard refusal != nil else {
      // Left in the backlog, the connection would get no answer until a descriptor frees up.
      Issue.record(
        """
        a connection beyond the limit got no answer in 5 s; meanwhile the daemon used \
        \((cpuTicks(daemon) - fillCPU) * 10) ms of CPU in \(Sys.monotonicMilliseconds() - fillStart) ms and wrote \
        \(readFile(log).split(separator: "\n").count) log lines in its first MiB of log
        """)
      return
    }
    let wanted =
      "the daemon is out of file descriptors (its RLIMIT_NOFILE of \(limit) is reached); "
      + "try again once some work has ended"
    #expect(refusal?.code == .limitReached)
    #expect(refusal?.message == wanted)
    #expect(held.count == limit - baseline, "connections held: \(held.count), daemon baseline \(baseline)")
    #expect(eventually("every descriptor in use") { openDescriptors(daemon).count == limit })

    // Exhausted: new work is refused with that error, by the command, the library and at
    // the socket, and the daemon does not spin (a connection left in the backlog keeps a
    // level-triggered listener readable).
    let cpuBefore = cpuTicks(daemon)
    let start = Sys.monotonicMilliseconds()
    let spawn = w.finish(w.startScript("exec $F spawn sh -c 'exit 3'", tag: "refused"), "spawn at the limit")
    #expect(spawn.code == 125)
    #expect(spawn.stderr == "forkctl: \(wanted)\n")
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    #expect { try client.list() } throws: {
      let e = $0 as? ForkctlError
      return e?.code == .refused && e?.refusal == .limitReached
    }
    for _ in 0..<3 {
      // A client that has not even sent its request yet is answered too.
      let s = try UnixSocket.connect(to: w.socket)
      #expect(failureText(nextReply(s, FrameChannel(s)))?.message == wanted)
      s.closeQuietly()
    }
    // With one descriptor free (a connection closed), a connection is accepted and takes
    // it: then the daemon cannot make a control socket for `new`, nor receive descriptors.
    held.removeLast().closeQuietly()
    #expect(eventually("one descriptor free") { openDescriptors(daemon).count == limit - 1 })
    let last = try UnixSocket.connect(to: w.socket)
    if case .listing? = exchange(last, .list) {} else { Issue.record("the connection that fits was refused") }
    let new = failureText(exchange(last, .new(name: [])))
    #expect(new?.code == .templateFailed)
    #expect(new?.message == "cannot create a control socket: Too many open files")
    let devNull = try Sys.open("/dev/null", .readOnly)
    let sendFD = failureText(exchange(last, .sendFDs(ref: Array("sink".utf8), targets: [nil]), fds: [devNull]))
    devNull.closeQuietly()
    #expect(sendFD?.code == .limitReached)
    #expect(
      sendFD?.message
        == "cannot receive the descriptors sent: the daemon is out of file descriptors "
        + "(its RLIMIT_NOFILE of \(limit) is reached)"
    )
    // Then the connection is closed: end of file, or ECONNRESET as the rest of that frame
    // was left unread.
    var channel = FrameChannel(last)
    do {
      if case .endOfFile = try channel.receive() {
      } else {
        Issue.record("the connection whose descriptors were lost stays open")
      }
    } catch {
      #expect(error == .connectionReset)
    }
    last.closeQuietly()
    // Its descriptor is free again: fill it.
    let filler = try UnixSocket.connect(to: w.socket)
    if case .listing? = exchange(filler, .list) {
      held.append(filler)
    } else {
      Issue.record("the connection that fits was refused")
    }
    #expect(eventually("every descriptor in use again") { openDescriptors(daemon).count == limit })
    // Idle while exhausted, then the CPU the daemon used over the whole exhausted stretch.
    let idle = try UnixSocket.connect(to: w.socket)
    #expect(failureText(nextReply(idle, FrameChannel(idle)))?.code == .limitReached)
    usleep(200_000)  // no event to wait for: time in which a spinning loop would burn CPU
    idle.closeQuietly()
    let elapsed = Sys.monotonicMilliseconds() - start
    let cpu = (cpuTicks(daemon) - cpuBefore) * 10
    #expect(cpu * 4 < elapsed, "the daemon used \(cpu) ms of CPU in \(elapsed) ms while exhausted")
    #expect(isAlive(daemon))

    // Recovery: once connections close, the same work is done.
    for s in held { s.closeQuietly() }
    held.removeAll()
    #expect(eventually("daemon fds back to baseline") { openDescriptors(daemon).count == baseline })
    #expect(w.run(["spawn", "sh", "-c", "exit 5"]).code == 5)
    #expect((try? client.list().count) == 2)
    w.ok(["send-fd", "sink", "0"])
    w.ok(["new"])
    #expect(eventually("no zombie") { zombieChildren(of: daemon).isEmpty })
    // The log says so, once per episode, instead of once per turn of a spinning loop.
    let lines = readFile(log).split(separator: "\n")
    #expect(lines.count < 10, "\(lines.count) log lines, first: \(lines.prefix(3))")
    #expect(lines.contains { $0.contains("refusing new connections until some close") })
    #expect(lines.contains { $0.contains("accepting connections again") })
  }

  @Test(
    """
    a client vanishes before its reply (EPIPE, and SIGKILL): the daemon survives and the status is still reported \
    exactly
    """
  )
  func clientVanishesBeforeReply() throws {
    let w = World()
    let gate = try Sys.pipe()
    let id = w.ok(["new"])
    w.ok(["send-fd", id, "0=3"], fds: [3: gate.read])
    gate.read.closeQuietly()
    w.ok(["run", id, "--", "sh", "-c", "read x; exit 12"])
    let daemon = w.daemonPID
    let baseline = settledDescriptorCount(daemon)
    // A raw client asks to wait, then shuts down its reading side: the daemon sees no
    // hang-up, and its reply, when the worker ends, meets EPIPE (SIGPIPE unless ignored).
    let s = try UnixSocket.connect(to: w.socket)
    try FrameChannel(s).send(Request.wait(refs: [Array(id.utf8)]).frame())
    #expect(Glibc.shutdown(s.rawValue, Int32(SHUT_RD)) == 0)
    // A CLI client waiting for the same worker is killed outright.
    let killed = w.startScript("exec $F wait \(id)", tag: "wait")
    #expect(eventually("both waiting") { clientConnections(of: daemon).count == 2 })
    kill(killed.pid, SIGKILL)
    _ = try Sys.waitChild(killed.pid)
    gate.write.closeQuietly()  // the worker reads end of file and exits 12
    let r = w.run(["wait", "--print", id])
    #expect(r.code == 12 && r.stdout == "\(id) 12\n")
    #expect(isAlive(daemon) && w.daemonPID == daemon)
    #expect(w.run(["spawn", "sh", "-c", "exit 2"]).code == 2)
    s.closeQuietly()
    #expect(eventually("daemon fds back to baseline") { openDescriptors(daemon).count == baseline })
    #expect(eventually("no zombie") { zombieChildren(of: daemon).isEmpty })
  }

  @Test("a worker that closes or replaces its stdio: the exact status, and nothing hangs")
  func workerClosesItsStdio() throws {
    let w = World()
    w.ok(["list"])
    let daemon = w.daemonPID
    let script = w.startScript(
      #"""
      $F spawn sh -c 'exec <&- >&- 2>&-; exit 3'; echo "closed=$?"
      $F spawn sh -c 'exec </dev/null >/dev/null 2>&1; echo lost; exit 4'; echo "replaced=$?"
      $F spawn sh -c 'exec >&- 2>&-; kill -TERM $$'; echo "signaled=$?"
      $F spawn sh -c 'exec >&- 2>&-; sleep 100 & exit 7'; echo "background=$?"
      id=$($F new) && $F send-fd "$id" 0 1 2 && \#
      $F run --wait "$id" -- sh -c 'exec <&- >/dev/null 2>&1; exit 8'; echo "run=$?"
      """#, tag: "stdio")
    let r = w.finish(script, "spawns of programs that close their stdio")
    #expect(r.stdout == "closed=3\nreplaced=4\nsignaled=143\nbackground=7\nrun=8\n")
    #expect(!r.stderr.contains("forkctl"), "\(r.stderr)")  // the shell may say "Terminated"
    // The caller's stdout is a pipe: it reaches end of file once the caller has exited,
    // since the worker closed its copy and the daemon kept none.
    let pipe = try Sys.pipe()
    let caller = try Sys.posixSpawn(
      path: forkctlBinary, arguments: ["forkctl", "spawn", "sh", "-c", "echo before; exec >&- 2>&-; exit 6"],
      environment: w.environment, fds: [nil, pipe.write, FileDescriptor.standardError])
    pipe.write.closeQuietly()
    #expect(readToEnd(pipe.read) == "before\n")
    pipe.read.closeQuietly()
    #expect(try Sys.waitChild(caller).exitCode == 6)
    // The library, the program's descriptors given explicitly.
    do {
      let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
      let devNull = try Sys.open("/dev/null", .readWrite)
      defer { devNull.closeQuietly() }
      let p = try client.spawn(
        program: Array("/bin/sh".utf8), arguments: [Array("-c".utf8), Array("exec 0<&- 1>&- 2>&-; exit 9".utf8)],
        fds: [(devNull, 0), (devNull, 1), (devNull, 2)])
      #expect(try p.wait() == .exited(9))
      p.pidfd?.closeQuietly()
    }
    // The background sleep outlived its shell; the daemon, a subreaper, reaps it.
    let orphans = workers(w, running: "sleep 100")
    #expect(orphans.count == 1)
    for pid in orphans { kill(pid, SIGKILL) }
    #expect(eventually("no zombie") { zombieChildren(of: daemon).isEmpty })
    #expect(w.run(["spawn", "true"]).code == 0)
  }
}
