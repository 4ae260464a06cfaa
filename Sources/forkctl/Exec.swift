import ForkctlClient
import ForkctlWire

struct ExecCommand: Subcommand {
  static let name = "exec"
  static let optionTable = OptionTable(
    joining: CreationOptions.table,
    [OptionSpec("--python"), OptionSpec("--perl"), OptionSpec("--interpreter", .command)])
  static let summary = "Start a fresh template (or a Python or Perl host); print its id."
  static let usage = "forkctl exec [--socket PATH] [--name NAME] [--python | --perl [--interpreter PATH]]"
  static let optionsAnywhere = true
  static let help = """
    Start a fresh template process and print its id. It runs the template image,
    forkctl-template, which can load code (forkctl load); in a release build the
    default template, which new forks from, cannot (see forkctl(1), FILES).

    With --python or --perl the template is a language host instead: an
    interpreter that imports modules (load), runs code (eval) and calls functions
    (call ID -- module:function, Perl Module::function) in the workers it forks.
    The interpreter is looked up in this PATH and runs with this environment.

    Options:
    \(CreationOptions.help)
      --python              Start a Python host (python3 unless --interpreter).
      --perl                Start a Perl host (perl unless --interpreter).
      --interpreter PATH    The host's interpreter: a path, or a name looked up
                            in PATH.
      -h, --help            Show this help.

    """

  struct ExecOptions: OptionGroup {
    var creation = CreationOptions()
    var language: HostLanguage?
    var interpreter: String?

    mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
      switch option {
      case "--python", "--perl":
        let chosen: HostLanguage = option == "--python" ? .python : .perl
        if let language, language != chosen { throw .usage("--python and --perl exclude each other") }
        language = chosen
      case "--interpreter":
        interpreter = try arguments.value()
        if interpreter == "" { throw .usage("--interpreter needs a PATH") }
      default: return try creation.parse(option, &arguments)
      }
      return true
    }
  }

  let options: ExecOptions

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    var options = ExecOptions()
    try arguments.parseOptions(into: &options)
    try arguments.requireEnd()
    if options.interpreter != nil && options.language == nil { throw .usage("--interpreter needs --python or --perl") }
    self.options = options
  }

  func run() throws(Exit) {
    let host = try options.language.map { (language) throws(Exit) in
      try reporting { () throws(ForkctlError) in try HostSpec.resolving(language, interpreter: options.interpreter) }
    }
    try options.creation.create { (c, name) throws(ForkctlError) in try c.exec(name: name, host: host) }
  }
}
