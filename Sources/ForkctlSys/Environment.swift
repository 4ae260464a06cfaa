import CForkctlShims
import Glibc

extension Sys {
  /// The process's environment as "NAME=VALUE" byte strings.
  public static func environment() -> [[UInt8]] {
    var out = [[UInt8]]()
    // environ is NULL in a process started with an empty environment, and the Glibc
    // overlay's `environ` traps then: read it in C.
    guard var p = forkctl_environ() else { return out }
    while let s = p.pointee {
      out.append(
        Array(UnsafeBufferPointer(start: UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self), count: strlen(s))))
      p += 1
    }
    return out
  }

  /// The value of one environment variable. The corresponding C function is `getenv`.
  public static func environmentValue(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
  }

  /// The raw bytes of the last `count` command-line arguments: what a shell passed, byte
  /// for byte, even when it is not UTF-8 (CommandLine.arguments repairs invalid UTF-8).
  public static func rawArguments(last count: Int) -> [[UInt8]] {
    let argc = Int(CommandLine.argc)
    return (max(0, argc - count)..<argc).map { i in
      let p = CommandLine.unsafeArgv[i]!
      return Array(
        UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
    }
  }
}
