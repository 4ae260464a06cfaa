// Every libc call forkctl makes from Swift, each wrapped once: the raw call, an EINTR retry
// (never for close), and a typed `throws(Errno)`.
import CForkctlShims
import CLibBSD
import Glibc

@_exported import SystemPackage

@inline(__always)
func currentErrno() -> Errno { Errno(rawValue: Glibc.errno) }

/// Repeats `body` while it fails with EINTR.
@inline(__always)
func retrying<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
  while true {
    let r = body()
    if r >= 0 { return r }
    let e = currentErrno()
    if e != .interrupted { throw e }
  }
}

extension FileDescriptor {
  /// Closes the descriptor. Never retried: after EINTR the descriptor is already gone on
  /// Linux (close(2)). EBADF means our own bookkeeping is wrong, which is a bug.
  public func closeQuietly() {
    if Glibc.close(rawValue) < 0 && Glibc.errno == EBADF {
      preconditionFailure("close(\(rawValue)): descriptor was not open")
    }
  }

  /// Whether the descriptor is open in this process (fcntl F_GETFD).
  public var isOpen: Bool { forkctl_fd_flags(rawValue) >= 0 }

  /// Turns O_NONBLOCK on or off. The corresponding C function is `fcntl`.
  public func setNonblocking(_ on: Bool) throws(Errno) {
    if forkctl_set_nonblocking(rawValue, on ? 1 : 0) < 0 { throw currentErrno() }
  }

  /// Makes this descriptor a close-on-exec copy of `other` on this number.
  /// The corresponding C function is `dup3`.
  public static func move(_ other: FileDescriptor, to target: CInt) throws(Errno) {
    _ = try retrying { forkctl_dup3_cloexec(other.rawValue, target) }
  }

  /// Writes all of `bytes`, blocking. Not named `writeAll`, which would shadow swift-system's
  /// generic `writeAll(_:)` so that a reader could not tell which one a call gets.
  /// The corresponding C function is `write`.
  public func writeFully(_ bytes: [UInt8]) throws(Errno) {
    var done = 0
    while done < bytes.count {
      let n = try retrying {
        bytes.withUnsafeBytes { buf in Glibc.write(rawValue, buf.baseAddress! + done, buf.count - done) }
      }
      done += n
    }
  }

  /// Reads up to `max` bytes; an empty result is end of file. Throws EAGAIN when
  /// non-blocking and nothing is there. The corresponding C function is `read`.
  public func readSome(max: Int) throws(Errno) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: max)
    let n = try retrying {
      out.withUnsafeMutableBytes { buf in Glibc.read(rawValue, buf.baseAddress!, buf.count) }
    }
    out.removeLast(max - n)
    return out
  }

  /// Reads until end of file, up to `limit` bytes.
  public func readAll(limit: Int = 1 << 20) throws(Errno) -> [UInt8] {
    var out = [UInt8]()
    while out.count < limit {
      let chunk = try readSome(max: min(65536, limit - out.count))
      if chunk.isEmpty { break }
      out.append(contentsOf: chunk)
    }
    return out
  }
}

/// Process-wide calls.
public enum Sys {
  public static var processID: Int32 { getpid() }
  public static var userID: UInt32 { getuid() }

  /// A new socket pair, both ends close-on-exec. The corresponding C function is `socketpair`.
  public static func socketPair() throws(Errno) -> (FileDescriptor, FileDescriptor) {
    var fds: [CInt] = [-1, -1]
    let type = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
    _ = try retrying { socketpair(AF_UNIX, type, 0, &fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
  }

  /// A pipe, both ends close-on-exec. The corresponding C function is `pipe2`.
  public static func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) {
    var fds: [CInt] = [-1, -1]
    _ = try retrying { forkctl_pipe(&fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
  }

  /// Opens a file close-on-exec (whether or not `options` says so); `permissions` apply only
  /// when `options` has `.create`. The corresponding C function is `open`.
  public static func open(
    _ path: String, _ access: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [],
    permissions: FilePermissions = [.ownerReadWrite]
  ) throws(Errno) -> FileDescriptor {
    let flags = access.rawValue | options.union(.closeOnExec).rawValue
    let fd = try retrying { Glibc.open(path, flags, permissions.rawValue) }
    return FileDescriptor(rawValue: fd)
  }

  /// An O_PATH descriptor of the current directory, which stays valid however the
  /// directory is renamed or however the path looks from another mount namespace.
  public static func openCurrentDirectory() throws(Errno) -> FileDescriptor {
    let fd = forkctl_open_current_directory()
    if fd < 0 { throw currentErrno() }
    return FileDescriptor(rawValue: fd)
  }

  /// Sends `signal` to `pid`. The corresponding C function is `kill`.
  public static func kill(_ pid: Int32, _ signal: Signal) throws(Errno) {
    if Glibc.kill(pid, signal.rawValue) < 0 { throw currentErrno() }
  }

  /// Collects one exited child without blocking: nil when none is waiting.
  /// The corresponding C function is `waitpid`.
  public static func reapChild() throws(Errno) -> (pid: Int32, status: ExitStatusValue)? {
    var status: CInt = 0
    let pid: Int32
    do {
      pid = try retrying { waitpid(-1, &status, WNOHANG) }
    } catch {
      // ECHILD: no children at all, which is the same as none waiting.
      if error == .noChildProcess { return nil }
      throw error
    }
    if pid == 0 { return nil }
    return (pid, ExitStatusValue(waitStatus: status))
  }

  /// Waits for one specific child. The corresponding C function is `waitpid`.
  public static func waitChild(_ pid: Int32) throws(Errno) -> ExitStatusValue {
    var status: CInt = 0
    _ = try retrying { waitpid(pid, &status, 0) }
    return ExitStatusValue(waitStatus: status)
  }

  /// Makes this process the reaper of every orphaned descendant (PR_SET_CHILD_SUBREAPER).
  public static func becomeChildSubreaper() throws(Errno) {
    if forkctl_set_child_subreaper() < 0 { throw currentErrno() }
  }

  /// Starts `path` with `fds` on 0, 1, 2, ... (nil is /dev/null) and nothing else, an empty
  /// signal mask and default signal actions. The corresponding C function is `posix_spawn`.
  public static func posixSpawn(
    path: String, arguments: [String], environment: [String], fds: [FileDescriptor?],
    newSession: Bool = false
  ) throws(Errno) -> Int32 {
    var pid: pid_t = 0
    let raw = fds.map { $0?.rawValue ?? -1 }
    let rc = withCStrings(arguments) { argv in
      withCStrings(environment) { envp in
        forkctl_posix_spawn(path, argv, envp, raw, CInt(raw.count), newSession ? 1 : 0, &pid)
      }
    }
    if rc != 0 { throw Errno(rawValue: rc) }
    return pid
  }

  /// The path of the running executable (/proc/self/exe).
  public static func executablePath() throws(Errno) -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = try retrying { readlink("/proc/self/exe", &buf, buf.count - 1) }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Ignores SIGPIPE, so that writing to a vanished peer fails with EPIPE.
  public static func ignoreBrokenPipe() { forkctl_ignore_sigpipe() }

  /// Restores `signal`'s default action and raises it on this process: how a client dies the
  /// way its worker died, so that a shell sees the same status.
  public static func reraise(_ signal: Signal) { forkctl_reraise(signal.rawValue) }

  /// Sends `signal` to the process group `pid` leads, or to `pid` alone while it leads
  /// none yet. The corresponding C function is `killpg`.
  public static func signalGroup(_ pid: Int32, _ signal: Signal) throws(Errno) {
    if Glibc.kill(-pid, signal.rawValue) == 0 { return }
    if Glibc.kill(pid, signal.rawValue) < 0 { throw currentErrno() }
  }

  /// Makes this process the leader of a new process group. The corresponding C function
  /// is `setpgid`.
  public static func makeProcessGroup() { _ = setpgid(0, 0) }

  /// Stops this process as SIGSTOP does.
  public static func stopSelf() { _ = raise(SIGSTOP) }

  /// A descriptor that refers to process `pid` for as long as it is open, even after it
  /// has been reaped (close-on-exec). The corresponding C function is `pidfd_open`.
  public static func openPIDFD(_ pid: Int32) throws(Errno) -> FileDescriptor {
    let fd = forkctl_pidfd_open(pid)
    if fd < 0 { throw currentErrno() }
    return FileDescriptor(rawValue: fd)
  }

  /// Whether `fd` is readable, hung up or broken right now, without waiting. The
  /// corresponding C function is `poll`.
  public static func isReadableNow(_ fd: FileDescriptor) -> Bool {
    var p = pollfd(fd: fd.rawValue, events: Int16(POLLIN) | Int16(FORKCTL_POLLRDHUP), revents: 0)
    return poll(&p, 1, 0) != 0
  }

  /// Whether `path` is a file this process may execute. The corresponding C function is
  /// `access`.
  public static func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

  /// A monotonic clock in milliseconds. The corresponding C function is `clock_gettime`.
  public static func monotonicMilliseconds() -> Int64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
  }

  /// Waits until `fds` are readable (or hung up); returns which, in order. The
  /// corresponding C function is `poll`.
  public static func waitReadable(_ fds: [FileDescriptor]) throws(Errno) -> [Bool] {
    var polls = fds.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
    while true {
      let n = polls.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), -1) }
      if n >= 0 { break }
      let e = currentErrno()
      if e != .interrupted { throw e }
    }
    return polls.map { $0.revents != 0 }
  }

  /// The number of threads of this process (/proc/self/stat).
  public static func threadCount() -> Int { Int(forkctl_thread_count()) }

  /// clone(CLONE_PARENT): returns 0 in the child and the child's pid in the parent.
  public static func forkAsSibling() throws(Errno) -> Int32 {
    let pid = forkctl_clone_parent()
    if pid < 0 { throw currentErrno() }
    return pid
  }

  /// Ends the process at once, without running atexit handlers (for a child whose exec failed).
  public static func exitImmediately(_ code: Int32) -> Never { _exit(code) }

  /// Ends the process normally.
  public static func exitProcess(_ code: Int32) -> Never { exit(code) }

  /// The process's environment as "NAME=VALUE" byte strings.
  public static func environment() -> [[UInt8]] {
    var out = [[UInt8]]()
    // environ is NULL in a process started with an empty environment, and the Glibc
    // overlay's `environ` traps then: read it in C.
    guard var p = forkctl_environ() else { return out }
    while let s = p.pointee {
      out.append(Array(UnsafeBufferPointer(start: UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self), count: strlen(s))))
      p += 1
    }
    return out
  }

  /// The value of one environment variable.
  public static func environmentValue(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
  }

  /// Creates `path` as a directory private to this user (0700), or checks that an existing
  /// one is: owned by us and not accessible to anybody else.
  /// With `searchableByOthers` the mode is 0711 instead (others may reach a socket inside
  /// by its name, but not list or change the directory); an existing directory of ours with
  /// either mode is set to the one asked for, and one that others may read or write is refused.
  public static func makePrivateDirectory(_ path: String, searchableByOthers: Bool = false) throws(PrivateDirectoryError) {
    let wanted: mode_t = searchableByOthers ? 0o711 : 0o700
    if mkdir(path, wanted) < 0 && Glibc.errno != EEXIST {
      throw PrivateDirectoryError(path: path, reason: .system(currentErrno()))
    }
    var st = stat()
    if lstat(path, &st) < 0 { throw PrivateDirectoryError(path: path, reason: .system(currentErrno())) }
    if st.st_mode & S_IFMT != S_IFDIR { throw PrivateDirectoryError(path: path, reason: .notDirectory) }
    if st.st_uid != getuid() { throw PrivateDirectoryError(path: path, reason: .wrongOwner(st.st_uid)) }
    if st.st_mode & 0o066 != 0 || st.st_mode & 0o700 != 0o700 {
      throw PrivateDirectoryError(path: path, reason: .openToOthers(UInt32(st.st_mode & 0o777)))
    }
    // mkdir's mode went through the umask, and an existing one may have the other mode.
    if st.st_mode & 0o777 != wanted && chmod(path, wanted) < 0 {
      throw PrivateDirectoryError(path: path, reason: .system(currentErrno()))
    }
  }

  /// Sets a file's permission bits. The corresponding C function is `chmod`.
  public static func setMode(_ path: String, _ mode: UInt32) throws(Errno) {
    if chmod(path, mode_t(mode)) < 0 { throw currentErrno() }
  }

  /// Removes a file; a missing file is not an error. The corresponding C function is `unlink`.
  public static func removeFile(_ path: String) throws(Errno) {
    if unlink(path) < 0 && Glibc.errno != ENOENT { throw currentErrno() }
  }

  /// Renames atomically. The corresponding C function is `rename`.
  public static func rename(_ from: String, _ to: String) throws(Errno) {
    if Glibc.rename(from, to) < 0 { throw currentErrno() }
  }

  /// Takes an exclusive lock on an open file, blocking. The corresponding C function is `flock`.
  public static func lockExclusive(_ fd: FileDescriptor) throws(Errno) {
    _ = try retrying { flock(fd.rawValue, LOCK_EX) }
  }

  /// Sets the text `ps` shows for this process. setproctitle_init must have run first.
  public static func setProcessTitle(_ title: String) { forkctl_setproctitle(title) }

  /// Prepares setproctitle: libbsd moves the environment away so the title can use the
  /// space of argv and environ (setproctitle(3bsd)).
  public static func initializeProcessTitle() {
    setproctitle_init(CommandLine.argc, CommandLine.unsafeArgv, environ)
  }

  /// Text of errno, as strerror gives it.
  public static func describe(_ e: Errno) -> String { String(cString: strerror(e.rawValue)) }
}

/// A directory that cannot be used as the private socket directory.
public struct PrivateDirectoryError: Error {
  public enum Reason: Sendable {
    case system(Errno)
    case notDirectory
    case wrongOwner(UInt32)
    case openToOthers(UInt32)
  }
  public var path: String
  public var reason: Reason

  public var description: String {
    switch reason {
    case .system(let e): return "cannot create directory \(path): \(Sys.describe(e))"
    case .notDirectory: return "\(path) exists and is not a directory"
    case .wrongOwner(let uid): return "directory \(path) belongs to uid \(uid), not to us"
    case .openToOthers(let mode):
      return "directory \(path) has mode \(String(mode, radix: 8)); it must be 0700"
    }
  }
}

/// A raw wait status decoded.
public struct ExitStatusValue: Equatable, Sendable {
  public var exitCode: Int32?
  public var signal: Int32?
  public var coreDumped: Bool

  init(waitStatus s: CInt) {
    if forkctl_wifexited(s) != 0 {
      exitCode = forkctl_wexitstatus(s)
      signal = nil
      coreDumped = false
    } else {
      exitCode = nil
      signal = forkctl_wifsignaled(s) != 0 ? forkctl_wtermsig(s) : 0
      coreDumped = forkctl_wcoredump(s) != 0
    }
  }
}

/// Runs `body` with a NULL-terminated C array of the strings.
public func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
  withCStrings(strings.map { Array($0.utf8) }, body)
}

/// Runs `body` with a NULL-terminated C array of the byte strings (each NUL-terminated).
public func withCStrings<R>(_ strings: [[UInt8]], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
  var total = 0
  for s in strings { total += s.count + 1 }
  let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
  let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
  defer {
    storage.deallocate()
    pointers.deallocate()
  }
  var offset = 0
  for (i, s) in strings.enumerated() {
    pointers[i] = storage + offset
    s.withUnsafeBytes { raw in
      if !raw.isEmpty {
        UnsafeMutableRawPointer(storage + offset).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
      }
    }
    storage[offset + s.count] = 0
    offset += s.count + 1
  }
  pointers[strings.count] = nil
  return body(pointers)
}

extension Sys {
  /// Replaces the process with `program`: `moves` are placed (source descriptor, target
  /// number), everything else is closed or close-on-exec, stdio not given is /dev/null.
  /// `keep` are descriptors still needed if exec fails; their new numbers are written back.
  /// Returns only on failure, with the reason. The C function is `forkctl_exec_worker`.
  public static func execute(
    program: [UInt8], arguments: [[UInt8]], environment: [[UInt8]],
    moves: [(source: FileDescriptor, target: Int32)], workingDirectory: FileDescriptor?,
    keep: inout [FileDescriptor]
  ) -> Errno {
    var rawKeep = keep.map(\.rawValue)
    let rc = withExecArguments(program, arguments, environment, moves) { file, argv, envp, path, rawMoves in
      forkctl_exec_worker(
        rawMoves, CInt(rawMoves.count), workingDirectory?.rawValue ?? -1, file, argv, envp, path, &rawKeep,
        CInt(rawKeep.count))
    }
    keep = rawKeep.map { FileDescriptor(rawValue: $0) }
    return Errno(rawValue: rc)
  }

  /// Starts `program` as `execute` would run it, in a new child of this process's parent
  /// (clone(CLONE_VM | CLONE_VFORK | CLONE_PARENT), as posix_spawn does: nothing of this
  /// process is copied). `keep` are descriptors of this process that the program must not
  /// get. Returns the pid and nil once the program runs, or the pid of the child (which
  /// exits 127 or 126) and the errno of its failed exec.
  public static func vforkSibling(
    program: [UInt8], arguments: [[UInt8]], environment: [[UInt8]],
    moves: [(source: FileDescriptor, target: Int32)], workingDirectory: FileDescriptor?, keep: [FileDescriptor]
  ) throws(Errno) -> (pid: Int32, execFailure: Errno?) {
    var rawKeep = keep.map(\.rawValue)
    var execErrno: CInt = 0
    let pid = withExecArguments(program, arguments, environment, moves) { file, argv, envp, path, rawMoves in
      forkctl_vfork_sibling(
        rawMoves, CInt(rawMoves.count), workingDirectory?.rawValue ?? -1, file, argv, envp, path, &rawKeep,
        CInt(rawKeep.count), &execErrno)
    }
    if pid < 0 { throw currentErrno() }
    return (pid, execErrno == 0 ? nil : Errno(rawValue: execErrno))
  }

  /// The C forms of an exec's program, argv, environment, PATH (from the environment) and
  /// descriptor moves, valid during `body`.
  private static func withExecArguments<R>(
    _ program: [UInt8], _ arguments: [[UInt8]], _ environment: [[UInt8]],
    _ moves: [(source: FileDescriptor, target: Int32)],
    _ body: (
      UnsafePointer<CChar>, UnsafePointer<UnsafeMutablePointer<CChar>?>, UnsafePointer<UnsafeMutablePointer<CChar>?>,
      UnsafePointer<CChar>?, [forkctl_fd_move]
    ) -> R
  ) -> R {
    var path: [UInt8]? = nil
    let prefix = Array("PATH=".utf8)
    for e in environment where e.starts(with: prefix) { path = Array(e.dropFirst(prefix.count)) }
    let rawMoves = moves.map { forkctl_fd_move(src: $0.source.rawValue, target: $0.target) }
    return withCStrings([program] + (path.map { [$0] } ?? [])) { fileAndPath in
      withCStrings(arguments) { argv in
        withCStrings(environment) { envp in
          body(fileAndPath[0]!, argv, envp, path == nil ? nil : UnsafePointer(fileAndPath[1]), rawMoves)
        }
      }
    }
  }
}

extension Sys {
  /// Opens or creates a file read-write, 0600 (a lock file).
  public static func openOrCreate(_ path: String) throws(Errno) -> FileDescriptor {
    try open(path, .readWrite, options: .create)
  }

  /// Opens or creates a file for appending, 0600 (a log).
  public static func openForAppending(_ path: String) throws(Errno) -> FileDescriptor {
    try open(path, .writeOnly, options: [.create, .append])
  }
}

extension Sys {
  /// Moves the calling process into the background: fork, the parent exits at once, the
  /// child starts a new session. Only for a single-threaded process at start-up.
  public static func detach() throws(Errno) {
    let pid = fork()
    if pid < 0 { throw currentErrno() }
    if pid > 0 { _exit(0) }
    _ = setsid()
  }

  /// The raw bytes of the last `count` command-line arguments: what a shell passed, byte
  /// for byte, even when it is not UTF-8 (CommandLine.arguments repairs invalid UTF-8).
  public static func rawArguments(last count: Int) -> [[UInt8]] {
    let argc = Int(CommandLine.argc)
    return (max(0, argc - count)..<argc).map { i in
      let p = CommandLine.unsafeArgv[i]!
      return Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
    }
  }

  /// Writes a line to standard error.
  public static func printError(_ line: String) {
    try? FileDescriptor(rawValue: 2).writeFully(Array((line + "\n").utf8))
  }
}

extension Sys {
  /// Changes the working directory. The corresponding C function is `chdir`.
  public static func changeDirectory(_ path: String) throws(Errno) {
    if chdir(path) < 0 { throw currentErrno() }
  }
}

extension Sys {
  /// The most descriptors this process may have open (the soft RLIMIT_NOFILE), or nil when
  /// unlimited or unknown. The corresponding C function is `getrlimit`.
  public static func descriptorLimit() -> Int? {
    var r = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &r) == 0, r.rlim_cur != rlim_t.max else { return nil }
    return Int(clamping: r.rlim_cur)
  }

  /// Whether `error` means that no descriptor could be had: the process (EMFILE) or the
  /// system (ENFILE) is at its limit.
  public static func isDescriptorShortage(_ error: Errno) -> Bool {
    error == .tooManyOpenFiles || error == .tooManyOpenFilesInSystem
  }
}
