import ForkctlSys
import ForkctlWire

/// A connected client, numbered by the event loop.
public typealias ClientID = UInt64

/// What the supervisor asks of the world. The event loop does it for real; tests record it.
public protocol SupervisorEffects {
  // MARK: Replies

  /// Sends `reply` to `client`; false when it is known not to arrive (the client is gone:
  /// the write failed), true when it went out or is queued.
  @discardableResult
  mutating func reply(_ client: ClientID, _ reply: Reply) -> Bool
  /// Bytes queued for `client` and not yet written (it does not read).
  func clientBacklog(_ client: ClientID) -> Int
  /// Sends `reply` to `client` without ending its request (nil: nothing to send), with
  /// `fds` (consumed), and lets the client forward signals until the final reply.
  mutating func attach(_ client: ClientID, _ reply: Reply?, fds: [FileDescriptor])

  // MARK: Process objects' descriptors

  /// Sends `command` to process object `id` over its control socket, with `fds`, which the
  /// effects then own and close once sent.
  mutating func send(_ id: UInt64, _ command: Command, fds: [FileDescriptor])
  /// What is still queued for `id`'s control socket, not yet written: descriptors, and bytes
  /// of frames.
  func queued(_ id: UInt64) -> (fds: Int, bytes: Int)
  /// A new socket pair.
  mutating func socketPair() throws(Errno) -> (FileDescriptor, FileDescriptor)
  /// A new datagram socket pair (a pool worker's notify socket), both ends close-on-exec.
  mutating func datagramPair() throws(Errno) -> (FileDescriptor, FileDescriptor)
  /// Starts watching the daemon's end of pool worker `id`'s notify socket.
  mutating func watchNotify(_ id: UInt64, _ fd: FileDescriptor)
  /// Binds and watches a NOTIFY_SOCKET for pool worker `id`; returns its address, `@NAME`.
  mutating func openNotifySocket(_ id: UInt64) throws(Errno) -> [UInt8]
  /// Stops watching and closes `id`'s notify sockets, if open.
  mutating func closeNotify(_ id: UInt64)
  /// A new pipe.
  mutating func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor)
  /// Starts watching the daemon's end of process object `id`'s control socket.
  mutating func watchControl(_ id: UInt64, _ fd: FileDescriptor)
  /// Stops watching and closes `id`'s control socket; the process sees end of file.
  mutating func closeControl(_ id: UInt64)
  /// Whether the process end of `id`'s control socket is closed with nothing left to read:
  /// no process holds it, and none announced itself on it.
  func isControlAbandoned(_ id: UInt64) -> Bool
  /// Starts watching the read end of `id`'s exec status pipe.
  mutating func watchStatusPipe(_ id: UInt64, _ fd: FileDescriptor)
  /// A close-on-exec copy of `fd`, which the supervisor keeps (a template's recipe).
  mutating func duplicate(_ fd: FileDescriptor) throws(Errno) -> FileDescriptor
  /// Closes a descriptor the supervisor no longer needs.
  mutating func close(_ fd: FileDescriptor)

  // MARK: Processes

  /// Starts a template process holding `control` (consumed) on its control descriptor;
  /// `role` (the default template, or one made by exec) chooses its executable.
  mutating func startTemplate(id: UInt64, role: ProcessEntry.Role, control: FileDescriptor) throws(Errno) -> Int32
  /// Starts language host `id`: `host.interpreter` on its host script, holding `control`
  /// (consumed) on its control descriptor (forkctl-protocol(7), exec).
  mutating func startHost(id: UInt64, _ host: HostSpec, control: FileDescriptor) throws(Errno) -> Int32
  /// Sends a signal to a process.
  mutating func signal(_ pid: Int32, _ signal: Int32) throws(Errno)
  /// Sends a signal (0: none, only the check) to the process `pidfd` refers to; ESRCH once it
  /// has been reaped (pidfd_send_signal(2)).
  mutating func signal(pidfd: FileDescriptor, _ signal: Int32) throws(Errno)
  /// Whether the process `pidfd` refers to has ended, reaped or not (the pidfd is readable).
  func hasEnded(pidfd: FileDescriptor) -> Bool
  /// The process `pidfd` refers to and its parent's pid; nil once it has been reaped, or when
  /// the system cannot tell.
  func processAndParent(ofPIDFD pidfd: FileDescriptor) -> (pid: Int32, parent: Int32)?
  /// Sends a signal to the process group a worker leads (to the worker alone while it has
  /// not made its group yet), as a terminal does to its foreground job.
  mutating func signalGroup(_ pid: Int32, _ signal: Int32)
  /// Sends a signal to what remains of process group `group`, whose leader may be gone:
  /// only to the group, never to a process that has the leader's pid.
  mutating func signalRemainingGroup(_ group: Int32, _ signal: Int32)
  /// Whether process group `group` has a member other than its leader; true when the
  /// system cannot tell.
  func groupHasOtherMembers(_ group: Int32) -> Bool
  /// Whether `pid` is a child of the daemon not reaped yet, alive or not (waitid(2) with
  /// WNOWAIT).
  func isUnreapedChild(_ pid: Int32) -> Bool
  /// Whether child `pid`, not reaped yet, whose descriptor that closes on exec reached end of
  /// file (or that has exited), ran its program rather than ended before (Sys.hasExecuted);
  /// true when the system cannot tell.
  func ranProgram(_ pid: Int32) -> Bool
  /// A pidfd for child `pid`, nil where the kernel has none (pidfd_open(2)).
  mutating func openPIDFD(_ pid: Int32) -> FileDescriptor?
  /// The memory of child `pid` now (/proc/PID/smaps_rollup); ESRCH once it has exited.
  mutating func memoryFigures(_ pid: Int32) throws(Errno) -> MemoryFigures
  /// The files child `pid` maps now (/proc/PID/maps) and its executable.
  mutating func mappedFiles(_ pid: Int32) throws(Errno) -> MappedFiles
  /// The modules language host worker `pid` imported after its fork (its forkctl-imports memfd).
  mutating func importedModules(_ pid: Int32) throws(Errno) -> [[UInt8]]

  // MARK: Clock and daemon

  /// Writes one line to the daemon's log (LoopEffects: DaemonLog), if `level` is kept.
  mutating func log(_ level: LogLevel, _ message: String)

  /// A monotonic clock, in milliseconds.
  mutating func now() -> Int64
  /// Stops the daemon after the pending replies are written.
  mutating func shutdown()
}
