import ForkctlClient

struct ShutdownCommand: Subcommand {
  static let name = "shutdown"
  static let optionTable = OptionTable([.socket, OptionSpec("--wait")])
  static let optionsAnywhere = true
  static let summary = "Stop the daemon; running programs go on."
  static let usage = "forkctl shutdown [--socket PATH] [--wait]"
  static let help = """
    Stop the daemon: process objects that have not run end, running programs go on.
    A spawn, run --wait or wait still waiting for a program says that it keeps
    running and exits 124. Returns once the daemon's socket and pid file are gone.

    Options:
    \(ClientOptions.help)
      --wait                Drain first: start nothing new (such requests are
                            refused), let every program a spawn or run --wait waits
                            for end and be reported, then stop. No time limit; a
                            plain shutdown meanwhile stops at once.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  /// --wait
  var drain = false

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--wait": drain = true
      default: throw arguments.unknown(option)
      }
    }
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    var c = try client.connect(autoStart: false)
    try reporting { () throws(ForkctlError) in try c.shutdown(drain: drain) }
  }
}
