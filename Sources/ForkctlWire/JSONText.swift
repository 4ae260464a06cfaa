// JSON text the daemon and the CLI write: `pool events` lines (forkctl-protocol(7)) and the
// CLI's --json output.

public enum JSONText {
  /// `bytes` (invalid UTF-8 as U+FFFD) as a JSON string. C1 controls are escaped as well as
  /// C0: valid JSON raw, but commands to a terminal that shows them.
  public static func quote(_ bytes: [UInt8]) -> String {
    var s = "\""
    for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
      switch scalar {
      case "\"": s += "\\\""
      case "\\": s += "\\\\"
      case "\n": s += "\\n"
      case "\t": s += "\\t"
      default:
        if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) {
          let hex = String(scalar.value, radix: 16)
          s += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          s.unicodeScalars.append(scalar)
        }
      }
    }
    return s + "\""
  }

  /// A status as JSON fields: "status" (the shell's $?), "exit_code", "signal", and with a
  /// signal "core_dumped".
  public static func statusFields(_ status: ExitStatus?) -> [String] {
    switch status {
    case nil: ["\"status\":null"]
    case .exited(let code)?: ["\"status\":\(code)", "\"exit_code\":\(code)", "\"signal\":null"]
    case .signaled(let sig, let core)?:
      ["\"status\":\(128 + sig)", "\"exit_code\":null", "\"signal\":\(sig)", "\"core_dumped\":\(core)"]
    }
  }
}
