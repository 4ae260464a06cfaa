// The Supervisor's effects, carried out by the event loop with ForkctlSys.
import ForkctlSys
import ForkctlWire

struct LoopEffects: SupervisorEffects {
  unowned let loop: EventLoop

  @discardableResult
  mutating func reply(_ client: ClientID, _ reply: Reply) -> Bool {
    guard let c = loop.clients[client] else { return false }
    c.busy = false
    c.attached = false
    let result = c.connection.enqueue(reply.frame(), fds: [])
    loop.rewatch(c.connection.fd, c.interest, .client(client))
    loop.resumable.append(client)
    return result != .broken
  }

  mutating func log(_ level: LogLevel, _ message: String) { loop.log(level, message) }

  func clientBacklog(_ client: ClientID) -> Int { loop.clients[client]?.connection.queuedBytes ?? 0 }

  mutating func attach(_ client: ClientID, _ reply: Reply?, fds: [FileDescriptor]) {
    guard let c = loop.clients[client] else { return close(fds) }
    c.attached = true
    if let reply {
      c.connection.enqueue(reply.frame(), fds: fds)
    } else {
      close(fds)
    }
    loop.rewatch(c.connection.fd, c.interest, .client(client))
    // Signal frames may already be buffered.
    loop.resumable.append(client)
  }

  mutating func send(_ id: UInt64, _ command: Command, fds: [FileDescriptor]) {
    guard let p = loop.controls[id] else { return close(fds) }
    loop.flushControl(id, p, queueing: command.frame(), fds: fds)
  }

  func queued(_ id: UInt64) -> (fds: Int, bytes: Int) {
    guard let p = loop.controls[id] else { return (0, 0) }
    return p.queue.reduce((fds: 0, bytes: 0)) { ($0.fds + $1.fds.count, $0.bytes + $1.bytes.count - $1.offset) }
  }

  mutating func socketPair() throws(Errno) -> (FileDescriptor, FileDescriptor) { try Sys.socketPair() }

  mutating func datagramPair() throws(Errno) -> (FileDescriptor, FileDescriptor) {
    try Sys.socketPair(datagram: true)
  }

  mutating func watchNotify(_ id: UInt64, _ fd: FileDescriptor) {
    loop.notifySockets[id] = fd
    loop.watch(fd, [.readable, .oneShot], .notify(id))
  }

  mutating func closeNotify(_ id: UInt64) {
    for fd in [loop.notifySockets.removeValue(forKey: id), loop.boundNotifySockets.removeValue(forKey: id)] {
      guard let fd else { continue }
      loop.epoll.remove(fd)
      fd.closeQuietly()
    }
  }

  mutating func openNotifySocket(_ id: UInt64) throws(Errno) -> [UInt8] {
    // Unique while the daemon runs (ids are never reused), and naming whose it is.
    let name = Array("forkctl/\(Sys.processID)/worker/\(id)".utf8)
    let fd = try UnixSocket.notifySocket(name)
    loop.boundNotifySockets[id] = fd
    loop.watch(fd, .readable, .notifySocket(id))
    return [UInt8(ascii: "@")] + name
  }

  mutating func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) { try Sys.pipe() }

  mutating func watchControl(_ id: UInt64, _ fd: FileDescriptor) {
    // A fresh socket of ours: only a bug makes O_NONBLOCK fail.
    try! fd.setNonblocking(true)
    loop.controls[id] = Connection(fd: fd)
    loop.watch(fd, .readable, .control(id))
  }

  mutating func closeControl(_ id: UInt64) {
    guard let p = loop.controls.removeValue(forKey: id) else { return }
    loop.epoll.remove(p.fd)
    p.close()
  }

  mutating func watchStatusPipe(_ id: UInt64, _ fd: FileDescriptor) {
    loop.statusPipes[id] = fd
    loop.watch(fd, .readable, .statusPipe(id))
  }

  mutating func close(_ fd: FileDescriptor) { fd.closeQuietly() }

  mutating func duplicate(_ fd: FileDescriptor) throws(Errno) -> FileDescriptor { try fd.duplicate() }

  private func close(_ fds: [FileDescriptor]) {
    for f in fds { f.closeQuietly() }
  }

  mutating func startTemplate(id: UInt64, role: ProcessEntry.Role, control: FileDescriptor) throws(Errno) -> Int32 {
    defer { control.closeQuietly() }
    // The template gets /dev/null on 0 and 1, the daemon's stderr on 2 (its own errors go
    // to the daemon's log), the control socket on 3 and nothing else. Its own process group:
    // neither it nor a program it runs itself (run TEMPLATE) can reach the daemon with
    // kill(0, ...) (issue 11 item 8). Not its own session: its workers, in its session and
    // children of the daemon, would then lead orphaned process groups, which the kernel
    // does not stop on SIGTSTP (setpgid(2), NOTES).
    return try Sys.posixSpawn(
      path: loop.templateImage.path(for: role), arguments: ["forkctl", "__template", String(id)], environment: [],
      fds: [nil, nil, FileDescriptor.standardError, control], newProcessGroup: true)
  }

  mutating func startHost(id: UInt64, _ host: HostSpec, control: FileDescriptor) throws(Errno) -> Int32 {
    defer { control.closeQuietly() }
    let interpreter = String(decoding: host.interpreter, as: UTF8.self)
    // posix_spawn reports a file that is not executable only after it forked: refused here
    // with the reason a shell would give.
    guard Sys.isExecutableFile(interpreter) else {
      do {
        _ = try Sys.linkStatus(interpreter)
      } catch {
        throw error
      }
      throw Errno.permissionDenied
    }
    let script = try loop.hostScript(host)
    defer { if script.temporary { script.fd.closeQuietly() } }
    // As a native template is started (startTemplate), plus the script on 4, which the host
    // closes first; its argv names the script by that descriptor and the process object.
    return try Sys.posixSpawn(
      path: interpreter, arguments: [host.interpreter, Array("/proc/self/fd/4".utf8), Array(String(id).utf8)],
      environment: host.environment, fds: [nil, nil, FileDescriptor.standardError, control, script.fd],
      newProcessGroup: true)
  }

  mutating func signal(_ pid: Int32, _ signal: Int32) throws(Errno) { try Sys.kill(pid, Signal(rawValue: signal)) }

  mutating func signal(pidfd: FileDescriptor, _ signal: Int32) throws(Errno) {
    try Sys.signal(pidfd: pidfd, Signal(rawValue: signal))
  }

  func hasEnded(pidfd: FileDescriptor) -> Bool { Sys.hasEnded(pidfd: pidfd) }

  func processAndParent(ofPIDFD pidfd: FileDescriptor) -> (pid: Int32, parent: Int32)? {
    Sys.processAndParent(ofPIDFD: pidfd)
  }

  mutating func signalGroup(_ pid: Int32, _ signal: Int32) {
    // Best effort: the group may have ended since the supervisor last heard of it.
    try? Sys.signalGroup(pid, Signal(rawValue: signal))
  }

  func isUnreapedChild(_ pid: Int32) -> Bool { Sys.isUnreapedChild(pid) }

  func isControlAbandoned(_ id: UInt64) -> Bool {
    guard let p = loop.controls[id] else { return true }
    return Sys.isPeerGoneWithNothingUnread(p.fd)
  }

  func ranProgram(_ pid: Int32) -> Bool { Sys.hasExecuted(pid) ?? true }

  mutating func signalRemainingGroup(_ group: Int32, _ signal: Int32) {
    // Best effort: ESRCH when no member is left.
    try? Sys.signalOnlyGroup(group, Signal(rawValue: signal))
  }

  func groupHasOtherMembers(_ group: Int32) -> Bool { Sys.groupHasOtherMembers(group) ?? true }

  /// nil on a kernel without pidfd_open (before 5.3) or out of descriptors: the created reply
  /// then goes without one, as the protocol allows.
  mutating func openPIDFD(_ pid: Int32) -> FileDescriptor? { try? Sys.openPIDFD(pid) }

  mutating func memoryFigures(_ pid: Int32) throws(Errno) -> MemoryFigures { try Sys.memoryFigures(of: pid) }

  mutating func mappedFiles(_ pid: Int32) throws(Errno) -> MappedFiles { try Sys.mappedFiles(of: pid) }

  mutating func importedModules(_ pid: Int32) throws(Errno) -> [[UInt8]] { try Sys.importedModules(of: pid) }

  mutating func now() -> Int64 { Sys.monotonicMilliseconds() }

  mutating func shutdown() { loop.stopping = true }
}
