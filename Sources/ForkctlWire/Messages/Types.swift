/// Every frame type. Ranges: 0x01-0x3f client requests, 0x40-0x7f daemon replies,
/// 0x80-0xbf daemon commands to a process object, 0xc0-0xff process object reports.
public enum MessageType: UInt8, Sendable, CaseIterable {
  case hello = 0x01
  case new = 0x02
  case exec = 0x03
  case fork = 0x04
  case sendFDs = 0x05
  case sendArgs = 0x06
  case run = 0x07
  case wait = 0x08
  case kill = 0x09
  case list = 0x0a
  case shutdown = 0x0b
  case spawn = 0x0c
  case signal = 0x0d
  case forget = 0x0e
  case prune = 0x0f
  case load = 0x10
  case memory = 0x11
  case audit = 0x12
  case pool = 0x13
  case eval = 0x14
  case status = 0x15

  case ok = 0x40
  case created = 0x41
  case failure = 0x42
  case statuses = 0x43
  case listing = 0x44
  case welcome = 0x45
  case loaded = 0x46
  case memoryReport = 0x47
  case mappings = 0x48
  case pools = 0x49
  case poolEvent = 0x4a
  case daemonStatus = 0x4b

  case commandFork = 0x80
  case commandFDs = 0x81
  case commandArgs = 0x82
  case commandRun = 0x83
  case commandSpawn = 0x84
  case commandLoad = 0x85
  case commandEval = 0x86

  case forked = 0xc0
  case refused = 0xc1
  case execFailed = 0xc2
  case spawned = 0xc3
  case spawning = 0xc4
  case libraryLoaded = 0xc5
  case loadRefused = 0xc6
  case hostChild = 0xc7
  case childEnded = 0xc8
  case hostReady = 0xc9
}

/// How a process ended, as waitid(2) tells it.
public enum ExitStatus: Equatable, Hashable, Sendable {
  case exited(Int32)
  case signaled(Int32, coreDumped: Bool)

  /// The status as a shell reports it in `$?`: the exit code, or 128 plus the signal.
  public var shellStatus: Int32 {
    switch self {
    case .exited(let code): return code
    case .signaled(let sig, _): return 128 + sig
    }
  }

  /// Bytes on the wire: u8 tag (0 none, 1 exited, 2 signaled, 3 signaled with a core
  /// dump), i32 code or signal.
  static let size = 1 + 4

  /// The tag-0 status of a process that has not ended; its value means nothing.
  static func writeNone(to w: inout PayloadWriter) {
    w.u8(0)
    w.i32(0)
  }

  func write(to w: inout PayloadWriter) {
    switch self {
    case .exited(let code):
      w.u8(1)
      w.i32(code)
    case .signaled(let sig, let core):
      w.u8(core ? 3 : 2)
      w.i32(sig)
    }
  }

  /// `noneIsZero`: a tag 0 must come with the value 0, so that the message has one encoding
  /// (fields added later say so; `listing` never did).
  static func read(_ r: inout PayloadReader, noneIsZero: Bool = false) throws(WireError) -> ExitStatus? {
    let tag = try r.u8()
    let value = try r.i32()
    switch tag {
    case 0:
      if noneIsZero && value != 0 { throw .invalid("exit status tag 0 with the value \(value)") }
      return nil
    case 1: return .exited(value)
    case 2: return .signaled(value, coreDumped: false)
    case 3: return .signaled(value, coreDumped: true)
    default: throw .invalid("exit status tag \(tag)")
    }
  }
}

/// Why the daemon refused a request (the `failure` reply, the `refused` report). A struct over
/// the wire's u16 rather than an enum, so that a code a newer daemon adds decodes here too
/// (kept as its raw value) and adding one breaks no switch in a client.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt16

  public init(rawValue: UInt16) { self.rawValue = rawValue }

  public static let unknownProcess = ErrorCode(rawValue: 1)
  public static let wrongState = ErrorCode(rawValue: 2)
  public static let badRequest = ErrorCode(rawValue: 3)
  public static let limitReached = ErrorCode(rawValue: 4)
  public static let templateFailed = ErrorCode(rawValue: 5)
  public static let programNotFound = ErrorCode(rawValue: 6)
  public static let programNotExecutable = ErrorCode(rawValue: 7)
  public static let execFailed = ErrorCode(rawValue: 8)
  public static let permissionDenied = ErrorCode(rawValue: 9)
  public static let internalError = ErrorCode(rawValue: 10)
  public static let protocolError = ErrorCode(rawValue: 11)
  public static let shuttingDown = ErrorCode(rawValue: 12)
  public static let nameTaken = ErrorCode(rawValue: 13)
  public static let workingDirectoryFailed = ErrorCode(rawValue: 14)
  /// The daemon shut down while the program ran: it keeps running, and its status is lost.
  public static let stillRunning = ErrorCode(rawValue: 15)
  /// A library did not load (the dlerror() text), or its init returned non-zero.
  public static let loadFailed = ErrorCode(rawValue: 16)
  /// An init or entry symbol the library does not export; nothing ran.
  public static let symbolNotFound = ErrorCode(rawValue: 17)
  /// No pool has that name.
  public static let unknownPool = ErrorCode(rawValue: 18)

  /// The codes this side knows, in the order of forkctl-protocol(7) ERROR CODES.
  static let names: [String] = [
    "unknownProcess", "wrongState", "badRequest", "limitReached", "templateFailed", "programNotFound",
    "programNotExecutable", "execFailed", "permissionDenied", "internalError", "protocolError",
    "shuttingDown", "nameTaken", "workingDirectoryFailed", "stillRunning", "loadFailed", "symbolNotFound",
    "unknownPool",
  ]

  /// The name of a known code (as its `static let`); nil for one this side does not know.
  public var name: String? {
    let index = Int(rawValue) - 1
    return Self.names.indices.contains(index) ? Self.names[index] : nil
  }

  public var description: String { name ?? "error code \(rawValue)" }
}

/// Where a descriptor sent with send-fd lands in the worker: the next free slot in order,
/// or a fixed number.
public typealias FDTarget = Int32?

func writeTargets(_ targets: [FDTarget], to w: inout PayloadWriter) {
  w.u32(UInt32(targets.count))
  for t in targets { w.i32(t ?? -1) }
}

func readTargets(_ r: inout PayloadReader) throws(WireError) -> [FDTarget] {
  let n = try r.count(itemSize: 4)
  var out = [FDTarget]()
  for _ in 0..<n {
    let t = try r.i32()
    if t < -1 || t > WireLimits.maxTargetFD { throw .invalid("descriptor target \(t)") }
    out.append(t == -1 ? nil : t)
  }
  return out
}

func checkFDs(_ frame: Frame, _ expected: Int) throws(WireError) {
  if frame.fdCount != expected {
    throw .fdCountMismatch(type: frame.type.rawValue, declared: expected, received: frame.fdCount)
  }
}
