import ForkctlClient

struct NewCommand: CreationCommand {
  static let name = "new"
  static let summary = "Fork a process object from the default template; print its id."
  static let description = "Fork a new process object from the default template and print its id."

  let options: CreationOptions

  static func create(
    _ c: inout ForkctlConnection, name: String
  ) throws(ForkctlError) -> (id: UInt64, pid: Int32) {
    try c.new(name: name)
  }
}
