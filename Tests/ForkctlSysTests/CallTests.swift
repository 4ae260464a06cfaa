import CForkctlShims
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

// The primitives of a function worker (issue 12). The test process has other threads: what
// a fork of it runs is kept to plain C calls (signal-safety(7)), and malloc, which glibc's
// fork() makes usable in the child. Everything that changes process state runs in such a
// child, the "helper", which sets an alarm so that a helper stuck on a lock another thread
// held at the fork fails its test instead of hanging it.
@Suite struct CallTests {
  @Test("a forkAdopted child's parent is the nearest subreaper once it returns, which reaps its exit status")
  func adoptedBySubreaper() throws {
    // One pipe per writer: the worker writes last, once it has been adopted.
    let (fromWorker, fromTemplate, fromSubreaper) = (try Sys.pipe(), try Sys.pipe(), try Sys.pipe())
    // The helper is the daemon (a subreaper), its child the template that calls forkAdopted.
    let helper = runHelper {
      guard (try? Sys.becomeChildSubreaper()) != nil else { return 90 }
      let template = fork()
      if template == 0 {
        guard let pid = try? Sys.forkAdopted() else { _exit(91) }
        if pid == 0 {
          send(fromWorker.write, getppid())
          _exit(7)
        }
        send(fromTemplate.write, pid)
        _exit(0)
      }
      var status: CInt = 0
      guard waitpid(template, &status, 0) == template, status == 0 else { return 92 }
      send(fromSubreaper.write, template)
      // Any child but the template, which is reaped: the worker, if it is this process's.
      send(fromSubreaper.write, waitpid(-1, &status, 0))
      send(fromSubreaper.write, status)
      return 0
    }
    let (parent, worker, reaped) = (receive(fromWorker), receive(fromTemplate), receive(fromSubreaper))
    #expect(helper.status == 0)
    try #require(parent.count == 1 && worker.count == 1 && reaped.count == 3)
    #expect(parent[0] == helper.pid && parent[0] != reaped[0], "the worker's parent is the subreaper, not the template")
    #expect(reaped[1] == worker[0], "the subreaper reaped the worker")
    #expect(reaped[2] == 7 << 8, "with its exit status")
  }

  @Test("an atfork child handler runs in a forkAdopted child, not in a raw clone child")
  func atforkChildHandler() throws {
    let report = try Sys.pipe()
    let helper = runHelper {
      guard (try? Sys.becomeChildSubreaper()) != nil else { return 90 }
      pthread_atfork(nil, nil) { atforkChildRuns += 1 }
      guard let pid = try? Sys.forkAdopted() else { return 91 }
      if pid == 0 { _exit(atforkChildRuns == 1 ? 10 : 11) }
      var status: CInt = 0
      guard waitpid(pid, &status, 0) == pid else { return 92 }
      send(report.write, status)
      // clone(CLONE_PARENT): a child of the test process, which reaps it below.
      guard let sibling = try? Sys.forkAsSibling() else { return 93 }
      if sibling == 0 { _exit(atforkChildRuns == 1 ? 10 : 11) }
      send(report.write, sibling)
      return 0
    }
    let values = receive(report)
    try #require(helper.status == 0 && values.count == 2)
    #expect(values[0] == 10 << 8, "forkAdopted child: the handler ran once")
    #expect(try Sys.waitChild(values[1]).exitCode == 11, "raw clone child: it did not")
  }

  @Test("a forkAdopted child's glibc thread id is its own: pthread_self() names it, not its parent")
  func threadIdentity() throws {
    let report = try Sys.pipe()
    let helper = runHelper {
      guard (try? Sys.becomeChildSubreaper()) != nil, let pid = try? Sys.forkAdopted() else { return 90 }
      if pid == 0 { _exit(ownThreadIdentity()) }
      var status: CInt = 0
      guard waitpid(pid, &status, 0) == pid else { return 91 }
      send(report.write, status)
      // The same probe in a raw clone child fails: it would pass for anything.
      guard let sibling = try? Sys.forkAsSibling() else { return 92 }
      if sibling == 0 { _exit(ownThreadIdentity()) }
      send(report.write, sibling)
      return 0
    }
    let values = receive(report)
    try #require(helper.status == 0 && values.count == 2)
    #expect(values[0] == 0, "forkAdopted child: cached tid == pid, and its own CPU clock reads")
    let sibling = try Sys.waitChild(values[1])
    #expect(sibling.exitCode != 0, "raw clone child: the cached tid is its parent's")
  }

  @Test("forkAdopted gives the child the caller's signal mask back, and the caller keeps it")
  func signalMaskRestored() throws {
    let report = try Sys.pipe()
    let helper = runHelper {
      guard (try? Sys.becomeChildSubreaper()) != nil else { return 90 }
      var only = sigset_t()
      sigemptyset(&only)
      sigaddset(&only, SIGUSR2)
      sigprocmask(SIG_SETMASK, &only, nil)
      guard let pid = try? Sys.forkAdopted() else { return 91 }
      if pid == 0 { _exit(Int32(truncatingIfNeeded: Sys.blockedSignals() == signalBit(SIGUSR2) ? 0 : 1)) }
      var status: CInt = 0
      guard waitpid(pid, &status, 0) == pid else { return 92 }
      send(report.write, status)
      send(report.write, Sys.blockedSignals() == signalBit(SIGUSR2) ? 0 : 1)
      return 0
    }
    #expect(helper.status == 0)
    #expect(receive(report) == [0, 0], "the child's mask, then the caller's: SIGUSR2 alone")
  }

  @Test("threadNames lists a started thread by its name, and not once it has been joined")
  func threadNames() throws {
    let name = "callprobe\(Int.random(in: 100...999))"
    let go = try Sys.pipe()
    defer {
      go.read.closeQuietly()
      go.write.closeQuietly()
    }
    let thread = PosixThread {
      forkctl_set_process_name(name)
      _ = try? go.read.readSome(max: 1)
    }
    var named = false
    for _ in 0..<100 where !named {
      named = Sys.threadNames(graceMilliseconds: 0).contains(name)
      if !named { usleep(2000) }
    }
    #expect(named)
    #expect(Sys.threadNames(graceMilliseconds: 0).count > 1)
    try go.write.writeFully([1])
    thread.join()
    #expect(!Sys.threadNames(graceMilliseconds: 200).contains(name))
  }

  @Test("threadNames of a single-threaded process is its one name, at once")
  func threadNamesOfOneThread() throws {
    let report = try Sys.pipe()
    let helper = runHelper {
      let start = Sys.monotonicMilliseconds()
      let names = Sys.threadNames(graceMilliseconds: 5000)
      send(report.write, Int32(names.count))
      send(report.write, Int32(Sys.monotonicMilliseconds() - start))
      return names == ["callhelper"] ? 0 : 1
    }
    let values = receive(report)
    #expect(helper.status == 0)
    #expect(values.first == 1)
    #expect(values.last.map { $0 < 1000 } == true, "no grace spent when there is one thread")
  }

  @Test("prepareCall places descriptors, closes exactly the ones it is told, sets environ, name and directory")
  func prepareCallPlaces() throws {
    let report = try Sys.pipe()
    // The library's descriptor first, so that its number is below the highest target.
    let (d, a, b, c) = (try Sys.pipe(), try Sys.pipe(), try Sys.pipe(), try Sys.pipe())
    defer { for fd in [a.read, a.write, b.read, b.write, c.read, c.write, d.read, d.write] { fd.closeQuietly() } }
    // a.read goes on c.read's number, a descriptor it is told to close; b.write on 1. c.write
    // is closed; d.read is the library's and stays.
    let (first, second, closed, library) = (a.read, b.write, c.write, d.read)
    let shared = c.read.rawValue
    try #require(library.rawValue < shared)
    let root = try Sys.open("/", .readOnly, options: .directory)
    defer { root.closeQuietly() }
    let ids = (first: identity(first), second: identity(second), closed: identity(closed), library: identity(library))
    let helper = runHelper {
      var close = [first, second, c.read, closed]
      let failure = Sys.prepareCall(
        moves: [(first, shared), (second, 1)], workingDirectory: root, environment: [Array("PROBE=yes".utf8)],
        close: &close, processName: Array("probe-call".utf8))
      guard failure == nil else { return 90 }
      var checks: Int32 = 0
      func check(_ bit: Int32, _ ok: Bool) { if ok { checks |= 1 << bit } }
      check(0, identity(FileDescriptor(rawValue: shared)) == ids.first)
      check(1, identity(FileDescriptor(rawValue: 1)) == ids.second)
      check(2, isDevNull(0) && isDevNull(2))
      check(3, identity(library) == ids.library)
      // A pipe's two ends are one inode: a's and b's are open on their target and the other
      // end (not told to close); nothing is left of c's, not even a lifted copy.
      check(4, openCount(ids.first) == 2 && openCount(ids.second) == 2 && openCount(ids.closed) == 0)
      check(5, !isCloseOnExec(FileDescriptor(rawValue: shared)) && !isCloseOnExec(FileDescriptor(rawValue: 1)))
      check(6, close.isEmpty)
      check(7, Sys.environmentValue("PROBE") == "yes" && Sys.environment().count == 1)
      check(8, (try? Sys.open("/proc/self/comm", .readOnly).readAll()) == Array("probe-call\n".utf8))
      check(9, (try? Sys.path(of: Sys.openCurrentDirectory())) == "/")
      send(report.write, checks)
      return 0
    }
    #expect(helper.status == 0)
    let checks = receive(report).first ?? 0
    let names = [
      "a source on a number it was told to close", "a source on 1", "/dev/null on 0 and 2",
      "the library's descriptor untouched", "what it was told to close closed, copies too", "targets not close-on-exec",
      "close emptied", "environ replaced", "comm renamed", "working directory changed",
    ]
    for (bit, name) in names.enumerated() { #expect(checks & 1 << bit != 0, "\(name)") }
  }

  @Test("a failed prepareCall says which step failed and leaves the descriptors to close open, to report through")
  func prepareCallFailureKeepsDescriptors() throws {
    let report = try Sys.pipe()
    let notDirectory = try Sys.pipe()
    defer {
      notDirectory.read.closeQuietly()
      notDirectory.write.closeQuietly()
    }
    let helper = runHelper {
      var close = [report.write]
      let failure = Sys.prepareCall(
        moves: [], workingDirectory: notDirectory.read, environment: [], close: &close,
        processName: Array("probe-call".utf8))
      guard failure == ExecFailure(step: .workingDirectory, errno: ENOTDIR), close.count == 1 else { return 90 }
      // Through the number written back, whatever it is now.
      send(close[0], 42)
      return 0
    }
    #expect(helper.status == 0)
    #expect(receive(report) == [42])
  }

  @Test("prepareCall resets the signal actions set before the first load and keeps those set after")
  func prepareCallSignalActions() throws {
    let report = try Sys.pipe()
    let helper = runHelper {
      // The template's own: SIGHUP ignored and a SIGURG handler before the first load.
      // Recorded here unless this process recorded earlier (another test's openLibrary):
      // then they are recorded as default, and the check below fails loudly for them.
      signal(SIGHUP, SIG_IGN)
      signal(SIGURG) { _ in }
      forkctl_record_signal_actions()
      // The library's: installed after the load.
      signal(SIGUSR1) { _ in }
      signal(SIGUSR2, SIG_IGN)
      var close: [FileDescriptor] = []
      let ignored = signalBit(SIGUSR1) | signalBit(SIGTERM)
      let failure = Sys.prepareCall(
        moves: [], workingDirectory: nil, environment: [], attributes: ProcessAttributes(ignoredSignals: ignored),
        close: &close, processName: Array("probe-call".utf8))
      guard failure == nil else { return 90 }
      var checks: Int32 = 0
      func check(_ bit: Int32, _ ok: Bool) { if ok { checks |= 1 << bit } }
      check(0, action(SIGHUP) == defaultAction && action(SIGURG) == defaultAction)
      check(1, action(SIGUSR1) != defaultAction && action(SIGUSR1) != ignoreAction)
      check(2, action(SIGUSR2) == ignoreAction)
      check(3, action(SIGTERM) == ignoreAction)
      check(4, Sys.blockedSignals() == 0)
      send(report.write, checks)
      return 0
    }
    #expect(helper.status == 0)
    let checks = receive(report).first ?? 0
    let names = [
      "own actions reset (meaningless if this process recorded before: run this suite alone)",
      "the library's handler kept although the caller ignores its signal", "the library's SIG_IGN kept",
      "the caller's ignored signal ignored where no library handles it", "mask emptied",
    ]
    for (bit, name) in names.enumerated() { #expect(checks & 1 << bit != 0, "\(name)") }
  }

  @Test("openLibrary's error names the file and why: a missing file, a file that is not a library")
  func openLibraryErrors() throws {
    let dir = try temporaryDirectory()
    let missing = dir + "/missing.so"
    let text = dir + "/text.so"
    try writeFile(text, String(repeating: "not a library\n", count: 10))
    let report = try Sys.pipe()
    // In a helper, as every load here: the first one records the signal actions of the
    // process it is in (prepareCallSignalActions).
    let helper = runHelper {
      var checks: Int32 = 0
      if case .failure(let e) = Sys.openLibrary(Array(missing.utf8), global: false),
        e.message == "\(missing): cannot open shared object file: No such file or directory"
      {
        checks |= 1
      }
      if case .failure(let e) = Sys.openLibrary(Array(text.utf8), global: false),
        e.message == "\(text): invalid ELF header"
      {
        checks |= 2
      }
      send(report.write, checks)
      return 0
    }
    #expect(helper.status == 0)
    let checks = receive(report).first ?? 0
    #expect(checks & 1 != 0, "a missing file: dlerror's 'cannot open shared object file'")
    #expect(checks & 2 != 0, "a text file: dlerror's 'invalid ELF header'")
  }

  @Test("callEntry passes argv as given, NULL-terminated, kept after the call; symbol finds only what exists")
  func callEntryPassesArguments() throws {
    let dir = try temporaryDirectory()
    try writeFile(
      dir + "/probe.c",
      """
      #include <string.h>
      static char **kept;
      int probe_entry(int argc, char **argv) {
        kept = argv;
        if (argc != 4 || argv[4] != 0) return 1;
        if (strcmp(argv[0], "probe_entry") || strcmp(argv[1], "a b") || strcmp(argv[2], "") ||
            strcmp(argv[3], "\\xff")) return 2;
        return 42;
      }
      int probe_kept(int argc, char **argv) { return strcmp(kept[1], "a b") == 0 ? 43 : 3; }
      """)
    let library = dir + "/libprobe.so"
    let cc = try Sys.posixSpawn(
      path: "/bin/sh", arguments: ["sh", "-c", "exec cc -shared -fPIC -o \(library) \(dir)/probe.c"],
      environment: Sys.environment().map { String(decoding: $0, as: UTF8.self) }, fds: [nil, nil, nil])
    try #require(try Sys.waitChild(cc).exitCode == 0, "cc -shared")
    let report = try Sys.pipe()
    let helper = runHelper {
      guard case .success(let handle) = Sys.openLibrary(Array(library.utf8), global: false) else { return 90 }
      send(report.write, Sys.symbol(Array("no_such_entry".utf8), in: handle) == nil ? 1 : 0)
      guard let entry = Sys.symbol(Array("probe_entry".utf8), in: handle),
        let kept = Sys.symbol(Array("probe_kept".utf8), in: handle)
      else { return 91 }
      let arguments: [[UInt8]] = [Array("probe_entry".utf8), Array("a b".utf8), [], [0xff]]
      send(report.write, Sys.callEntry(entry, arguments: arguments))
      send(report.write, Sys.callEntry(kept, arguments: [Array("probe_kept".utf8)]))
      return 0
    }
    #expect(helper.status == 0)
    #expect(receive(report) == [1, 42, 43], "no such symbol; argv as given; argv still there after the call")
  }
}

/// How many times the atfork child handler of `atforkChildHandler` has run in this process.
nonisolated(unsafe) var atforkChildRuns: Int32 = 0

/// Runs `body` in a fork of the test process named "callhelper", and returns its pid and
/// exit status (`body`'s return value; -1 for a death by signal). See the note at the top of the file on what `body`
/// may do.
func runHelper(_ body: () -> Int32) -> (pid: Int32, status: Int32) {
  let pid = fork()
  precondition(pid >= 0, "fork")
  if pid == 0 {
    // The thread that forked may block SIGALRM (the test runner's threads do): unblocked at
    // its default action, or a helper stuck on a lock held at the fork (the Swift runtime's
    // metadata cache, seen once) would hang the whole run rather than fail its test.
    var alarmOnly = sigset_t()
    sigemptyset(&alarmOnly)
    sigaddset(&alarmOnly, SIGALRM)
    signal(SIGALRM, SIG_DFL)
    pthread_sigmask(SIG_UNBLOCK, &alarmOnly, nil)
    alarm(20)
    prctlName()
    _exit(body())
  }
  return (pid, (try? Sys.waitChild(pid)).map { $0.exitCode == nil ? -1 : $0.exitCode! } ?? -2)
}

private func prctlName() { forkctl_set_process_name("callhelper") }

/// Writes `value` on the report pipe (write(2) is async-signal-safe).
func send(_ fd: FileDescriptor, _ value: Int32) {
  var v = value
  _ = write(fd.rawValue, &v, 4)
}

/// Every value written on `pipe` by the processes that held its write end, which this closes.
func receive(_ pipe: (read: FileDescriptor, write: FileDescriptor)) -> [Int32] {
  pipe.write.closeQuietly()
  defer { pipe.read.closeQuietly() }
  let bytes = (try? pipe.read.readAll()) ?? []
  var values: [Int32] = []
  var i = 0
  while i + 4 <= bytes.count {
    var word: UInt32 = 0
    for j in 0..<4 { word |= UInt32(bytes[i + j]) << (8 * UInt32(j)) }
    values.append(Int32(bitPattern: word))
    i += 4
  }
  return values
}

/// 0 when glibc's cached thread id (the owner a recursive mutex records) is this process's
/// pid, which a single-threaded process's one thread has, and the CPU clock of pthread_self()
/// reads; 1 or 2 when not.
func ownThreadIdentity() -> Int32 {
  var attributes = pthread_mutexattr_t()
  pthread_mutexattr_init(&attributes)
  pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
  var mutex = pthread_mutex_t()
  pthread_mutex_init(&mutex, &attributes)
  pthread_mutex_lock(&mutex)
  let owner = mutex.__data.__owner
  pthread_mutex_unlock(&mutex)
  if owner != getpid() { return 1 }
  var clock = clockid_t()
  var now = timespec()
  return pthread_getcpuclockid(pthread_self(), &clock) == 0 && clock_gettime(clock, &now) == 0 ? 0 : 2
}

/// How many descriptors below 1024 refer to the file of `identity`.
func openCount(_ file: [UInt64]) -> Int {
  (0..<1024).filter { identity(FileDescriptor(rawValue: $0)) == file }.count
}

func signalBit(_ signal: Int32) -> UInt64 { 1 << UInt64(signal - 1) }

let defaultAction = 0
let ignoreAction = 1

/// The action of `signal`: `defaultAction` (SIG_DFL), `ignoreAction` (SIG_IGN) or a
/// handler's address.
func action(_ signal: Int32) -> Int {
  var old = sigaction()
  sigaction(signal, nil, &old)
  return old.__sigaction_handler.sa_handler.map { unsafeBitCast($0, to: Int.self) } ?? defaultAction
}

func isDevNull(_ fd: Int32) -> Bool {
  var st = stat()
  var null = stat()
  return fstat(fd, &st) == 0 && stat("/dev/null", &null) == 0 && st.st_rdev == null.st_rdev
    && (st.st_mode & S_IFMT) == S_IFCHR
}

func temporaryDirectory() throws -> String {
  var template = Array("/tmp/forkctl-call-XXXXXX".utf8CString)
  guard mkdtemp(&template) != nil else { throw Errno(rawValue: errno) }
  return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func writeFile(_ path: String, _ text: String) throws {
  let fd = try Sys.open(path, .writeOnly, options: [.create, .truncate])
  defer { fd.closeQuietly() }
  try fd.writeFully(Array(text.utf8))
}
