import ForkctlClient

struct ForkCommand: Subcommand {
  static let name = "fork"
  static let optionTable = OptionTable(CreationOptions.table)
  static let optionsAnywhere = true
  static let summary = "Fork a process object that has not run yet; print the new id."
  static let usage = "forkctl fork [--socket PATH] [--name NAME] ID"
  static let help = """
    Fork a process object that has not run yet, cloning every string and descriptor
    sent to it; print the new id.

    Arguments:
      ID                    The id or name of the process object to fork.

    Options:
    \(CreationOptions.help)
      -h, --help            Show this help.

    """

  var options = CreationOptions()
  let id: String

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    try arguments.parseOptions(into: &options)
    id = try arguments.operand(or: "fork needs an ID")
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    try options.create { (c, name) throws(ForkctlError) in try c.fork(id, name: name) }
  }
}
