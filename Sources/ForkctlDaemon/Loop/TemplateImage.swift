// Which executables the daemon starts its templates from. The release forkctl is fully
// static for its start-up time, and a static glibc program cannot load code: dlopen(3) in it
// maps a second C library, whose fork skips the loaded library's atfork handlers (README,
// "Design decisions"). So a template made by `exec`, the kind that loads code, runs a
// dynamically linked image, forkctl-template, when there is one. The default template keeps
// forkctl itself: forking from the dynamic image cost 15 % more (its 51 mappings against 10,
// measured in the README), and `new` and `spawn` fork from the default template.
import ForkctlSys
import ForkctlWire

/// The executables templates are started from as `IMAGE __template ID`, found once when the
/// daemon starts.
struct TemplateImage: Equatable {
  /// Names the image for templates made by `exec`: for a package that installs it
  /// elsewhere, and for tests.
  static let variable = "FORKCTL_TEMPLATE_IMAGE"
  /// The image's file name, beside forkctl or in PREFIX/libexec/forkctl.
  static let fileName = "forkctl-template"

  /// What templates made by `exec` run.
  let path: String
  /// What the default template runs: the daemon's own executable.
  let ownPath: String

  /// The executable of a template of `role`.
  func path(for role: ProcessEntry.Role) -> String { role == .defaultTemplate ? ownPath : path }

  /// For templates made by `exec`: $FORKCTL_TEMPLATE_IMAGE when set and not empty, which
  /// must then name an executable file by an absolute path (the daemon changes to / before
  /// it starts any template); else forkctl-template beside `executable`; else
  /// ../libexec/forkctl/forkctl-template from `executable`'s directory; else `executable`
  /// itself. Throws when the variable names nothing usable.
  static func find(
    executable: String, configured: String?, isExecutable: (String) -> Bool
  ) throws(DaemonStartError) -> Self {
    if let configured, !configured.isEmpty {
      guard configured.hasPrefix("/") else {
        throw problem("\(variable) must be an absolute path, not '\(configured)'")
      }
      guard isExecutable(configured) else {
        throw problem("\(variable) names '\(configured)', which is not an executable file")
      }
      return Self(path: configured, ownPath: executable)
    }
    let bin = directory(of: executable)
    let candidates = ["\(bin)/\(fileName)", "\(directory(of: bin))/libexec/forkctl/\(fileName)"]
    return Self(path: candidates.first(where: isExecutable) ?? executable, ownPath: executable)
  }

  /// The images for this process: `find` with /proc/self/exe, the environment and stat(2).
  static func current() throws(DaemonStartError) -> Self {
    let executable: String
    do {
      executable = try Sys.executablePath()
    } catch {
      throw problem("cannot read /proc/self/exe: \(Sys.describe(error))")
    }
    return try find(
      executable: executable, configured: Sys.environmentValue(variable), isExecutable: Sys.isExecutableFile)
  }

  private static func problem(_ reason: String) -> DaemonStartError {
    DaemonStartError(message: "cannot find the template image: \(reason)", alreadyRunning: false)
  }

  /// The directory part of an absolute path, "" for "/x" (so that "\(directory)/NAME" is
  /// still absolute).
  private static func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "" }
    return String(path[..<slash])
  }
}
