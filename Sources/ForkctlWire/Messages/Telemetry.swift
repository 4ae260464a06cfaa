// What the telemetry requests answer: `memory`, each process object's memory as
// /proc/PID/smaps_rollup counts it (proc(5)); `audit`, the files a worker maps that its parent
// did not map when it forked.

/// A process's memory in bytes, from the fields of /proc/PID/smaps_rollup of the same names
/// (proc(5); Documentation/filesystems/proc.rst, "smaps").
public struct MemoryFigures: Equatable, Sendable {
  /// Rss: its resident pages.
  public var resident: UInt64
  /// Pss: each resident page divided by the number of processes that map it.
  public var proportional: UInt64
  /// Shared_Clean: pages another process maps too, unchanged since they were read in.
  public var sharedClean: UInt64
  /// Shared_Dirty: pages another process maps too, written since they were mapped; in a
  /// process forked without exec, its parent's memory not yet copied on write.
  public var sharedDirty: UInt64
  /// Private_Clean: pages only it maps, unchanged.
  public var privateClean: UInt64
  /// Private_Dirty: pages only it maps, written: in a fork, what it copied on write or
  /// allocated since.
  public var privateDirty: UInt64
  /// Anonymous: resident pages backed by no file (heap, stacks, copies made on write).
  public var anonymous: UInt64
  /// Swap: its pages swapped out.
  public var swap: UInt64

  public init(
    resident: UInt64 = 0, proportional: UInt64 = 0, sharedClean: UInt64 = 0, sharedDirty: UInt64 = 0,
    privateClean: UInt64 = 0, privateDirty: UInt64 = 0, anonymous: UInt64 = 0, swap: UInt64 = 0
  ) {
    self.resident = resident
    self.proportional = proportional
    self.sharedClean = sharedClean
    self.sharedDirty = sharedDirty
    self.privateClean = privateClean
    self.privateDirty = privateDirty
    self.anonymous = anonymous
    self.swap = swap
  }

  /// Shared_Clean + Shared_Dirty.
  public var shared: UInt64 { sharedClean &+ sharedDirty }
  /// Private_Clean + Private_Dirty: what it alone maps (smem's USS).
  public var unshared: UInt64 { privateClean &+ privateDirty }

  /// Eight u64, in the order of the fields above.
  static let size = 8 * 8

  var fields: [UInt64] {
    [resident, proportional, sharedClean, sharedDirty, privateClean, privateDirty, anonymous, swap]
  }

  func write(to w: inout PayloadWriter) {
    for f in fields { w.u64(f) }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> MemoryFigures {
    MemoryFigures(
      resident: try r.u64(), proportional: try r.u64(), sharedClean: try r.u64(), sharedDirty: try r.u64(),
      privateClean: try r.u64(), privateDirty: try r.u64(), anonymous: try r.u64(), swap: try r.u64())
  }
}

/// One process object as the `memory` reply reports it.
public struct MemoryEntry: Equatable, Sendable {
  /// What reading its process gave.
  public enum Reading: Equatable, Sendable {
    case measured(MemoryFigures)
    /// It has no process to read: it is still being forked, or it has exited.
    case noProcess
    /// Its process could not be read: the errno (EACCES for a program that made itself
    /// undumpable or changed its credentials: proc(5), "ptrace access mode").
    case unreadable(errno: Int32)
  }

  public var id: UInt64
  /// The process object it was forked from; 0 for a template.
  public var parent: UInt64
  /// Its pid; 0 while it is being forked.
  public var pid: Int32
  public var reading: Reading

  public init(id: UInt64, parent: UInt64, pid: Int32, reading: Reading) {
    self.id = id
    self.parent = parent
    self.pid = pid
    self.reading = reading
  }

  /// u64 id, u64 parent, i32 pid, u8 reading, i32 errno, then the figures (zero unless measured).
  public static let size = 8 + 8 + 4 + 1 + 4 + MemoryFigures.size

  func write(to w: inout PayloadWriter) {
    w.u64(id)
    w.u64(parent)
    w.i32(pid)
    switch reading {
    case .measured(let figures):
      w.u8(0)
      w.i32(0)
      figures.write(to: &w)
    case .noProcess:
      w.u8(1)
      w.i32(0)
      MemoryFigures().write(to: &w)
    case .unreadable(let errno):
      w.u8(2)
      w.i32(errno)
      MemoryFigures().write(to: &w)
    }
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> MemoryEntry {
    let id = try r.u64()
    let parent = try r.u64()
    let pid = try r.i32()
    let tag = try r.u8()
    let errno = try r.i32()
    let figures = try MemoryFigures.read(&r)
    // One encoding per entry: an errno only with tag 2, figures only with tag 0.
    let reading: Reading
    switch tag {
    case 0 where errno == 0: reading = .measured(figures)
    case 1 where errno == 0 && figures == MemoryFigures(): reading = .noProcess
    case 2 where errno > 0 && figures == MemoryFigures(): reading = .unreadable(errno: errno)
    default: throw .invalid("memory reading \(tag) with errno \(errno)")
    }
    return MemoryEntry(id: id, parent: parent, pid: pid, reading: reading)
  }
}
