import ForkctlClient

struct Exec: Subcommand {
  static let name = "exec"
  static let summary = "Start a fresh template process and print its id."
  static let usage = "forkctl exec [--socket PATH] [--name NAME]"
  static let help = """
    Start a fresh template process and print its id.

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
    let created = try reporting { () throws(ForkctlError) in try c.exec(name: name) }
    print(created.id)
  }
}
