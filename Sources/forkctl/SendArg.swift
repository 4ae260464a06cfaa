import ForkctlClient

struct SendArgCommand: Subcommand {
  static let name = "send-arg"
  static let optionTable = OptionTable([.socket])
  static let summary = "Pass octet strings to a process object, for PROGRAM's argv."
  static let usage = "forkctl send-arg [--socket PATH] ID [--] [STRING...]"
  static let help = """
    Pass octet strings to a process object; run puts them after PROGRAM in argv.

    Arguments:
      ID                    The id or name of the process object.
      STRING                Strings, byte for byte.

    Options:
    \(ClientOptions.help)
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  let id: String
  /// As the caller passed them, even when they are not UTF-8.
  let strings: [[UInt8]]

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    try arguments.parseOptions(into: &client)
    id = try arguments.operand(or: "send-arg needs an ID")
    arguments.skipSeparator()
    strings = Array(try arguments.remaining())
  }

  func run() throws(Exit) {
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.sendArguments(id, strings) }
  }
}
