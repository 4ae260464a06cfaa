import ForkctlClient
import ForkctlSys

struct KillCommand: Subcommand {
  static let name = "kill"
  static let optionsAnywhere = true
  static let summary = "Send a signal to process objects (default TERM)."
  static let usage = "forkctl kill [--socket PATH] [-s SIGNAL] ID..."
  static let help = """
    Send a signal to process objects (default TERM).

    Arguments:
      ID...                 Ids or names.

    Options:
    \(ClientOptions.help)
      -s, --signal SIGNAL   A signal name (TERM, SIGKILL) or number (default TERM).
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var signal = Signal.terminate
  var ids: [String] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
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

  /// A number 0...64 (0 checks that the process exists, as kill(1) does) or a name.
  static func number(_ s: String) -> Signal? {
    if let n = Int32(s), n >= 0, n <= 64 { return Signal(rawValue: n) }
    return Signal(name: s)
  }

  func run() throws(Exit) {
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.kill(ids, signal: signal.rawValue) }
  }
}
