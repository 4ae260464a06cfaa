import ArgumentParser
import ForkctlClient

struct Wait: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Wait for process objects to end; exit with the status of the last, as a shell reports it.",
    discussion: """
      The status is kept however long ago the process ended, also after the template that \
      forked it has died. Exit code: the last process's exit code, or 128+N for a death by \
      signal N; 125 when forkctl itself fails.
      """)

  @OptionGroup var client: ClientOptions
  @Flag(help: "Print one line per process: ID STATUS.") var print = false
  @Argument(help: "Ids or names.") var ids: [String]

  func validate() throws {
    if ids.isEmpty { throw ValidationError("wait needs at least one id") }
  }

  func run() throws {
    var c = try client.connect()
    let statuses = try reporting { () throws(ForkctlError) in try c.wait(ids) }
    if print {
      for (id, status) in statuses { Swift.print("\(id) \(status.shellStatus)") }
    }
    throw ExitCode(statuses.last!.status.shellStatus)
  }
}
