import ForkctlClient

struct ExecCommand: CreationCommand {
  static let name = "exec"
  static let summary = "Start a fresh template process and print its id."
  static let description = """
    Start a fresh template process and print its id. It runs the template image,
    forkctl-template, which can load code (forkctl load); in a release build the
    default template, which new forks from, cannot (see forkctl(1), FILES).
    """

  let options: CreationOptions

  static func create(
    _ c: inout ForkctlConnection, name: String
  ) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try c.exec(name: name)
  }
}
