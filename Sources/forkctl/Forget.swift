import ForkctlClient

struct ForgetCommand: Subcommand {
  static let name = "forget"
  static let optionTable = OptionTable([.socket])
  static let optionsAnywhere = true
  static let summary = "Drop exited process objects that nobody will wait for."
  static let usage = "forkctl forget [--socket PATH] ID..."
  static let help = """
    Drop exited process objects and their statuses, which no wait can see after.
    All or none: when one has not exited, or a wait for it is pending, nothing is
    dropped and forkctl exits 125.

    Arguments:
      ID...                 Ids or names.

    Options:
    \(ClientOptions.help)
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var ids: [String] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    try arguments.parseOptions(into: &client)
    while let id = try arguments.operand() { ids.append(id) }
    if ids.isEmpty { throw .usage("forget needs at least one id") }
  }

  func run() throws(Exit) {
    var c = try client.connect()
    _ = try reporting { () throws(ForkctlError) in try c.forget(ids) }
  }
}
