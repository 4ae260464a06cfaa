/// One process object as `list` reports it (an entry of the `listing` reply).
public struct ProcessEntry: Equatable, Sendable {
  public enum Role: UInt8, Sendable {
    case template = 0
    case defaultTemplate = 1
    case forked = 2
    /// A template made by exec as a language host (exec --python, --perl).
    case pythonHost = 3
    case perlHost = 4

    /// The role of a template made by exec as a host of `language`.
    public static func host(_ language: HostLanguage) -> Role {
      switch language {
      case .python: .pythonHost
      case .perl: .perlHost
      }
    }
  }
  public enum State: UInt8, Sendable {
    case starting = 0
    case ready = 1
    case running = 2
    case exited = 3
  }

  public var id: UInt64
  public var name: [UInt8]
  public var role: Role
  public var parent: UInt64
  public var pid: Int32
  public var state: State
  public var status: ExitStatus?
  public var fdsSent: UInt32
  public var argumentsSent: UInt32
  public var program: [UInt8]

  public init(
    id: UInt64, name: [UInt8], role: Role, parent: UInt64, pid: Int32, state: State,
    status: ExitStatus?, fdsSent: UInt32, argumentsSent: UInt32, program: [UInt8]
  ) {
    self.id = id
    self.name = name
    self.role = role
    self.parent = parent
    self.pid = pid
    self.state = state
    self.status = status
    self.fdsSent = fdsSent
    self.argumentsSent = argumentsSent
    self.program = program
  }

  /// The fewest bytes an entry takes: u64 id, empty name (u32), u8 role, u64 parent, i32 pid,
  /// u8 state, status, u32 fds, u32 strings, empty program (u32).
  static let minimumSize = 8 + 4 + 1 + 8 + 4 + 1 + ExitStatus.size + 4 + 4 + 4

  func write(to w: inout PayloadWriter) {
    w.u64(id)
    w.string(name)
    w.u8(role.rawValue)
    w.u64(parent)
    w.i32(pid)
    w.u8(state.rawValue)
    if let status {
      status.write(to: &w)
    } else {
      ExitStatus.writeNone(to: &w)
    }
    w.u32(fdsSent)
    w.u32(argumentsSent)
    w.string(program)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> ProcessEntry {
    let id = try r.u64()
    let name = try r.string()
    let rawRole = try r.u8()
    guard let role = Role(rawValue: rawRole) else { throw .invalid("role \(rawRole)") }
    let parent = try r.u64()
    let pid = try r.i32()
    let rawState = try r.u8()
    guard let state = State(rawValue: rawState) else { throw .invalid("state \(rawState)") }
    let status = try ExitStatus.read(&r)
    return ProcessEntry(
      id: id, name: name, role: role, parent: parent, pid: pid, state: state, status: status,
      fdsSent: try r.u32(), argumentsSent: try r.u32(), program: try r.string())
  }
}

/// How one process object ended, as `statuses` reports it.
public struct StatusEntry: Equatable, Sendable {
  public var id: UInt64
  public var status: ExitStatus

  public init(id: UInt64, status: ExitStatus) {
    self.id = id
    self.status = status
  }

  /// Bytes of an entry: u64 id, then the status.
  static let size = 8 + ExitStatus.size

  func write(to w: inout PayloadWriter) {
    w.u64(id)
    status.write(to: &w)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> StatusEntry {
    let id = try r.u64()
    guard let status = try ExitStatus.read(&r) else { throw .invalid("missing exit status") }
    return StatusEntry(id: id, status: status)
  }
}

/// The daemon's answer to one request.
public enum Reply: Equatable, Sendable {
  case ok
  /// A new process object. `withPIDFD`: a pidfd of the program (pidfd_open(2)) comes with
  /// the frame, in reply to a spawn that asked for one; it is the receiver's to close.
  case created(id: UInt64, pid: Int32, withPIDFD: Bool = false)
  case failure(ErrorCode, message: [UInt8])
  case statuses([StatusEntry])
  case listing([ProcessEntry])
  case welcome(version: UInt8, daemonPID: Int32)
  /// A load succeeded; the process object's threads after its init.
  case loaded(ThreadCensus)
  /// The answer to `memory`: one entry per process object, in the order named (or by id).
  case memory([MemoryEntry])
  /// The answer to `audit`: the paths of the files mapped, each once, in byte order; then,
  /// for a worker of a language host, the modules it imported after its fork, in order.
  case mappings([[UInt8]], modules: [[UInt8]] = [])
  /// The answer to `pool status` (and to `pool stop`, the pool's last summary).
  case pools([PoolSummary])
  /// One event of a pool (`pool events`): a line of JSON, without its newline.
  case poolEvent([UInt8])
  /// The answer to `status`.
  case status(DaemonStatus)

  public static func failure(_ code: ErrorCode, _ message: String) -> Reply {
    .failure(code, message: Array(message.utf8))
  }

  /// `statuses` from (id, status) pairs. Disfavoured so that `.statuses([])` is the case.
  @_disfavoredOverload
  public static func statuses(_ list: [(id: UInt64, status: ExitStatus)]) -> Reply {
    .statuses(list.map { StatusEntry(id: $0.id, status: $0.status) })
  }

  public func frame() -> Frame {
    var w = PayloadWriter()
    let type: MessageType
    var fds = 0
    switch self {
    case .ok: type = .ok
    case .created(let id, let pid, let withPIDFD):
      type = .created
      fds = withPIDFD ? 1 : 0
      w.u64(id)
      w.i32(pid)
    case .failure(let code, let message):
      type = .failure
      w.u16(code.rawValue)
      w.string(message)
    case .statuses(let list):
      type = .statuses
      w.u32(UInt32(list.count))
      for entry in list { entry.write(to: &w) }
    case .listing(let list):
      type = .listing
      w.u32(UInt32(list.count))
      for entry in list { entry.write(to: &w) }
    case .welcome(let version, let pid):
      type = .welcome
      w.u8(version)
      w.i32(pid)
    case .loaded(let threads):
      type = .loaded
      threads.write(to: &w)
    case .memory(let list):
      type = .memoryReport
      w.u32(UInt32(list.count))
      for entry in list { entry.write(to: &w) }
    case .mappings(let paths, let modules):
      type = .mappings
      w.list(paths)
      w.list(modules)
    case .pools(let list):
      type = .pools
      w.u32(UInt32(list.count))
      for entry in list { entry.write(to: &w) }
    case .poolEvent(let line):
      type = .poolEvent
      w.string(line)
    case .status(let status):
      type = .daemonStatus
      status.write(to: &w)
    }
    return Frame(type: type, payload: w.bytes, fdCount: fds)
  }

  public init(_ frame: Frame) throws(WireError) {
    if frame.type != .created { try checkFDs(frame, 0) }
    var r = PayloadReader(frame.payload)
    switch frame.type {
    case .ok: self = .ok
    case .created:
      // The only reply that may carry a descriptor: the pidfd a spawn asked for.
      let withPIDFD = frame.fdCount == 1
      try checkFDs(frame, withPIDFD ? 1 : 0)
      self = .created(id: try r.u64(), pid: try r.i32(), withPIDFD: withPIDFD)
    case .failure:
      // Any code: one this side does not know is a newer daemon's refusal, not a broken frame.
      let code = ErrorCode(rawValue: try r.u16())
      self = .failure(code, message: try r.string())
    case .statuses:
      let n = try r.count(itemSize: StatusEntry.size)
      var list = [StatusEntry]()
      for _ in 0..<n { list.append(try StatusEntry.read(&r)) }
      self = .statuses(list)
    case .listing:
      let n = try r.count(itemSize: ProcessEntry.minimumSize)
      var list = [ProcessEntry]()
      for _ in 0..<n { list.append(try ProcessEntry.read(&r)) }
      self = .listing(list)
    case .welcome: self = .welcome(version: try r.u8(), daemonPID: try r.i32())
    case .loaded: self = .loaded(try ThreadCensus.read(&r))
    case .memoryReport:
      let n = try r.count(itemSize: MemoryEntry.size)
      var list = [MemoryEntry]()
      for _ in 0..<n { list.append(try MemoryEntry.read(&r)) }
      self = .memory(list)
    case .mappings: self = .mappings(try r.list(), modules: try r.list())
    case .pools:
      // A summary is at least its fixed fields: name (u32), kind, template, generation,
      // target, sizes, requests, restarts and the two counts.
      let n = try r.count(itemSize: 4 + 1 + 8 + 4 + 4 + 16 + 8 + 4 + 4 + 4)
      var list = [PoolSummary]()
      for _ in 0..<n { list.append(try PoolSummary.read(&r)) }
      self = .pools(list)
    case .poolEvent: self = .poolEvent(try r.string())
    case .daemonStatus: self = .status(try DaemonStatus.read(&r))
    default: throw .unexpected(frame.type)
    }
    try r.finish()
  }
}
