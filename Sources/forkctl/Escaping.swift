// Text from the daemon shown to a person: a program string, a name, an error message that
// quotes them. A control byte written raw to a terminal is a command to it (ECMA-48: CR
// moves the cursor, ESC and the 8-bit CSI begin sequences that rewrite the screen), so a
// program string could forge rows of `list` (issue 11, item 15). Every one is shown as an
// escape instead, and a backslash doubled so that an escape cannot be forged either.

/// `text` with C0 and C1 control characters and DEL written as `\r`, `\n`, `\t`, `\e`
/// or `\xHH` (`\u{HHHH}` above 0xFF), and `\` as `\\`.
func escapingControls(_ text: String) -> String {
  var out = ""
  for scalar in text.unicodeScalars {
    switch scalar.value {
    case 0x5C: out += "\\\\"
    case 0x0D: out += "\\r"
    case 0x0A: out += "\\n"
    case 0x09: out += "\\t"
    case 0x1B: out += "\\e"
    case 0x00..<0x20, 0x7F..<0xA0:
      let hex = String(scalar.value, radix: 16)
      out += "\\x" + (hex.count < 2 ? "0" : "") + hex
    case 0x2028, 0x2029:
      // LINE and PARAGRAPH SEPARATOR end a line in some terminals.
      out += "\\u{\(String(scalar.value, radix: 16))}"
    default: out.unicodeScalars.append(scalar)
    }
  }
  return out
}

/// Bytes from the daemon, as text for a person (invalid UTF-8 as U+FFFD).
func displayed(_ bytes: [UInt8]) -> String { escapingControls(String(decoding: bytes, as: UTF8.self)) }
