import ForkctlClient
import ForkctlSys
import ForkctlWire

struct CallCommand: Subcommand {
  static let name = "call"
  static let optionTable = OptionTable(
    joining: [.socket, OptionSpec("--wait"), OptionSpec("--detach"), OptionSpec("--quick-exit")], ProgramOptions.table)
  static let summary = "Make a process object call a function of a library it loaded."
  static let usage = "forkctl call [OPTION...] ID [OPTION...] [--] SYMBOL [ARG...]"
  static let help = """
    Make a process object call int SYMBOL(int argc, char **argv), a function of a
    library loaded into it (or into the template it was forked from) with load,
    instead of executing a program. Its return value is the exit status.

    argv is SYMBOL, then the strings sent with send-arg, then ARGs. Descriptors,
    environment, working directory, umask, resource limits, nice value and signal
    mask are prepared as run prepares them for a program; what a library's init
    set up (its descriptors, its signal handlers, its data) stays. The worker ends
    with exit(3), so atexit handlers and destructors run, or with --quick-exit
    _exit(2). Returns once SYMBOL is being called, or with --wait once it has
    returned, with its status.

    In a language host (exec --python or --perl) SYMBOL is module:function (Perl
    Module::function), called with the strings and ARGs as its arguments; see
    forkctl(1), LANGUAGE HOSTS.

    Arguments:
      ID                    The id or name of the process object.
      SYMBOL [ARG...]       The function and its arguments, byte for byte.

    Options:
    \(ClientOptions.help)
      --wait                Exit with the worker's status once it ends; a death by
                            signal is re-raised; 124 when the daemon shuts down
                            first (the worker runs on).
      --detach              Nobody will wait: the daemon forgets the process
                            object once the worker has ended (not with --wait).
      --quick-exit          End the worker with _exit(2): no atexit handler,
                            destructor or stdio flush runs.
    \(ProgramOptions.help)
      -h, --help            Show this help.

    """

  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Exit { RunCommand.usageStatus(words) }

  /// `run`, whose PROGRAM is SYMBOL.
  let command: RunCommand

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    command = try RunCommand(parsing: &arguments, calling: true)
  }

  func run() throws(Exit) { try command.run() }
}

struct LoadCommand: Subcommand {
  static let name = "load"
  static let optionTable = OptionTable([.socket, OptionSpec("--init", .symbol), OptionSpec("--global")])
  static let summary = "Load shared libraries (or a host's modules) into a template."
  static let usage = "forkctl load [OPTION...] ID [OPTION...] LIBRARY... [-- ARG...]"
  static let help = """
    Load a shared library into a process object that has not run (a template made
    with exec, or a worker forked from one), so that every worker forked from it
    afterwards shares the library's code and the data its init built, and can call
    its functions with call or spawn --call. Several are loaded in order, each init
    given the ARGs; the first that fails stops the rest. Into a language host (exec
    --python or --perl) each LIBRARY is a module, imported (required) there; with
    --init its function of that name is called once with the ARGs.

    The library is opened with dlopen(3) and RTLD_NOW, so a symbol it cannot
    resolve fails here. Its init, int forkctl_init(int argc, char **argv) when it
    exports one (or the function named by --init), then runs once, with argv
    LIBRARY, then ARGs, in the caller's working directory, which stays the process
    object's. An init that returns non-zero ends the process object with that
    status. Prints nothing on success, unless the init started threads: then it
    says on standard error how many and their names, as a process object with more
    than one thread refuses to fork.

    Arguments:
      ID                    The id or name of the process object.
      LIBRARY               The library's path (dlopen's search without a '/'),
                            or a host's module name.
      ARG...                The init's arguments, byte for byte.

    Options:
    \(ClientOptions.help)
      --init SYMBOL         Run SYMBOL as the init instead of forkctl_init; it
                            must exist.
      --global              Load with RTLD_GLOBAL: libraries loaded later may use
                            this one's symbols.
      -h, --help            Show this help.

    """

  struct LoadOptions: OptionGroup {
    var client = ClientOptions()
    var initSymbol: [UInt8] = []
    var global = false

    mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
      switch option {
      case "--init":
        initSymbol = try arguments.rawValue()
        if initSymbol.isEmpty { throw .usage("--init needs a SYMBOL") }
      case "--global": global = true
      default: return try client.parse(option, &arguments)
      }
      return true
    }
  }

  let options: LoadOptions
  let id: String
  let specs: [LoadSpec]

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    var options = LoadOptions()
    try arguments.parseOptions(into: &options)
    id = try arguments.operand(or: "load needs an ID")
    try arguments.parseOptions(into: &options)
    // LIBRARY... up to `--` (or the end), then the ARGs every init gets.
    var libraries = [Array(try arguments.operand(or: "load needs a LIBRARY").utf8)]
    try arguments.parseOptions(into: &options)
    while !arguments.pastSeparator, let library = try arguments.operand() {
      libraries.append(Array(library.utf8))
      try arguments.parseOptions(into: &options)
    }
    let initArguments = Array(try arguments.remaining())
    self.options = options
    specs = libraries.map {
      LoadSpec(path: $0, initSymbol: options.initSymbol, arguments: initArguments, global: options.global)
    }
  }

  func run() throws(Exit) {
    let cwd = try reporting(Inherited.workingDirectory)
    var c = try options.client.connect()
    for spec in specs {
      let threads = try reporting { () throws(ForkctlError) in try c.load(id, spec, workingDirectory: cwd) }
      warnOfThreads(id, threads, after: "loading")
    }
  }
}

/// Says on standard error that process object `id` has more than one thread after `action`
/// (loading, eval): it will refuse to fork.
func warnOfThreads(_ id: String, _ threads: ThreadCensus, after action: String) {
  guard threads.names.count > 1 else { return }
  let names = threads.names.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ", ")
  Sys.printError("forkctl: \(id) has \(threads.names.count) threads after \(action) (\(names)); it will refuse to fork")
}
