// What `forkctl --version --verbose` says about this binary. Every line is fixed when it is
// compiled (`#if compiler`, `#if arch`, the DEBUG condition SwiftPM sets for a debug build):
// it never asks the daemon, which may be another forkctl's (`forkctl status` does that).
import ForkctlWire

enum BuildDetails {
  /// The protocol this client speaks: every frame's first byte (forkctl-protocol(7),
  /// FRAMES), which a daemon of another version refuses.
  static let protocolVersion = Int(WireLimits.version)

  /// The compiler's version, to the patch release its `#if compiler` test can tell.
  static var swiftVersion: String {
    #if compiler(>=6.5)
      return "6.5 or later"
    #elseif compiler(>=6.4)
      return "6.4"
    #elseif compiler(>=6.3.2)
      return "6.3.2 or a later 6.3"
    #elseif compiler(>=6.3.1)
      return "6.3.1"
    #elseif compiler(>=6.3)
      return "6.3"
    #else
      return "before 6.3"
    #endif
  }

  /// The machine the binary runs on, as `uname -m` names it.
  static var architecture: String {
    #if arch(x86_64)
      return "x86_64"
    #elseif arch(arm64)
      return "aarch64"
    #else
      return "other"
    #endif
  }

  static var configuration: String {
    #if DEBUG
      return "debug"
    #else
      return "release"
    #endif
  }

  /// The lines after `forkctl VERSION`, one `name: value` each.
  static var lines: [String] {
    [
      "protocol: \(protocolVersion)",
      "swift: \(swiftVersion)",
      "architecture: \(architecture)",
      "build: \(configuration)",
    ]
  }
}
