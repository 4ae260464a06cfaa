import ForkctlClient

struct ExecCommand: CreationCommand {
  static let name = "exec"
  static let summary = "Start a fresh template process and print its id."
  static let description = "Start a fresh template process and print its id."

  let options: CreationOptions

  static func create(
    _ c: inout ForkctlConnection, name: String
  ) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try c.exec(name: name)
  }
}
