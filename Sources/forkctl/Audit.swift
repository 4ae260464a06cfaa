import ForkctlClient
import ForkctlWire

struct AuditCommand: Subcommand {
  static let name = "audit"
  static let optionTable = OptionTable([.socket, .json])
  static let optionsAnywhere = true
  static let summary = "List the files a worker maps that its template did not when it forked."
  static let usage = "forkctl audit [--socket PATH] [--json] ID"
  static let help = """
    List the files (libraries, mapped data) that process object ID maps now and
    its parent did not map when it forked it (/proc/PID/maps, by path): what it
    loaded after the fork. One path per line; nothing when it loaded nothing.
    Refused for a template, and for a worker that ran a program (exec replaced
    every mapping); a function worker (forkctl call) or an unrun fork compares.
    For a worker of a language host (exec --python or --perl), the modules it
    imported (required) after its fork follow, after a line "imported after the
    fork:", one a line, in order (not in --json).

    Arguments:
      ID                    An id or a name.

    Options:
    \(ClientOptions.help)
      --json                Print a JSON array of paths instead.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var json = false
  var id = ""

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--json": json = true
      default: throw arguments.unknown(option)
      }
    }
    guard let id = try arguments.operand() else { throw .usage("audit needs an id") }
    self.id = id
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let (paths, modules) = try reporting { () throws(ForkctlError) in try c.auditReport(id) }
    if json {
      print("[" + paths.map(ListCommand.quote).joined(separator: ",") + "]")
    } else {
      for p in paths { print(displayed(p)) }
      // A language host's worker: what it imported (required) after its fork.
      if !modules.isEmpty {
        print("imported after the fork:")
        for m in modules { print(displayed(m)) }
      }
    }
  }
}
