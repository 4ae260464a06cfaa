import CForkctlShims
import ForkctlWire
import Glibc

extension Sys {
  /// Starts `path` with `fds` on 0, 1, 2, ... (nil is /dev/null) and nothing else, an empty
  /// signal mask and default signal actions; in a session of its own with `newSession`, else
  /// in a process group of its own with `newProcessGroup`. The corresponding C function is
  /// `posix_spawn`.
  public static func posixSpawn(
    path: String, arguments: [String], environment: [String], fds: [FileDescriptor?],
    newSession: Bool = false, newProcessGroup: Bool = false
  ) throws(Errno) -> Int32 {
    try posixSpawn(
      path: path, arguments: arguments.map { Array($0.utf8) }, environment: environment.map { Array($0.utf8) },
      fds: fds, newSession: newSession, newProcessGroup: newProcessGroup)
  }

  /// `posixSpawn` with arguments and environment as bytes, which need not be UTF-8.
  public static func posixSpawn(
    path: String, arguments: [[UInt8]], environment: [[UInt8]], fds: [FileDescriptor?],
    newSession: Bool = false, newProcessGroup: Bool = false
  ) throws(Errno) -> Int32 {
    var pid: pid_t = 0
    let raw = fds.map { $0?.rawValue ?? -1 }
    let detach = newSession ? FORKCTL_SPAWN_NEW_SESSION : (newProcessGroup ? FORKCTL_SPAWN_NEW_GROUP : 0)
    let rc = withCStrings(arguments) { argv in
      withCStrings(environment) { envp in
        forkctl_posix_spawn(path, argv, envp, raw, CInt(raw.count), detach, &pid)
      }
    }
    if rc != 0 { throw Errno(rawValue: rc) }
    return pid
  }
}

extension Sys {
  /// Replaces the process with `program`: `moves` are placed (source descriptor, target
  /// number), everything else is closed or close-on-exec, stdio not given is /dev/null.
  /// `keep` are descriptors still needed if exec fails; their new numbers are written back.
  /// `attributes` are applied before exec (nil: a process group of its own, default signal
  /// actions, an empty mask). Returns only on failure, with the step that failed and why.
  /// The corresponding C function is `execve`, through `forkctl_exec_worker`.
  public static func execute(
    program: [UInt8], arguments: [[UInt8]], environment: [[UInt8]],
    moves: [(source: FileDescriptor, target: Int32)], workingDirectory: FileDescriptor?,
    attributes: ProcessAttributes? = nil, keep: inout [FileDescriptor]
  ) -> ExecFailure {
    var rawKeep = keep.map(\.rawValue)
    let rc = withExecArguments(program, arguments, environment, moves) { file, argv, envp, path, rawMoves in
      ProcessAttributes.withC(attributes) { attributes in
        forkctl_exec_worker(
          rawMoves, CInt(rawMoves.count), workingDirectory?.rawValue ?? -1, file, argv, envp, path, &rawKeep,
          CInt(rawKeep.count), attributes)
      }
    }
    keep = rawKeep.map { FileDescriptor(rawValue: $0) }
    return ExecFailure(rawValue: rc)
  }

  /// Starts `program` as `execute` would run it, in a new child of this process's parent
  /// (clone(CLONE_VM | CLONE_VFORK | CLONE_PARENT), as posix_spawn does: nothing of this
  /// process is copied). `keep` are descriptors of this process that the program must not
  /// get. `announcement`, if given, is sent on its descriptor by the new process before
  /// anything else, with the new pid written (little-endian, 4 bytes) at `pidOffset` of its
  /// bytes (at most 64): the reader then knows of the process before any program can run in
  /// it. Returns the pid and nil once the program runs, or the pid of the child (which exits
  /// 127 or 126) and why it did not. The corresponding C function is `clone`.
  public static func vforkSibling(
    program: [UInt8], arguments: [[UInt8]], environment: [[UInt8]],
    moves: [(source: FileDescriptor, target: Int32)], workingDirectory: FileDescriptor?,
    attributes: ProcessAttributes? = nil, keep: [FileDescriptor],
    announcement: (fd: FileDescriptor, bytes: [UInt8], pidOffset: Int)? = nil
  ) throws(Errno) -> (pid: Int32, execFailure: ExecFailure?) {
    precondition(announcement.map { $0.bytes.count <= 64 && $0.pidOffset + 4 <= $0.bytes.count } ?? true)
    var rawKeep = keep.map(\.rawValue)
    var failure: CInt = 0
    let message = announcement?.bytes ?? []
    let pid = try retrying {
      withExecArguments(program, arguments, environment, moves) { file, argv, envp, path, rawMoves in
        ProcessAttributes.withC(attributes) { attributes in
          forkctl_vfork_sibling(
            rawMoves, CInt(rawMoves.count), workingDirectory?.rawValue ?? -1, file, argv, envp, path, &rawKeep,
            CInt(rawKeep.count), attributes, announcement?.fd.rawValue ?? -1, message, CInt(message.count),
            CInt(announcement?.pidOffset ?? 0), &failure)
        }
      }
    }
    return (pid, failure == 0 ? nil : ExecFailure(rawValue: failure))
  }

  /// The C forms of an exec's program, argv, environment, PATH (from the environment) and
  /// descriptor moves, valid during `body`.
  private static func withExecArguments<R>(
    _ program: [UInt8], _ arguments: [[UInt8]], _ environment: [[UInt8]],
    _ moves: [(source: FileDescriptor, target: Int32)],
    _ body: (
      UnsafePointer<CChar>, UnsafePointer<UnsafeMutablePointer<CChar>?>, UnsafePointer<UnsafeMutablePointer<CChar>?>,
      UnsafePointer<CChar>?, [forkctl_fd_move]
    ) -> R
  ) -> R {
    var path: [UInt8]? = nil
    let prefix = Array("PATH=".utf8)
    for e in environment where e.starts(with: prefix) { path = Array(e.dropFirst(prefix.count)) }
    let rawMoves = moves.map { forkctl_fd_move(src: $0.source.rawValue, target: $0.target) }
    return withCStrings([program] + (path.map { [$0] } ?? [])) { fileAndPath in
      withCStrings(arguments) { argv in
        withCStrings(environment) { envp in
          body(fileAndPath[0]!, argv, envp, path == nil ? nil : UnsafePointer(fileAndPath[1]), rawMoves)
        }
      }
    }
  }
}

/// Runs `body` with a NULL-terminated C array of the strings.
public func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
  withCStrings(strings.map { Array($0.utf8) }, body)
}

/// Runs `body` with a NULL-terminated C array of the byte strings (each NUL-terminated).
public func withCStrings<R>(_ strings: [[UInt8]], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
  var total = 0
  for s in strings { total += s.count + 1 }
  let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
  let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
  defer {
    storage.deallocate()
    pointers.deallocate()
  }
  var offset = 0
  for (i, s) in strings.enumerated() {
    pointers[i] = storage + offset
    s.withUnsafeBytes { raw in
      if !raw.isEmpty {
        UnsafeMutableRawPointer(storage + offset).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
      }
    }
    storage[offset + s.count] = 0
    offset += s.count + 1
  }
  pointers[strings.count] = nil
  return body(pointers)
}
