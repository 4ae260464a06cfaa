// Code loaded into a template (issue 12): dlopen, dlsym and the call of a main-like entry.
// glibc 2.34 and later has dlopen in libc itself: nothing more to link.
import CForkctlShims
import Glibc

/// A library loaded into this process, for as long as the process lives (nothing unloads it).
public struct LibraryHandle: @unchecked Sendable {
  let raw: UnsafeMutableRawPointer
}

/// A function `int NAME(int argc, char **argv)` of a loaded library.
public struct EntryPoint: @unchecked Sendable {
  typealias Function = @convention(c) (CInt, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt
  let function: Function
}

/// Why a library did not load: dlerror()'s text, which names the file and the reason.
public struct LibraryError: Error, Equatable, Sendable {
  public var message: String
}

extension Sys {
  /// Whether this process can load code: it was started by the dynamic loader. A statically
  /// linked glibc program that calls dlopen maps a second C library beside its own, whose
  /// fork then skips the loaded library's atfork handlers. getauxval(3): AT_BASE is the
  /// loader's address, 0 without one.
  public static var canLoadCode: Bool { forkctl_has_dynamic_loader() != 0 }

  /// Closes a library none of whose functions will be called; its destructors run if
  /// nothing else holds it. The corresponding C function is `dlclose`.
  public static func closeLibrary(_ library: LibraryHandle) { _ = dlclose(library.raw) }

  /// Loads the shared library at `path` with every symbol resolved now (RTLD_NOW: a missing
  /// one fails here, not in a worker, and no worker writes its own copy of the relocations),
  /// visible to libraries loaded later with `global` (RTLD_GLOBAL), else to none (RTLD_LOCAL).
  /// Its constructors run here. The first call records this process's signal actions first:
  /// `prepareCall` resets only those, and keeps what the library installs. A failed load
  /// leaves nothing mapped (dlopen(3)). The corresponding C function is `dlopen`.
  public static func openLibrary(_ path: [UInt8], global: Bool) -> Result<LibraryHandle, LibraryError> {
    forkctl_record_signal_actions()
    let handle = withCStrings([path]) { dlopen($0[0], RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL)) }
    guard let handle else { return .failure(LibraryError(message: lastLibraryError())) }
    return .success(LibraryHandle(raw: handle))
  }

  /// The function `name` of `library`, or nil when it has no such symbol. The corresponding
  /// C function is `dlsym`.
  public static func symbol(_ name: [UInt8], in library: LibraryHandle) -> EntryPoint? {
    // A symbol whose value is NULL (an undefined weak one) is no function either.
    guard let address = withCStrings([name], { dlsym(library.raw, $0[0]!) }) else { return nil }
    return EntryPoint(function: unsafeBitCast(address, to: EntryPoint.Function.self))
  }

  /// Calls `entry` as `int entry(int argc, char **argv)`, argv being `arguments` and a NULL,
  /// and returns what it returns. The strings stay allocated for the life of the process, as
  /// a program's argv does: an init may keep pointers into them.
  public static func callEntry(_ entry: EntryPoint, arguments: [[UInt8]]) -> Int32 {
    entry.function(CInt(arguments.count), permanentCStrings(arguments))
  }

  private static func lastLibraryError() -> String {
    guard let text = dlerror() else { return "unknown dlopen error" }
    return String(cString: text)
  }
}

/// A NULL-terminated C array of the byte strings (each NUL-terminated) that is never freed:
/// for argv and environ, which a library may keep.
func permanentCStrings(_ strings: [[UInt8]]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
  let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
  for (i, s) in strings.enumerated() {
    let storage = UnsafeMutablePointer<CChar>.allocate(capacity: s.count + 1)
    for (j, byte) in s.enumerated() { storage[j] = CChar(bitPattern: byte) }
    storage[s.count] = 0
    pointers[i] = storage
  }
  pointers[strings.count] = nil
  return pointers
}
