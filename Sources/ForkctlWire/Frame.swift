// The forkctl wire format: every message is one frame.
//
//   offset  size  field
//   0       1     version       (WireLimits.version)
//   1       1     type          (MessageType)
//   2       2     fd count      little-endian; descriptors travel as SCM_RIGHTS
//   4       4     payload size  little-endian, at most WireLimits.maxPayload
//   8       n     payload
//
// Descriptors are attached to a sendmsg whose data lies within the frame (normally the whole
// frame is one sendmsg). The decoder credits descriptors to the frame that holds the first
// byte of the chunk they arrived with, and a frame whose credited count differs from its
// declared count is a protocol violation. Man/forkctl-protocol.7 is the reference.

/// Limits every decoder enforces. Each is part of the protocol (forkctl-protocol(7)).
public enum WireLimits {
  /// The protocol version this code speaks.
  public static let version: UInt8 = 1
  /// Size of the fixed frame header.
  public static let headerSize = 8
  /// Largest payload of one frame: room for an argv and environment as large as Linux
  /// accepts by default (ARG_MAX is a quarter of an 8 MiB stack), with headroom.
  public static let maxPayload = 4 << 20
  /// Most descriptors one frame may carry.
  public static let maxFDsPerFrame = 64
  /// Most strings in one list (argv, environment, send-arg, refs).
  public static let maxListCount = 1 << 16
  /// Highest descriptor number a worker may be given.
  public static let maxTargetFD: Int32 = 1023
  /// Signal numbers a `signal` request may carry: Linux's, SIGRTMAX included (signal(7)).
  public static let signalNumbers: ClosedRange<Int32> = 1...64
}

/// Why bytes could not be decoded. Any of these ends the connection.
public enum WireError: Error, Equatable, Sendable {
  case unsupportedVersion(UInt8)
  case unknownType(UInt8)
  case payloadTooLarge(Int)
  case tooManyFDs(Int)
  case fdCountMismatch(type: UInt8, declared: Int, received: Int)
  case truncated
  case trailingBytes(Int)
  case listTooLong(Int)
  case invalid(String)
  case unexpected(MessageType)

  public var description: String {
    switch self {
    case .unsupportedVersion(let v):
      return "unsupported protocol version \(v) (this side speaks \(WireLimits.version))"
    case .unknownType(let t): return "unknown message type \(t)"
    case .payloadTooLarge(let n):
      return "frame payload of \(n) bytes exceeds the limit of \(WireLimits.maxPayload)"
    case .tooManyFDs(let n):
      return "frame declares \(n) descriptors, more than the limit of \(WireLimits.maxFDsPerFrame)"
    case .fdCountMismatch(let t, let d, let r):
      return "message type \(t) came with \(r) descriptors where \(d) were expected"
    case .truncated: return "payload ends in the middle of a field"
    case .trailingBytes(let n): return "payload has \(n) bytes after its last field"
    case .listTooLong(let n): return "list of \(n) items exceeds the limit of \(WireLimits.maxListCount)"
    case .invalid(let what): return "invalid field: \(what)"
    case .unexpected(let t): return "message \(t) is not allowed here"
    }
  }
}

/// One decoded frame: its type, its payload, and how many descriptors came with it.
public struct Frame: Equatable, Sendable {
  public var type: MessageType
  public var payload: [UInt8]
  public var fdCount: Int

  public init(type: MessageType, payload: [UInt8], fdCount: Int) {
    self.type = type
    self.payload = payload
    self.fdCount = fdCount
  }

  /// The frame's bytes: header then payload.
  public func encoded() -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(WireLimits.headerSize + payload.count)
    out.append(WireLimits.version)
    out.append(type.rawValue)
    let fds = UInt16(fdCount)
    out.append(UInt8(fds & 0xff))
    out.append(UInt8(fds >> 8))
    let n = UInt32(payload.count)
    for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((n >> UInt32(shift)) & 0xff)) }
    out.append(contentsOf: payload)
    return out
  }
}

/// Incremental frame decoder: feed it bytes as they arrive, with the number of descriptors
/// that arrived with them, and take complete frames out. It never looks at descriptors
/// themselves, only counts, so it can be tested and fuzzed without a kernel.
public struct FrameDecoder: Sendable {
  private var buffer: [UInt8] = []
  private var start = 0
  /// Descriptors credited to frames not yet complete: (offset of the chunk's first byte
  /// in the stream, count).
  private var credits: [(offset: Int, count: Int)] = []
  /// Stream offset of buffer[0].
  private var base = 0
  private var failed: WireError?

  public init() {}

  /// How many bytes to read next: never past the end of the frame being decoded, so that a
  /// reader that respects it gets exact descriptor attribution; at most 64 KiB at a time.
  public var bytesWanted: Int {
    let have = buffer.count - start
    if have < WireLimits.headerSize { return WireLimits.headerSize - have }
    let length = Self.payloadLength(buffer, at: start)
    return min(64 * 1024, max(1, WireLimits.headerSize + length - have))
  }

  /// True when `next()` has an answer without more bytes: a complete frame, or an error.
  public var isReady: Bool {
    if failed != nil { return true }
    let have = buffer.count - start
    if have >= 1, buffer[start] != WireLimits.version { return true }
    if have >= 2, MessageType(rawValue: buffer[start + 1]) == nil { return true }
    if have >= 4, Int(buffer[start + 2]) | Int(buffer[start + 3]) << 8 > WireLimits.maxFDsPerFrame { return true }
    if unclaimedFDs > WireLimits.maxFDsPerFrame { return true }
    if have < WireLimits.headerSize { return false }
    let length = Self.payloadLength(buffer, at: start)
    return length > WireLimits.maxPayload || have >= WireLimits.headerSize + length
  }

  /// True when no partial frame is buffered.
  public var isAtFrameBoundary: Bool { buffer.count == start }

  /// Adds bytes that arrived together with `fdCount` descriptors.
  public mutating func append<C: Collection>(_ bytes: C, fdCount: Int = 0) where C.Element == UInt8 {
    if fdCount > 0 { credits.append((offset: base + buffer.count, count: fdCount)) }
    buffer.append(contentsOf: bytes)
  }

  /// Descriptors received that no complete frame has claimed yet.
  public var unclaimedFDs: Int { credits.reduce(0) { $0 + $1.count } }

  /// The next complete frame, nil when more bytes are needed. Once it has thrown, it
  /// throws the same error for ever: a stream that went wrong cannot be resynchronised.
  public mutating func next() throws(WireError) -> Frame? {
    if let failed { throw failed }
    do {
      return try decodeNext()
    } catch {
      failed = error
      throw error
    }
  }

  private static func payloadLength(_ b: [UInt8], at i: Int) -> Int {
    Int(b[i + 4]) | Int(b[i + 5]) << 8 | Int(b[i + 6]) << 16 | Int(b[i + 7]) << 24
  }

  private mutating func decodeNext() throws(WireError) -> Frame? {
    let have = buffer.count - start
    // Check each header field as soon as its byte is here, so garbage is refused without
    // waiting for a length's worth of it.
    if have >= 1, buffer[start] != WireLimits.version {
      throw .unsupportedVersion(buffer[start])
    }
    if have >= 2, MessageType(rawValue: buffer[start + 1]) == nil {
      throw .unknownType(buffer[start + 1])
    }
    if have >= 4 {
      let fds = Int(buffer[start + 2]) | Int(buffer[start + 3]) << 8
      if fds > WireLimits.maxFDsPerFrame { throw .tooManyFDs(fds) }
    }
    if have < WireLimits.headerSize {
      try checkUnclaimedLimit()
      return nil
    }
    let type = MessageType(rawValue: buffer[start + 1])!
    let declared = Int(buffer[start + 2]) | Int(buffer[start + 3]) << 8
    let length = Self.payloadLength(buffer, at: start)
    if length > WireLimits.maxPayload { throw .payloadTooLarge(length) }
    let total = WireLimits.headerSize + length
    let frameStart = base + start
    let frameEnd = frameStart + total
    if have < total {
      try checkUnclaimedLimit()
      return nil
    }
    var received = 0
    while let first = credits.first, first.offset < frameEnd {
      received += first.count
      credits.removeFirst()
    }
    if received != declared {
      throw .fdCountMismatch(type: type.rawValue, declared: declared, received: received)
    }
    let payload = Array(buffer[(start + WireLimits.headerSize)..<(start + total)])
    start += total
    compact()
    return Frame(type: type, payload: payload, fdCount: declared)
  }

  /// Descriptors wait for their frame to complete; more than one frame's limit waiting
  /// means a peer that attaches descriptors to nothing, refused before it can pile them up.
  private func checkUnclaimedLimit() throws(WireError) {
    let pending = unclaimedFDs
    if pending > WireLimits.maxFDsPerFrame { throw .tooManyFDs(pending) }
  }

  private mutating func compact() {
    if start == buffer.count {
      base += start
      buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
      start = 0
    } else if start > 64 * 1024 && start * 2 > buffer.count {
      base += start
      buffer.removeFirst(start)
      start = 0
    }
  }
}
