import ForkctlClient
import ForkctlSys

struct KillCommand: Subcommand {
  static let name = "kill"
  static let optionTable = OptionTable(
    [.socket, OptionSpec("--signal", short: "-s", .signal), OptionSpec("--group")], dashWord: .signal)
  static let optionsAnywhere = true
  static let summary = "Send a signal to process objects (default TERM)."
  static let usage = "forkctl kill [--socket PATH] [--group] [-s SIGNAL | -SIGNAL] ID..."
  static let help = """
    Send a signal to process objects (default TERM).

    Arguments:
      ID...                 Ids or names.

    Options:
    \(ClientOptions.help)
      -s, --signal SIGNAL   A signal name (TERM, SIGKILL, IOT, RTMIN+2) or number
                            (default TERM).
      -SIGNAL               The same: -9, -KILL, -SIGKILL, as kill(1) takes it.
      --group               Signal the process group the worker leads (its
                            children too), as a terminal signals a job.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var signal = Signal.terminate
  var group = false
  var ids: [String] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "-s", "--signal":
        signal = try Self.signal(try arguments.value())
      case "--group": group = true
      default:
        // -9, -KILL, -SIGKILL, -RTMIN+1: the signal itself as an option, as kill(1) takes it.
        guard !option.hasPrefix("--") else { throw arguments.unknown(option) }
        let word = arguments.optionWordAsValue()
        guard let n = Self.number(word) else { throw .usage("unknown option '-\(word)'") }
        signal = n
      }
    }
    while let id = try arguments.operand() { ids.append(id) }
    if ids.isEmpty { throw .usage("kill needs at least one id") }
  }

  static func signal(_ name: String) throws(ArgumentError) -> Signal {
    guard let n = number(name) else { throw .usage("unknown signal '\(name)'") }
    return n
  }

  /// Names kill(1) accepts besides the standard ones (signal(7)): IOT is ABRT, CLD is CHLD,
  /// POLL is IO.
  static let aliases = ["IOT": "ABRT", "CLD": "CHLD", "POLL": "IO"]

  /// A number 0...64 (0 checks that the process exists, as kill(1) does), a name in any
  /// case with or without SIG, or a real-time signal as RTMIN, RTMIN+n, RTMAX or RTMAX-n.
  static func number(_ s: String) -> Signal? {
    if let n = Int32(s), n >= 0, n <= 64 { return Signal(rawValue: n) }
    let upper = s.uppercased()
    let bare = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
    if let realtime = realtime(bare) { return realtime }
    return Signal(name: aliases[bare] ?? bare)
  }

  /// RTMIN, RTMIN+n, RTMAX, RTMAX-n within SIGRTMIN...SIGRTMAX (glibc's, as the daemon's).
  static func realtime(_ name: String) -> Signal? {
    let (low, high) = (Signal.realtimeMin.rawValue, Signal.realtimeMax.rawValue)
    let n: Int32?
    switch name {
    case "RTMIN": n = low
    case "RTMAX": n = high
    case _ where name.hasPrefix("RTMIN+"): n = Int32(name.dropFirst(6)).map { low + $0 }
    case _ where name.hasPrefix("RTMAX-"): n = Int32(name.dropFirst(6)).map { high - $0 }
    default: return nil
    }
    guard let n, n >= low, n <= high else { return nil }
    return Signal(rawValue: n)
  }

  func run() throws(Exit) {
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.kill(ids, signal: signal.rawValue, group: group) }
  }
}
