import ForkctlSys
import ForkctlWire

@testable import ForkctlDaemon

/// A fake world for the Supervisor: it records every effect and hands out fake descriptor
/// numbers (from 10000 up) and fake pids (1000 + n for the n-th template). It never touches a
/// real descriptor or process: `close` and `closeControl` only record.
struct RecordingEffects: SupervisorEffects {
  struct Sent: Equatable {
    var command: Command
    var fds: [FileDescriptor]
    var fdCount: Int { fds.count }
  }

  struct Template: Equatable {
    var id: UInt64
    var control: FileDescriptor
    var pid: Int32
  }

  /// Everything that happened, in order, for checks of "only after".
  enum Event: Equatable {
    case reply(ClientID, Reply)
    case send(UInt64, Command, fds: [FileDescriptor])
    case startTemplate(UInt64, pid: Int32)
    case startHost(UInt64, HostSpec, pid: Int32)
    case watchControl(UInt64, FileDescriptor)
    case closeControl(UInt64)
    case watchStatusPipe(UInt64, FileDescriptor)
    case watchNotify(UInt64, FileDescriptor)
    case closeNotify(UInt64)
    case close(FileDescriptor)
    case signal(pid: Int32, signal: Int32)
    case signalPIDFD(FileDescriptor, signal: Int32)
    case signalGroup(pid: Int32, signal: Int32)
    case signalRemainingGroup(group: Int32, signal: Int32)
    case attach(ClientID, Reply?, fds: [FileDescriptor])
    case shutdown
  }

  var events: [Event] = []
  var replies: [ClientID: [Reply]] = [:]
  var sent: [UInt64: [Sent]] = [:]
  var templates: [Template] = []
  var socketPairs: [(FileDescriptor, FileDescriptor)] = []
  /// Pool workers' notify socket pairs, and the daemon ends watched now.
  var datagramPairs: [(FileDescriptor, FileDescriptor)] = []
  var watchedNotify: [UInt64: FileDescriptor] = [:]
  var pipes: [(read: FileDescriptor, write: FileDescriptor)] = []
  var watchedControls: [UInt64: FileDescriptor] = [:]
  var watchedStatusPipes: [UInt64: FileDescriptor] = [:]
  var closedControls: [UInt64] = []
  var closed: [FileDescriptor] = []
  var signals: [(pid: Int32, signal: Int32)] = []
  var shutdowns = 0
  /// The log lines asked for, with their levels.
  var logged: [(level: LogLevel, message: String)] = []
  var groupSignals: [(pid: Int32, signal: Int32)] = []
  /// The intermediate replies of attach, per client (nil when attach sent none).
  var attachments: [ClientID: [Reply?]] = [:]
  var attachedFDs: [ClientID: [[FileDescriptor]]] = [:]
  var pidfds: [(pid: Int32, fd: FileDescriptor)] = []
  /// The fake monotonic clock, in milliseconds.
  var clock: Int64 = 1000

  /// Failures to inject: the next call of that kind throws this errno.
  var failSocketPair: Errno?
  var failStartTemplate: Errno?
  var failPipe: Errno?
  var failSignal: Errno?

  private var nextFD: CInt = 10000

  /// A fresh fake descriptor number (never a real open descriptor of this process).
  mutating func makeFD() -> FileDescriptor {
    defer { nextFD += 1 }
    return FileDescriptor(rawValue: nextFD)
  }

  /// Clients whose replies fail as if they had hung up.
  var gone: Set<ClientID> = []

  mutating func reply(_ client: ClientID, _ reply: Reply) -> Bool {
    events.append(.reply(client, reply))
    replies[client, default: []].append(reply)
    return !gone.contains(client)
  }

  mutating func send(_ id: UInt64, _ command: Command, fds: [FileDescriptor]) {
    events.append(.send(id, command, fds: fds))
    sent[id, default: []].append(Sent(command: command, fds: fds))
  }

  mutating func startTemplate(id: UInt64, role: ProcessEntry.Role, control: FileDescriptor) throws(Errno) -> Int32 {
    if let e = failStartTemplate {
      failStartTemplate = nil
      throw e
    }
    let pid = Int32(1000 + templates.count + 1)
    templates.append(Template(id: id, control: control, pid: pid))
    events.append(.startTemplate(id, pid: pid))
    return pid
  }

  mutating func startHost(id: UInt64, _ host: HostSpec, control: FileDescriptor) throws(Errno) -> Int32 {
    if let e = failStartTemplate {
      failStartTemplate = nil
      throw e
    }
    let pid = Int32(1000 + templates.count + 1)
    templates.append(Template(id: id, control: control, pid: pid))
    events.append(.startHost(id, host, pid: pid))
    return pid
  }

  mutating func socketPair() throws(Errno) -> (FileDescriptor, FileDescriptor) {
    if let e = failSocketPair {
      failSocketPair = nil
      throw e
    }
    let pair = (makeFD(), makeFD())
    socketPairs.append(pair)
    return pair
  }

  /// Descriptors duplicated, as (original, copy).
  var duplicates: [(FileDescriptor, FileDescriptor)] = []
  mutating func duplicate(_ fd: FileDescriptor) throws(Errno) -> FileDescriptor {
    let copy = makeFD()
    duplicates.append((fd, copy))
    return copy
  }

  mutating func datagramPair() throws(Errno) -> (FileDescriptor, FileDescriptor) {
    let pair = (makeFD(), makeFD())
    datagramPairs.append(pair)
    return pair
  }

  mutating func watchNotify(_ id: UInt64, _ fd: FileDescriptor) {
    events.append(.watchNotify(id, fd))
    watchedNotify[id] = fd
  }

  mutating func openNotifySocket(_ id: UInt64) throws(Errno) -> [UInt8] { Array("@forkctl/test/worker/\(id)".utf8) }

  mutating func closeNotify(_ id: UInt64) {
    guard watchedNotify.removeValue(forKey: id) != nil else { return }
    events.append(.closeNotify(id))
  }

  mutating func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) {
    if let e = failPipe {
      failPipe = nil
      throw e
    }
    let p = (read: makeFD(), write: makeFD())
    pipes.append(p)
    return p
  }

  mutating func watchControl(_ id: UInt64, _ fd: FileDescriptor) {
    events.append(.watchControl(id, fd))
    watchedControls[id] = fd
  }

  mutating func closeControl(_ id: UInt64) {
    events.append(.closeControl(id))
    closedControls.append(id)
  }

  mutating func watchStatusPipe(_ id: UInt64, _ fd: FileDescriptor) {
    events.append(.watchStatusPipe(id, fd))
    watchedStatusPipes[id] = fd
  }

  mutating func close(_ fd: FileDescriptor) {
    events.append(.close(fd))
    closed.append(fd)
  }

  mutating func signal(_ pid: Int32, _ signal: Int32) throws(Errno) {
    if let e = failSignal {
      failSignal = nil
      throw e
    }
    events.append(.signal(pid: pid, signal: signal))
    signals.append((pid, signal))
  }

  /// Hosted children's pidfds the fake kernel says name a reaped process (ESRCH), and those
  /// of a process that has ended (readable), reaped or not.
  var reapedPIDFDs: Set<FileDescriptor> = []
  var endedPIDFDs: Set<FileDescriptor> = []
  func hasEnded(pidfd: FileDescriptor) -> Bool { endedPIDFDs.contains(pidfd) || reapedPIDFDs.contains(pidfd) }
  /// What the fake /proc says each pidfd names, and its parent; one not set names the pid it
  /// was announced with, a child of its announcer (`pidfdAnnouncers`, filled by the test).
  var pidfdProcesses: [FileDescriptor: (pid: Int32, parent: Int32)] = [:]
  func processAndParent(ofPIDFD pidfd: FileDescriptor) -> (pid: Int32, parent: Int32)? {
    if reapedPIDFDs.contains(pidfd) { return nil }
    return pidfdProcesses[pidfd]
  }

  /// Signal 0 (the existence check) is not recorded as a signal sent.
  mutating func signal(pidfd: FileDescriptor, _ signal: Int32) throws(Errno) {
    if reapedPIDFDs.contains(pidfd) { throw Errno.noSuchProcess }
    if signal != 0 { events.append(.signalPIDFD(pidfd, signal: signal)) }
  }

  mutating func signalGroup(_ pid: Int32, _ signal: Int32) {
    events.append(.signalGroup(pid: pid, signal: signal))
    groupSignals.append((pid, signal))
  }

  mutating func signalRemainingGroup(_ group: Int32, _ signal: Int32) {
    events.append(.signalRemainingGroup(group: group, signal: signal))
  }

  /// Process groups the fake /proc says have members besides their leader.
  var groupsWithOtherMembers: Set<Int32> = []
  func groupHasOtherMembers(_ group: Int32) -> Bool { groupsWithOtherMembers.contains(group) }

  /// What the fake loop says is queued for each client (nothing unless set).
  var backlogs: [ClientID: Int] = [:]
  func clientBacklog(_ client: ClientID) -> Int { backlogs[client] ?? 0 }

  mutating func attach(_ client: ClientID, _ reply: Reply?, fds: [FileDescriptor]) {
    events.append(.attach(client, reply, fds: fds))
    attachedFDs[client, default: []].append(fds)
    attachments[client, default: []].append(reply)
  }

  mutating func now() -> Int64 { clock }

  /// What the fake loop says is still queued per process object (nothing unless set).
  var queuedForControl: [UInt64: (fds: Int, bytes: Int)] = [:]
  func queued(_ id: UInt64) -> (fds: Int, bytes: Int) { queuedForControl[id] ?? (0, 0) }

  /// Process objects whose control socket the fake kernel says a process still holds (a
  /// child born whose parent died before reporting it).
  var heldControls: Set<UInt64> = []
  func isControlAbandoned(_ id: UInt64) -> Bool { !heldControls.contains(id) }

  /// Pids the fake kernel says are unreaped children of the daemon.
  var unreapedChildren: Set<Int32> = []
  func isUnreapedChild(_ pid: Int32) -> Bool { unreapedChildren.contains(pid) }

  /// Pids the fake /proc says ended before they exec'd a program.
  var endedBeforeExec: Set<Int32> = []
  func ranProgram(_ pid: Int32) -> Bool { !endedBeforeExec.contains(pid) }

  /// The fake /proc: each pid's smaps_rollup figures and maps; a pid in neither reads as
  /// exited (ESRCH), one in `unreadable` fails with that errno.
  var memory: [Int32: MemoryFigures] = [:]
  var maps: [Int32: MappedFiles] = [:]
  var unreadable: [Int32: Errno] = [:]
  /// Every pid whose maps were read, in order.
  var mapsRead: [Int32] = []

  mutating func memoryFigures(_ pid: Int32) throws(Errno) -> MemoryFigures {
    if let e = unreadable[pid] { throw e }
    guard let figures = memory[pid] else { throw Errno.noSuchProcess }
    return figures
  }

  mutating func mappedFiles(_ pid: Int32) throws(Errno) -> MappedFiles {
    mapsRead.append(pid)
    if let e = unreadable[pid] { throw e }
    guard let files = maps[pid] else { throw Errno.noSuchProcess }
    return files
  }

  /// The fake forkctl-imports memfd of each pid.
  var imports: [Int32: [[UInt8]]] = [:]
  mutating func importedModules(_ pid: Int32) throws(Errno) -> [[UInt8]] { imports[pid] ?? [] }

  mutating func openPIDFD(_ pid: Int32) -> FileDescriptor? {
    let fd = makeFD()
    pidfds.append((pid, fd))
    return fd
  }

  mutating func log(_ level: LogLevel, _ message: String) { logged.append((level, message)) }

  mutating func shutdown() {
    events.append(.shutdown)
    shutdowns += 1
  }

  // MARK: Checks

  /// Commands sent to `id`, without their descriptors.
  func commands(to id: UInt64) -> [Command] { (sent[id] ?? []).map(\.command) }

  /// Sends whose descriptor count differs from what their frame declares (must be none: the
  /// event loop attaches exactly `fds` to the frame).
  var sendsWithWrongFDCount: [Sent] {
    sent.values.flatMap { $0 }.filter { $0.fds.count != $0.command.frame().fdCount }
  }

  /// Attachments whose reply declares another descriptor count than it comes with (must be
  /// none: a created reply declares its pidfd).
  var attachmentsWithWrongFDCount: [(ClientID, Reply?, Int)] {
    events.compactMap {
      guard case .attach(let client, let reply, let fds) = $0 else { return nil }
      return (reply?.frame().fdCount ?? 0) == fds.count || (reply == nil && fds.isEmpty)
        ? nil : (client, reply, fds.count)
    }
  }

  /// Descriptors both handed to `send` (whose effect owns and closes them) and closed by the
  /// supervisor: a double close.
  var sentAndClosed: Set<CInt> {
    let sentFDs = Set(sent.values.flatMap { $0 }.flatMap { $0.fds.map(\.rawValue) })
    return sentFDs.intersection(closed.map(\.rawValue))
  }

  /// Control sockets watched and never closed.
  var openControls: Set<UInt64> { Set(watchedControls.keys).subtracting(closedControls) }
}
