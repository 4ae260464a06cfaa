/// Builds a payload: little-endian integers and length-prefixed octet strings.
public struct PayloadWriter: Sendable {
  public private(set) var bytes: [UInt8] = []

  public init() {}

  public mutating func u8(_ v: UInt8) { bytes.append(v) }

  public mutating func u16(_ v: UInt16) {
    bytes.append(UInt8(v & 0xff))
    bytes.append(UInt8(v >> 8))
  }

  public mutating func u32(_ v: UInt32) {
    for shift in stride(from: UInt32(0), to: 32, by: 8) { bytes.append(UInt8((v >> shift) & 0xff)) }
  }

  public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }

  public mutating func u64(_ v: UInt64) {
    for shift in stride(from: UInt64(0), to: 64, by: 8) { bytes.append(UInt8((v >> shift) & 0xff)) }
  }

  /// u32 length, then the octets.
  public mutating func string(_ s: [UInt8]) {
    u32(UInt32(s.count))
    bytes.append(contentsOf: s)
  }

  /// u32 count, then each string.
  public mutating func list(_ l: [[UInt8]]) {
    u32(UInt32(l.count))
    for s in l { string(s) }
  }
}

/// Reads a payload written by `PayloadWriter`, checking every length against what is left.
public struct PayloadReader: Sendable {
  private let bytes: [UInt8]
  private var index = 0

  public init(_ bytes: [UInt8]) { self.bytes = bytes }

  public var remaining: Int { bytes.count - index }

  private mutating func take(_ n: Int) throws(WireError) -> ArraySlice<UInt8> {
    guard n >= 0, n <= remaining else { throw .truncated }
    defer { index += n }
    return bytes[index..<(index + n)]
  }

  public mutating func u8() throws(WireError) -> UInt8 { try take(1).first! }

  public mutating func u16() throws(WireError) -> UInt16 {
    let b = try take(2)
    return UInt16(b[b.startIndex]) | UInt16(b[b.startIndex + 1]) << 8
  }

  public mutating func u32() throws(WireError) -> UInt32 {
    let b = try take(4)
    var v: UInt32 = 0
    for (i, x) in b.enumerated() { v |= UInt32(x) << UInt32(8 * i) }
    return v
  }

  public mutating func i32() throws(WireError) -> Int32 { Int32(bitPattern: try u32()) }

  public mutating func u64() throws(WireError) -> UInt64 {
    let b = try take(8)
    var v: UInt64 = 0
    for (i, x) in b.enumerated() { v |= UInt64(x) << UInt64(8 * i) }
    return v
  }

  public mutating func string() throws(WireError) -> [UInt8] {
    let n = Int(try u32())
    return Array(try take(n))
  }

  /// A counted list of strings. The count is checked against the limit and against the
  /// bytes left (each string needs at least its 4-byte length) before anything is allocated.
  public mutating func list() throws(WireError) -> [[UInt8]] {
    let n = Int(try u32())
    if n > WireLimits.maxListCount { throw .listTooLong(n) }
    if n * 4 > remaining { throw .truncated }
    var out = [[UInt8]]()
    out.reserveCapacity(n)
    for _ in 0..<n { out.append(try string()) }
    return out
  }

  /// A count of fixed-size items, checked against the limit and the bytes left.
  public mutating func count(itemSize: Int) throws(WireError) -> Int {
    let n = Int(try u32())
    if n > WireLimits.maxListCount { throw .listTooLong(n) }
    if n * itemSize > remaining { throw .truncated }
    return n
  }

  /// Throws when bytes are left over: every message has an exact layout.
  public func finish() throws(WireError) {
    if remaining != 0 { throw .trailingBytes(remaining) }
  }
}
