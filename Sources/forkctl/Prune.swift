import ForkctlClient

struct PruneCommand: Subcommand {
  static let name = "prune"
  static let optionTable = OptionTable([.socket, OptionSpec("--print")])
  static let optionsAnywhere = true
  static let summary = "Drop your exited process objects that were never waited for."
  static let usage = "forkctl prune [--socket PATH] [--print]"
  static let help = """
    Drop every exited process object of your user whose status no wait has
    reported, and print how many were dropped (0 included).

    Options:
    \(ClientOptions.help)
      --print               Print one line per object dropped, ID STATUS, as
                            wait --print does, instead of the count.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  /// --print
  var printStatuses = false

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--print": printStatuses = true
      default: throw arguments.unknown(option)
      }
    }
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let dropped = try reporting { () throws(ForkctlError) in try c.prune() }
    if printStatuses {
      for (id, status) in dropped { print("\(id) \(status.shellStatus)") }
    } else {
      print(dropped.count)
    }
  }
}
