import ForkctlClient

struct ExecCommand: CreationCommand {
  static let name = "exec"
  static let summary = "Start a fresh template process and print its id."
  static let help = """
    Start a fresh template process and print its id.

    Options:
    \(CreationOptions.help)
      -h, --help            Show this help.

    """

  let options: CreationOptions

  static func create(
    _ c: inout ForkctlConnection, name: String
  ) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try c.exec(name: name)
  }
}
