import ForkctlClient

struct WaitCommand: Subcommand {
  static let name = "wait"
  static let optionsAnywhere = true
  static let summary = "Wait for process objects to end; exit with the last one's status."
  static let usage = "forkctl wait [--socket PATH] [--print] ID..."
  static let help = """
    Wait for process objects to end; exit with the status of the last, as a shell
    reports it.

    The status is kept however long ago the process ended, also after the template
    that forked it has died. Exit code: the last process's exit code, or 128+N for a
    death by signal N; 125 when forkctl itself fails.

    Arguments:
      ID...                 Ids or names.

    Options:
    \(ClientOptions.help)
      --print               Print one line per process: ID STATUS.
      -h, --help            Show this help.

    """

  /// The status is a program's, so a usage error is 125 like every failure of forkctl's own.
  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Exit { .forkctlFailed }

  var client = ClientOptions()
  /// --print
  var printStatuses = false
  var ids: [String] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--print": printStatuses = true
      default: throw arguments.unknown(option)
      }
    }
    while let id = try arguments.operand() { ids.append(id) }
    if ids.isEmpty { throw .usage("wait needs at least one id") }
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let statuses = try reporting { () throws(ForkctlError) in try c.wait(ids) }
    if printStatuses {
      for (id, status) in statuses { print("\(id) \(status.shellStatus)") }
    }
    throw Exit(statuses.last!.status.shellStatus)
  }
}
