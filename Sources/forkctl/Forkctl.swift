import ForkctlClient
import ForkctlSys

/// One forkctl subcommand: its words on the command line, its help, and what it does.
protocol Subcommand: SendableMetatype {
  /// The subcommand's name on the command line.
  static var name: String { get }
  /// One line for the list of subcommands in `forkctl --help`.
  static var summary: String { get }
  /// The usage line, after `usage: `.
  static var usage: String { get }
  /// What `forkctl help NAME` prints after the usage line.
  static var help: String { get }
  /// The exit status of a usage error on the command line `words` (after the subcommand).
  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Exit
  /// Whether options may follow operands (until `--`), as for commands whose operands are
  /// ids; not for those whose operands end in PROGRAM and its own options.
  static var optionsAnywhere: Bool { get }
  /// Its options: what the parser takes and the completions offer.
  static var optionTable: OptionTable { get }
  /// Its operations (pool's create, status ...), each with its own options; none for most.
  static var operations: [Operation] { get }

  /// Parses and checks the command line; nothing here may read the environment or the
  /// daemon.
  init(parsing arguments: inout Arguments) throws(ArgumentError)
  /// Does the work; returning is exit status 0.
  func run() throws(Exit)
}

extension Subcommand {
  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Exit { .usage }
  static var optionsAnywhere: Bool { false }
  static var operations: [Operation] { [] }
}

/// An operation of a subcommand (`pool create`): its word and its options.
struct Operation {
  let name: String
  let optionTable: OptionTable
}

/// new and exec: a subcommand that takes only `CreationOptions`, makes a process object with
/// one request and prints its id. Each says which request; the rest is written here once.
protocol CreationCommand: Subcommand {
  /// The first paragraph of its help.
  static var description: String { get }
  var options: CreationOptions { get }
  init(options: CreationOptions)
  /// Sends the request that makes the process object.
  static func create(
    _ c: inout ForkctlConnection, name: String
  ) throws(ForkctlError) -> (id: UInt64, pid: Int32)
}

extension CreationCommand {
  static var optionsAnywhere: Bool { true }
  static var optionTable: OptionTable { OptionTable(CreationOptions.table) }
  static var usage: String { "forkctl \(name) [--socket PATH] [--name NAME]" }

  static var help: String {
    """
    \(description)

    Options:
    \(CreationOptions.help)
      -h, --help            Show this help.

    """
  }

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    var options = CreationOptions()
    try arguments.parseOptions(into: &options)
    try arguments.requireEnd()
    self.init(options: options)
  }

  func run() throws(Exit) { try options.create(Self.create) }
}

enum Forkctl {
  static let version = "0.1.0"

  /// In the order `forkctl --help` lists them.
  static let subcommands: [any Subcommand.Type] = [
    SpawnCommand.self, NewCommand.self, ExecCommand.self, ForkCommand.self, SendFDCommand.self,
    SendArgCommand.self, RunCommand.self, LoadCommand.self, EvalCommand.self, CallCommand.self, WaitCommand.self,
    KillCommand.self,
    ForgetCommand.self, PruneCommand.self, ListCommand.self, MemCommand.self, AuditCommand.self, PoolCommand.self,
    StatusCommand.self, ShutdownCommand.self, DaemonCommand.self, CompletionsCommand.self,
  ]

  static let usage = "forkctl SUBCOMMAND [OPTION...] [ARG...]"
  /// The options before SUBCOMMAND (-h, --help and --version besides).
  static let optionTable = OptionTable([.socket, OptionSpec("--verbose")])

  static var help: String {
    var text = """
      Create processes by forking them from small template processes kept by a daemon.

      A client never forks itself: the daemon's templates do, and hand the new process
      the descriptors and strings you send it. See forkctl(1).

      Subcommands:

      """
    var width = 0
    for command in subcommands { width = max(width, command.name.count) }
    for command in subcommands {
      text +=
        "  " + command.name + String(repeating: " ", count: width + 2 - command.name.count) + command.summary + "\n"
    }
    text += """

      Options:
        --socket PATH  The daemon's socket; here before SUBCOMMAND as well as among
                       its options.
        -h, --help     Show this help.
        --version      Show the version; with --verbose, also the protocol
                       version and how this binary was built.

      See 'forkctl help SUBCOMMAND' for the options of a subcommand.

      """
    return text
  }

  /// Parses the command line (`argv`, whole, as bytes) and runs the subcommand. Global
  /// options stand before the subcommand; `--socket PATH` there is handed to it as if it had
  /// come first among its own options.
  static func main(_ argv: [[UInt8]]) -> Never {
    var global = Arguments(argv.dropFirst(), table: optionTable)
    var client = ClientOptions()
    // --verbose is an option of --version alone, on either side of it.
    var verbose = false
    do throws(ArgumentError) {
      while let option = try global.nextOption(besides: &client) {
        guard option == "--verbose" else { throw global.unknown(option) }
        verbose = true
      }
    } catch {
      switch error {
      case .help: printHelp(usage: usage, help)
      case .version: printVersion(verbose: verbose || asksVerbose(argv.dropFirst()))
      case .usage(let message): usageError(message, usage: usage, status: .usage)
      }
    }
    if verbose { usageError("--verbose goes with --version", usage: usage, status: .usage) }
    // At an operand (the subcommand) or the end: nothing was taken past it.
    let rest = (try? global.remaining()) ?? []
    guard let word = rest.first else { usageError("missing subcommand", usage: usage, status: .usage) }
    let first = String(decoding: word, as: UTF8.self)
    if first == "help" {
      guard rest.count > 1 else { printHelp(usage: usage, help) }
      let name = String(decoding: rest[rest.startIndex + 1], as: UTF8.self)
      guard let command = subcommand(named: name) else {
        usageError("unknown subcommand '\(name)'", usage: usage, status: .usage)
      }
      if rest.count > 2 {
        usageError(
          "unexpected argument '\(String(decoding: rest[rest.startIndex + 2], as: UTF8.self))'",
          usage: "forkctl help [SUBCOMMAND]", status: .usage)
      }
      printHelp(usage: command.usage, command.help)
    }
    guard let command = subcommand(named: first) else {
      usageError("unknown subcommand '\(first)'", usage: usage, status: .usage)
    }
    let socket = client.socket.map { [Array("--socket".utf8), Array($0.utf8)] } ?? []
    execute(command, ArraySlice(socket + rest.dropFirst()))
  }

  static func subcommand(named name: String) -> (any Subcommand.Type)? {
    subcommands.first { $0.name == name }
  }

  static func execute<Command: Subcommand>(_: Command.Type, _ words: ArraySlice<[UInt8]>) -> Never {
    var arguments = Arguments(words, optionsAnywhere: Command.optionsAnywhere, table: Command.optionTable)
    let command: Command
    do {
      command = try Command(parsing: &arguments)
    } catch {
      switch error {
      case .help:
        printHelp(usage: Command.usage, Command.help)
      case .version:
        printVersion(verbose: asksVerbose(words))
      case .usage(let message):
        usageError(message, usage: Command.usage, status: Command.usageStatus(words))
      }
    }
    do {
      try command.run()
    } catch {
      Sys.exitProcess(error.status)
    }
    Sys.exitProcess(0)
  }

  /// `forkctl VERSION`, as GNU programs print theirs (the program's name, then the number);
  /// `verbose`, then the protocol version and how this binary was built, one `name: value`
  /// a line.
  static func printVersion(verbose: Bool) -> Never {
    print("forkctl \(version)")
    if verbose { print(BuildDetails.lines.joined(separator: "\n")) }
    Sys.exitProcess(0)
  }

  /// Whether `--verbose` stands among `words` before `--`: beside `--version`, it asks for
  /// the build details.
  static func asksVerbose(_ words: ArraySlice<[UInt8]>) -> Bool {
    words.prefix { $0 != Arguments.separator }.contains(Array("--verbose".utf8))
  }

  static func printHelp(usage: String, _ help: String) -> Never {
    print("usage: \(usage)\n\n\(help)", terminator: "")
    Sys.exitProcess(0)
  }

  static func usageError(_ message: String, usage: String, status: Exit) -> Never {
    Sys.printError("forkctl: \(message)")
    Sys.printError("usage: \(usage)")
    Sys.exitProcess(status.status)
  }
}

/// Ends the command with this exit status, after it has said why; forkctl's own statuses
/// are named (forkctl(1), EXIT STATUS).
struct Exit: Error {
  let status: Int32
  init(_ status: Int32) { self.status = status }

  /// A usage error (sysexits.h EX_USAGE), for commands whose status is not a program's.
  static let usage = Exit(64)
  /// forkctl itself failed: daemon unreachable, request refused, unknown process object;
  /// also a usage error of wait, spawn and run --wait, whose status is otherwise a program's.
  static let forkctlFailed = Exit(125)
  /// The daemon shut down while the program ran: it keeps running, and its status is lost;
  /// timeout(1)'s status, as `wait --timeout` gives up the same way.
  static let stillRunning = Exit(124)
  /// The program was found but could not be executed.
  static let notExecutable = Exit(126)
  /// The program was not found.
  static let notFound = Exit(127)
}

extension ClientOptions {
  /// Connects (starting the daemon if none answers, unless not `autoStart`) or exits 125 with
  /// the reason.
  func connect(autoStart: Bool = true) throws(Exit) -> ForkctlConnection {
    do {
      // The daemon is this very executable.
      return try ForkctlConnection(
        socketPath: socketPath, autoStart: autoStart, daemonExecutable: try? Sys.executablePath())
    } catch {
      throw fail(error)
    }
  }
}

/// Prints `forkctl: MESSAGE` and returns the exit for `error`.
func fail(_ error: ForkctlError) -> Exit {
  Sys.printError("forkctl: \(escapingControls(error.message))")
  switch error.refusal {
  case .programNotFound?, .symbolNotFound?: return .notFound
  case .programNotExecutable?, .execFailed?: return .notExecutable
  case .stillRunning?: return .stillRunning
  default: return .forkctlFailed
  }
}

/// Runs `body`, turning a ForkctlError into its message and exit status.
func reporting<T>(_ body: () throws(ForkctlError) -> T) throws(Exit) -> T {
  do {
    return try body()
  } catch {
    throw fail(error)
  }
}
