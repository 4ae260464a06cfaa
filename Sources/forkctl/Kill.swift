import ForkctlClient

struct KillCommand: Subcommand {
  static let name = "kill"
  static let summary = "Send a signal to process objects (default TERM)."
  static let usage = "forkctl kill [--socket PATH] [-s SIGNAL] ID..."
  static let help = """
    Send a signal to process objects (default TERM).

    Arguments:
      ID...                 Ids or names.

    Options:
      --socket PATH         The daemon's socket.
      -s, --signal SIGNAL   A signal name (TERM, SIGKILL) or number (default TERM).
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var signal: Int32 = 15
  var ids: [String] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption() {
      switch option {
      case "--socket": client.socket = try arguments.value()
      case "-s", "--signal":
        let name = try arguments.value()
        guard let n = Self.number(name) else { throw .usage("unknown signal '\(name)'") }
        signal = n
      default: throw arguments.unknown(option)
      }
    }
    while let id = try arguments.operand() { ids.append(id) }
    if ids.isEmpty { throw .usage("kill needs at least one id") }
  }

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

  func run() throws(Exit) {
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.kill(ids, signal: signal) }
  }
}
