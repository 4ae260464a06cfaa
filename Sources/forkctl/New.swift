import ForkctlClient

struct New: Subcommand {
  static let name = "new"
  static let summary = "Fork a process object from the default template; print its id."
  static let usage = "forkctl new [--socket PATH] [--name NAME]"
  static let help = """
    Fork a new process object from the default template and print its id.

    Options:
      --socket PATH         The daemon's socket.
      --name NAME           A name that works wherever the id does.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var name = ""

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption() {
      switch option {
      case "--socket": client.socket = try arguments.value()
      case "--name": name = try arguments.value()
      default: throw arguments.unknown(option)
      }
    }
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let created = try reporting { () throws(ForkctlError) in try c.new(name: name) }
    print(created.id)
  }
}
