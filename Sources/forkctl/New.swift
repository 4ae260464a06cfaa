import ArgumentParser
import ForkctlClient

struct New: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fork a new process object from the default template and print its id.")

  @OptionGroup var client: ClientOptions
  @Option(help: "A name that works wherever the id does.") var name: String = ""

  func run() throws {
    var c = try client.connect()
    let created = try reporting { () throws(ForkctlError) in try c.new(name: name) }
    print(created.id)
  }
}
