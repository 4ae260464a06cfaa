// What `load` asks of a process object: a library to dlopen, and its init to run once.

/// A library to load into a process object that has not run (a template).
public struct LoadSpec: Equatable, Sendable {
  /// The library's path, as dlopen(3) takes it (no '/': searched as dlopen searches).
  public var path: [UInt8]
  /// The init function, `int NAME(int argc, char **argv)`; empty: `forkctl_init` when the
  /// library exports it, none otherwise.
  public var initSymbol: [UInt8]
  /// The init's arguments after argv[0], which is `path`.
  public var arguments: [[UInt8]]
  /// RTLD_GLOBAL: libraries loaded later may bind to this one's symbols.
  public var global: Bool
  /// A directory descriptor comes with the frame: the process changes to it before it
  /// opens the library, so that a relative path, and the init's own, mean what they mean
  /// to the caller.
  public var hasWorkingDirectory: Bool

  public init(
    path: [UInt8], initSymbol: [UInt8] = [], arguments: [[UInt8]] = [], global: Bool = false,
    hasWorkingDirectory: Bool = false
  ) {
    self.path = path
    self.initSymbol = initSymbol
    self.arguments = arguments
    self.global = global
    self.hasWorkingDirectory = hasWorkingDirectory
  }

  /// The init function looked for when none is named.
  public static let defaultInit = Array("forkctl_init".utf8)

  static let globalFlag: UInt32 = 1
  static let workingDirectoryFlag: UInt32 = 2

  /// Descriptors that travel with a load frame.
  var fdCount: Int { hasWorkingDirectory ? 1 : 0 }

  /// u32 flags, string path, string init symbol, list arguments.
  func write(to w: inout PayloadWriter) {
    w.u32((global ? Self.globalFlag : 0) | (hasWorkingDirectory ? Self.workingDirectoryFlag : 0))
    w.string(path)
    w.string(initSymbol)
    w.list(arguments)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> LoadSpec {
    let flags = try r.u32()
    if flags & ~(globalFlag | workingDirectoryFlag) != 0 { throw .invalid("load flags \(flags)") }
    let path = try r.string()
    if path.isEmpty || path.contains(0) { throw .invalid("library path empty or holding a NUL byte") }
    let initSymbol = try r.string()
    if initSymbol.contains(0) { throw .invalid("init symbol holds a NUL byte") }
    let arguments = try r.list()
    for s in arguments where s.contains(0) { throw .invalid("argument holds a NUL byte") }
    return LoadSpec(
      path: path, initSymbol: initSymbol, arguments: arguments, global: flags & globalFlag != 0,
      hasWorkingDirectory: flags & workingDirectoryFlag != 0)
  }
}

/// The threads of a process object after a load: one means it can fork; more, and it
/// refuses to (each a lock another thread may hold in the copy: seed 003).
public struct ThreadCensus: Equatable, Sendable {
  /// The name of each thread (/proc/PID/task/*/comm), the main thread first.
  public var names: [[UInt8]]

  public init(names: [[UInt8]]) { self.names = names }

  /// u32 count, then list names (the count is the list's length: kept apart so that a
  /// reader that wants only the count need not walk the names).
  func write(to w: inout PayloadWriter) {
    w.u32(UInt32(names.count))
    w.list(names)
  }

  static func read(_ r: inout PayloadReader) throws(WireError) -> ThreadCensus {
    let count = try r.u32()
    let names = try r.list()
    if count != names.count { throw .invalid("thread count \(count) with \(names.count) names") }
    return ThreadCensus(names: names)
  }
}
