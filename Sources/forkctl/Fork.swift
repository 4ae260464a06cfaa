import ForkctlClient

struct Fork: Subcommand {
  static let name = "fork"
  static let summary = "Fork a process object that has not run yet; print the new id."
  static let usage = "forkctl fork [--socket PATH] [--name NAME] ID"
  static let help = """
    Fork a process object that has not run yet, cloning every string and descriptor
    sent to it; print the new id.

    Arguments:
      ID                    The id or name of the process object to fork.

    Options:
      --socket PATH         The daemon's socket.
      --name NAME           A name that works wherever the id does.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var name = ""
  let id: String

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption() {
      switch option {
      case "--socket": client.socket = try arguments.value()
      case "--name": name = try arguments.value()
      default: throw arguments.unknown(option)
      }
    }
    id = try arguments.operand(or: "fork needs an ID")
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let created = try reporting { () throws(ForkctlError) in try c.fork(id, name: name) }
    print(created.id)
  }
}
