import ArgumentParser
import ForkctlClient

struct Fork: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fork a process object that has not run yet, cloning every string and descriptor sent to it; print the new id.")

  @OptionGroup var client: ClientOptions
  @Option(help: "A name that works wherever the id does.") var name: String = ""
  @Argument(help: "The id or name of the process object to fork.") var id: String

  func run() throws {
    var c = try client.connect()
    let created = try reporting { () throws(ForkctlError) in try c.fork(id, name: name) }
    print(created.id)
  }
}
