// The option groups that several subcommands share, each parsed here once. A group's `help`
// holds its lines of a subcommand's Options list, indented as they are printed.
import ForkctlClient
import ForkctlWire

/// `--socket PATH`, which every subcommand takes: the daemon's socket.
struct ClientOptions: OptionGroup {
  var socket: String?

  static let table = [OptionSpec.socket]
  static let help = "  --socket PATH         The daemon's socket."

  var socketPath: String { socket ?? defaultSocketPath() }

  mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
    guard option == "--socket" else { return false }
    socket = try arguments.value()
    return true
  }
}

/// The options of new, exec and fork, which make a process object and print its id.
struct CreationOptions: OptionGroup {
  var client = ClientOptions()
  /// `--name NAME`; empty for none.
  var name = ""

  static let table = [OptionSpec.socket, .name]
  static let help = """
    \(ClientOptions.help)
      --name NAME           A name that works wherever the id does.
    """

  mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
    guard option == "--name" else { return try client.parse(option, &arguments) }
    name = try arguments.name()
    return true
  }

  /// Connects, makes the process object with `create` and prints its id.
  func create(
    _ create: (inout ForkctlConnection, String) throws(ForkctlError) -> (id: UInt64, pid: Int32)
  ) throws(Exit) {
    var c = try client.connect()
    let created = try reporting { () throws(ForkctlError) in try create(&c, name) }
    print(created.id)
  }
}

extension Arguments {
  /// The value of `--name`, which cannot be empty (that would silently make an unnamed
  /// process object) nor begin with `-` (it could not be told from an option where it
  /// stands as an ID). The daemon checks the rest: length, spaces, digits, "default".
  mutating func name() throws(ArgumentError) -> String {
    let name = try value()
    if name.isEmpty { throw .usage("--name needs a name, not an empty string") }
    if name.hasPrefix("-") { throw .usage("--name '\(name)': a name cannot begin with '-'") }
    return name
  }
}

/// How PROGRAM is started: the options of run and spawn.
struct ProgramOptions: OptionGroup {
  /// --keep-control
  var keepControl = false
  /// Each --env NAME=VALUE, as the caller passed it.
  var env: [[UInt8]] = []
  /// --clear-env
  var clearEnv = false

  static let table = [
    OptionSpec("--keep-control"), OptionSpec("--env", .environment, repeatable: true), OptionSpec("--clear-env"),
  ]
  static let help = """
      --keep-control        Keep the control socket open in PROGRAM, on the
                            descriptor named in FORKCTL_CONTROL_FD, so that later
                            send-fd and send-arg reach it.
      --env NAME=VALUE      Set NAME to VALUE in PROGRAM's environment (repeatable).
      --clear-env           Start PROGRAM with an empty environment (then --env adds
                            to it).
    """

  mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool {
    switch option {
    case "--keep-control": keepControl = true
    case "--clear-env": clearEnv = true
    case "--env":
      let e = try arguments.rawValue()
      guard let equals = e.firstIndex(of: UInt8(ascii: "=")), equals > 0 else {
        throw .usage("--env '\(String(decoding: e, as: UTF8.self))' is not NAME=VALUE")
      }
      env.append(e)
    default: return false
    }
    return true
  }

  /// The RunSpec for `command` (PROGRAM then its ARGs, raw bytes, at least PROGRAM).
  func spec(_ command: [[UInt8]]) -> RunSpec {
    RunSpec(
      program: command[0], arguments: Array(command.dropFirst()),
      environment: Inherited.environment(clear: clearEnv, setting: env), keepControl: keepControl)
  }
}
