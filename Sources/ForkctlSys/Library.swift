// Shared libraries loaded into a template (dlopen(3)) and the functions called in its
// workers: forkctl(1) load and call.
import CForkctlShims
import Glibc

/// A library opened with dlopen; it stays loaded for the life of the process.
public struct LibraryHandle: @unchecked Sendable {
  let raw: UnsafeMutableRawPointer
}

/// A function of a loaded library with the shape of main: `int f(int argc, char **argv)`.
public struct EntryPoint: @unchecked Sendable {
  let raw: UnsafeMutableRawPointer
}

/// Why a library did not load: dlerror(3)'s text.
public struct LibraryError: Error, Equatable {
  public var message: String
}

extension Sys {
  /// Whether this process can load code: it was started by the dynamic loader (a statically
  /// linked glibc program that calls dlopen maps a second C library beside its own, whose
  /// fork then skips the loaded library's atfork handlers). getauxval(3): AT_BASE is the
  /// loader's address, 0 without one.
  public static var canLoadCode: Bool { forkctl_has_dynamic_loader() != 0 }

  /// Opens the library at `path` with RTLD_NOW, so that a symbol it cannot resolve fails
  /// here rather than when called, and RTLD_GLOBAL when `global` (else RTLD_LOCAL). The
  /// corresponding C function is `dlopen`.
  public static func openLibrary(_ path: [UInt8], global: Bool) -> Result<LibraryHandle, LibraryError> {
    let flags = RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL)
    let handle = withCStrings([path]) { dlopen($0[0]!, flags) }
    guard let handle else { return .failure(LibraryError(message: lastLoaderError())) }
    return .success(LibraryHandle(raw: handle))
  }

  /// The function `name` exported by `library`, or nil. The corresponding C function is
  /// `dlsym`.
  public static func symbol(_ name: [UInt8], in library: LibraryHandle) -> EntryPoint? {
    _ = dlerror()
    return withCStrings([name]) { dlsym(library.raw, $0[0]!) }.map(EntryPoint.init(raw:))
  }

  /// Closes a library no function of which will be called (dlclose(3): its destructors run
  /// if nothing else holds it).
  public static func closeLibrary(_ library: LibraryHandle) { _ = dlclose(library.raw) }

  /// Calls `f` with argv made of `arguments` (NUL-terminated, then a NULL), and returns what
  /// it returns.
  public static func callEntry(_ f: EntryPoint, arguments: [[UInt8]]) -> Int32 {
    typealias Main = @convention(c) (Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32
    let main = unsafeBitCast(f.raw, to: Main.self)
    return withCStrings(arguments) { argv in main(Int32(arguments.count), UnsafeMutablePointer(mutating: argv)) }
  }

  private static func lastLoaderError() -> String {
    guard let text = dlerror() else { return "dlopen failed" }
    return String(cString: text)
  }
}
