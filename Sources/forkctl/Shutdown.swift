import ForkctlClient

struct ShutdownCommand: Subcommand {
  static let name = "shutdown"
  static let optionsAnywhere = true
  static let summary = "Stop the daemon; running programs go on."
  static let usage = "forkctl shutdown [--socket PATH]"
  static let help = """
    Stop the daemon: process objects that have not run end, running programs go on.

    Options:
    \(ClientOptions.help)
      -h, --help            Show this help.

    """

  var client = ClientOptions()

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    try arguments.parseOptions(into: &client)
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    var c = try client.connect(autoStart: false)
    try reporting { () throws(ForkctlError) in try c.shutdown() }
  }
}
