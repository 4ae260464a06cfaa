import ArgumentParser
import ForkctlClient
import ForkctlSys

struct SendArg: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "send-arg",
    abstract: "Pass octet strings to a process object; run puts them after PROGRAM in argv.")

  @OptionGroup var client: ClientOptions
  @Argument(help: "The id or name of the process object.") var id: String
  @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Strings, byte for byte.", valueName: "string"))
  var strings: [String] = []

  func run() throws {
    var raw = Sys.rawArguments(last: strings.count)
    if raw.first == Array("--".utf8) { raw.removeFirst() }
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.sendArguments(id, raw) }
  }
}
