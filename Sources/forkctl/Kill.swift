import ArgumentParser
import ForkctlClient

struct Kill: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Send a signal to process objects (default TERM).")

  @OptionGroup var client: ClientOptions
  @Option(name: .shortAndLong, help: ArgumentHelp("A signal name (TERM, SIGKILL) or number.", valueName: "signal"))
  var signal: String = "TERM"
  @Argument(help: "Ids or names.") var ids: [String]

  static let names: [String: Int32] = [
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
    "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
    "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23,
    "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
  ]

  static func number(_ s: String) -> Int32? {
    if let n = Int32(s), n >= 0, n <= 64 { return n }
    let upper = s.uppercased()
    return names[upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper]
  }

  func validate() throws {
    if Self.number(signal) == nil { throw ValidationError("unknown signal '\(signal)'") }
    if ids.isEmpty { throw ValidationError("kill needs at least one id") }
  }

  func run() throws {
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.kill(ids, signal: Self.number(signal)!) }
  }
}
