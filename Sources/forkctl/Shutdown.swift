import ArgumentParser
import ForkctlClient

struct Shutdown: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Stop the daemon: process objects that have not run end, running programs go on.")

  @OptionGroup var client: ClientOptions

  func run() throws {
    let c: ForkctlConnection
    do {
      c = try ForkctlConnection(socketPath: client.socketPath, autoStart: false)
    } catch {
      throw fail(error)
    }
    var connection = c
    try reporting { () throws(ForkctlError) in try connection.shutdown() }
  }
}
