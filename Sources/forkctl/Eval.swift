import ForkctlClient
import ForkctlSys
import ForkctlWire

struct EvalCommand: Subcommand {
  static let name = "eval"
  static let optionTable = OptionTable([.socket])
  static let summary = "Run code in a language host's template (exec --python or --perl)."
  static let usage = "forkctl eval [OPTION...] ID [OPTION...] CODE [ARG...]"
  static let help = """
    Run CODE in a language host that has not run (a template made with exec
    --python or --perl, or a process forked from one), so that every worker forked
    from it afterwards has what it did. Python runs it with exec() in the namespace
    of __main__, sys.argv being ["-c", ARG...] meanwhile; Perl with eval, @ARGV
    being the ARGs. It runs in the caller's working directory, which stays the
    host's. An exception (die) fails it with its message; what the code did before
    stays done. A native template refuses it.

    Arguments:
      ID                    The id or name of the process object.
      CODE                  The code, byte for byte (not empty).
      ARG...                Its arguments, byte for byte.

    Options:
    \(ClientOptions.help)
      -h, --help            Show this help.

    """

  let client: ClientOptions
  let id: String
  let spec: EvalSpec

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    var client = ClientOptions()
    try arguments.parseOptions(into: &client)
    id = try arguments.operand(or: "eval needs an ID")
    try arguments.parseOptions(into: &client)
    arguments.skipSeparator()
    let words = try arguments.remaining()
    guard let code = words.first, !code.isEmpty else { throw .usage("eval needs CODE") }
    self.client = client
    spec = EvalSpec(code: code, arguments: Array(words.dropFirst()))
  }

  func run() throws(Exit) {
    let cwd = try reporting(Inherited.workingDirectory)
    var c = try client.connect()
    let threads = try reporting { () throws(ForkctlError) in try c.eval(id, spec, workingDirectory: cwd) }
    warnOfThreads(id, threads, after: "eval")
  }
}
