import ArgumentParser
import ForkctlClient

struct Exec: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Start a fresh template process and print its id.")

  @OptionGroup var client: ClientOptions
  @Option(help: "A name that works wherever the id does.") var name: String = ""

  func run() throws {
    var c = try client.connect()
    let created = try reporting { () throws(ForkctlError) in try c.exec(name: name) }
    print(created.id)
  }
}
