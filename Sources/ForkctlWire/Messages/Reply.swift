/// One process object as `list` reports it.
public struct ProcessInfo: Equatable, Sendable {
  public enum Role: UInt8, Sendable { case template = 0, defaultTemplate = 1, forked = 2 }
  public enum State: UInt8, Sendable { case starting = 0, ready = 1, running = 2, exited = 3 }

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
}

/// The daemon's answer to one request.
public enum Reply: Equatable, Sendable {
  case ok
  /// A new process object. `withPIDFD`: a pidfd of the program (pidfd_open(2)) comes with
  /// the frame, in reply to a spawn that asked for one; it is the receiver's to close.
  case created(id: UInt64, pid: Int32, withPIDFD: Bool = false)
  case failure(ErrorCode, message: [UInt8])
  case statuses([(id: UInt64, status: ExitStatus)])
  case listing([ProcessInfo])
  case welcome(version: UInt8, daemonPID: Int32)

  public static func == (a: Reply, b: Reply) -> Bool {
    switch (a, b) {
    case (.ok, .ok): return true
    case let (.created(i, p, f), .created(j, q, g)): return i == j && p == q && f == g
    case let (.failure(c, m), .failure(d, n)): return c == d && m == n
    case let (.statuses(x), .statuses(y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.id == $1.id && $0.status == $1.status }
    case let (.listing(x), .listing(y)): return x == y
    case let (.welcome(v, p), .welcome(w, q)): return v == w && p == q
    default: return false
    }
  }

  public static func failure(_ code: ErrorCode, _ message: String) -> Reply {
    .failure(code, message: Array(message.utf8))
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
      for item in list {
        w.u64(item.id)
        item.status.write(to: &w)
      }
    case .listing(let list):
      type = .listing
      w.u32(UInt32(list.count))
      for p in list {
        w.u64(p.id)
        w.string(p.name)
        w.u8(p.role.rawValue)
        w.u64(p.parent)
        w.i32(p.pid)
        w.u8(p.state.rawValue)
        if let s = p.status {
          s.write(to: &w)
        } else {
          w.u8(0)
          w.i32(0)
        }
        w.u32(p.fdsSent)
        w.u32(p.argumentsSent)
        w.string(p.program)
      }
    case .welcome(let version, let pid):
      type = .welcome
      w.u8(version)
      w.i32(pid)
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
      let n = try r.count(itemSize: 13)
      var list = [(id: UInt64, status: ExitStatus)]()
      for _ in 0..<n {
        let id = try r.u64()
        guard let status = try ExitStatus.read(&r) else { throw .invalid("missing exit status") }
        list.append((id, status))
      }
      self = .statuses(list)
    case .listing:
      let n = try r.count(itemSize: 43)
      var list = [ProcessInfo]()
      for _ in 0..<n {
        let id = try r.u64()
        let name = try r.string()
        let rawRole = try r.u8()
        guard let role = ProcessInfo.Role(rawValue: rawRole) else { throw .invalid("role \(rawRole)") }
        let parent = try r.u64()
        let pid = try r.i32()
        let rawState = try r.u8()
        guard let state = ProcessInfo.State(rawValue: rawState) else {
          throw .invalid("state \(rawState)")
        }
        let status = try ExitStatus.read(&r)
        list.append(
          ProcessInfo(
            id: id, name: name, role: role, parent: parent, pid: pid, state: state, status: status,
            fdsSent: try r.u32(), argumentsSent: try r.u32(), program: try r.string()))
      }
      self = .listing(list)
    case .welcome: self = .welcome(version: try r.u8(), daemonPID: try r.i32())
    default: throw .unexpected(frame.type)
    }
    try r.finish()
  }
}
