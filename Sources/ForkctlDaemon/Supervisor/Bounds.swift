// What the daemon keeps of a program string, and what one `listing` reply carries (issue 11,
// item 12a). A program string may be as large as a frame (4 MiB); the template gets all of
// it, but the daemon keeps only what `list` and messages show, so that a few such objects
// neither take the daemon's memory nor make `list` too large to send to anybody.
import ForkctlWire

extension Run {
  /// What is kept of `program`: itself, or when longer than `DaemonDefaults.maxProgramBytesKept`
  /// its beginning (cut between characters) and "...", that long in all. forkctl(1), LIMITS.
  static func kept(_ program: [UInt8], limit: Int = DaemonDefaults.maxProgramBytesKept) -> [UInt8] {
    shortened(program, to: limit)
  }

  /// `bytes` cut to at most `limit` bytes, "..." marking the cut; never in the middle of a
  /// UTF-8 sequence.
  static func shortened(_ bytes: [UInt8], to limit: Int) -> [UInt8] {
    guard bytes.count > limit else { return bytes }
    let marker = Array("...".utf8)
    guard limit > marker.count else { return Array(marker.prefix(limit)) }
    var end = limit - marker.count
    // Continuation bytes are 10xxxxxx: back up to the first byte of the sequence cut.
    while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
    return Array(bytes[..<end]) + marker
  }
}

extension Supervisor {
  /// `entries` as one `listing` reply can carry them, within a frame's payload: when the
  /// programs kept make it too large (thousands of objects with long programs), each program
  /// is cut to the same length, the longest that fits. Names are bounded by maxNameLength.
  static func fitted(_ entries: [ProcessEntry], within limit: Int = WireLimits.maxPayload) -> [ProcessEntry] {
    let lengths = entries.map(\.program.count)
    var bare = entries
    for i in bare.indices { bare[i].program = [] }
    let room = limit - Reply.listing(bare).frame().payload.count
    guard lengths.reduce(0, +) > room, room >= 0 else { return entries }
    // The largest cut every program can take with the total within `room`.
    var cut = 0
    var remaining = room
    var left = lengths.count
    for length in lengths.sorted() {
      // Every program still longer than the cut so far gets the same share of what is left.
      let share = remaining / left
      if length > share {
        cut = share
        break
      }
      remaining -= length
      left -= 1
      cut = length
    }
    return entries.map { e in
      var e = e
      e.program = Run.shortened(e.program, to: cut)
      return e
    }
  }
}
