import CForkctlShims
import ForkctlSys
import Glibc
import Testing

@Suite struct DescriptorTests {
  @Test("every descriptor a wrapper creates is close-on-exec")
  func everyWrapperIsCloseOnExec() throws {
    var created: [(String, FileDescriptor)] = []
    defer { for (_, fd) in created { fd.closeQuietly() } }
    let pipe = try Sys.pipe()
    created += [("pipe read end", pipe.read), ("pipe write end", pipe.write)]
    let pair = try Sys.socketPair()
    created += [("socketPair first", pair.0), ("socketPair second", pair.1)]
    let datagrams = try Sys.socketPair(datagram: true)
    created += [("datagram socketPair first", datagrams.0), ("datagram socketPair second", datagrams.1)]
    created.append(("notifySocket", try UnixSocket.notifySocket(Array("forkctl-test/cloexec/\(Sys.processID)".utf8))))
    created.append(("open", try Sys.open("/dev/null", .readOnly)))
    let file = temporaryPath("file")
    defer { try? Sys.removeFile(file) }
    created.append(("openOrCreate", try Sys.openOrCreate(file)))
    created.append(("openForAppending", try Sys.openForAppending(file)))
    created.append(("openCurrentDirectory", try Sys.openCurrentDirectory()))
    created.append(("duplicate", try FileDescriptor.standardInput.duplicate()))
    created.append(("openPIDFD", try Sys.openPIDFD(Sys.processID)))
    created.append(("sealedFile", try Sys.sealedFile(name: "forkctl-test", contents: [1])))
    let path = temporaryPath("cloexec.sock")
    defer { try? Sys.removeFile(path) }
    let listener = try UnixSocket.listen(at: path)
    created.append(("listen", listener))
    created.append(("connect", try UnixSocket.connect(to: path)))
    created.append(("accept", try #require(try UnixSocket.accept(listener))))
    // A number that is free: open something, then move another descriptor onto it.
    let target = try Sys.open("/dev/null", .readOnly)
    try FileDescriptor.move(pipe.read, to: target.rawValue)
    created.append(("move", target))
    let epoll = try Epoll()
    #expect(isCloseOnExec(epoll.fd), "Epoll")
    let signals = try SignalDescriptor([Signal(rawValue: Signal.realtimeMin.rawValue + 5)])
    #expect(isCloseOnExec(signals.fd), "SignalDescriptor")
    for (name, fd) in created {
      #expect(isCloseOnExec(fd), "\(name) returned descriptor \(fd.rawValue) without FD_CLOEXEC")
    }
  }

  @Test("without close_range, forkctl_mark_cloexec_from marks exactly the descriptors from its bound up")
  func markCloseOnExecFallback() throws {
    // Far above what other tests running at once use (marking reaches every descriptor from
    // `high` up in this process), and ordered whatever they open or close meanwhile.
    let source = open("/dev/null", O_RDONLY)
    try #require(source >= 0)
    let low = fcntl(source, F_DUPFD, 900)
    let high = fcntl(source, F_DUPFD, low + 1)
    close(source)
    try #require(low >= 900 && high > low)
    defer {
      FileDescriptor(rawValue: low).closeQuietly()
      FileDescriptor(rawValue: high).closeQuietly()
    }
    #expect(!isCloseOnExec(FileDescriptor(rawValue: high)), "open without O_CLOEXEC")
    forkctl_mark_cloexec_from(high)
    #expect(isCloseOnExec(FileDescriptor(rawValue: high)))
    #expect(!isCloseOnExec(FileDescriptor(rawValue: low)), "below the bound: untouched")
  }

  @Test("descriptors passed over a socket pair arrive as the same files, close-on-exec, exactly as many")
  func passingDescriptors() throws {
    let (a, b) = try Sys.socketPair()
    let pipe = try Sys.pipe()
    let devNull = try Sys.open("/dev/null", .readOnly)
    defer { for fd in [a, b, pipe.read, pipe.write, devNull] { fd.closeQuietly() } }
    #expect(try UnixSocket.send(a, [65][...], fds: [devNull, pipe.write]) == 1)
    let got = try UnixSocket.receive(b, maxBytes: 8, maxFDs: 4)
    defer { for fd in got.fds { fd.closeQuietly() } }
    #expect(got.bytes == [65])
    #expect(got.fds.count == 2)
    #expect(!got.overflow)
    #expect(got.fds.map(identity) == [identity(devNull), identity(pipe.write)])
    for fd in got.fds { #expect(isCloseOnExec(fd)) }
  }

  @Test("descriptors beyond the maximum are closed, not leaked, and the overflow is reported")
  func extraDescriptorsClosed() throws {
    let (a, b) = try Sys.socketPair()
    let first = try Sys.open("/dev/null", .readOnly)
    let second = try Sys.open("/dev/null", .readOnly)
    let pipe = try Sys.pipe()
    defer { for fd in [a, b, first, second, pipe.read] { fd.closeQuietly() } }
    _ = try UnixSocket.send(a, [65][...], fds: [first, second, pipe.write])
    pipe.write.closeQuietly()
    let got = try UnixSocket.receive(b, maxBytes: 8, maxFDs: 2)
    for fd in got.fds { fd.closeQuietly() }
    #expect(got.fds.count == 2)
    #expect(got.overflow)
    // The extra descriptor was the pipe's last write end: closed, the read end sees end of file.
    var p = pollfd(fd: pipe.read.rawValue, events: Int16(POLLIN), revents: 0)
    #expect(poll(&p, 1, 2000) == 1, "the pipe's write end is still open somewhere")
    #expect(try pipe.read.readSome(max: 1).isEmpty)
  }

  @Test("openDescriptors tells an open number from a closed one, in one call, above the usual ones too")
  func openDescriptorsSnapshot() throws {
    // High numbers, which the lowest-free rule keeps out of the way of other tests running
    // at the same time.
    let pipe = try Sys.pipe()
    let high = try Sys.open("/dev/null", .readOnly)
    try FileDescriptor.move(pipe.read, to: 1000)
    defer { for fd in [pipe.read, pipe.write, high, FileDescriptor(rawValue: 1000)] { fd.closeQuietly() } }
    let open = Sys.openDescriptors(upTo: 1001)
    #expect(open.count == 1002)
    #expect(open[1000] && !open[1001])
    #expect(open[Int(pipe.write.rawValue)] && open[Int(high.rawValue)])
  }

  @Test("path(of:) names the directory a descriptor was opened on")
  func pathOfDescriptor() throws {
    let dir = temporaryPath("named-dir")
    _ = mkdir(dir, 0o700)
    defer { rmdir(dir) }
    let fd = try Sys.open(dir, .readOnly, options: .directory)
    defer { fd.closeQuietly() }
    #expect(try Sys.path(of: fd) == dir)
  }

  @Test("threadCount sees a POSIX thread start and end")
  func threadCount() throws {
    // Other suites start and end threads too, so a run that saw them is repeated.
    var seen: [[Int]] = []
    for _ in 0..<10 {
      let gate = try Sys.pipe()
      let before = Sys.threadCount()
      let thread = PosixThread { _ = try? gate.read.readSome(max: 1) }
      usleep(20_000)
      let during = Sys.threadCount()
      try gate.write.writeFully([1])
      thread.join()
      let after = Sys.threadCount()
      gate.read.closeQuietly()
      gate.write.closeQuietly()
      seen.append([before, during, after])
      if during == before + 1 && after == before { break }
    }
    let last = try #require(seen.last)
    #expect(last[1] == last[0] + 1 && last[2] == last[0], "thread counts before, during, after: \(seen)")
  }
}
