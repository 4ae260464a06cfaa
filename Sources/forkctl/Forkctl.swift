import ArgumentParser
import ForkctlClient
import ForkctlSys
import ForkctlWire

struct Forkctl: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "forkctl",
    abstract: "Create processes by forking them from small template processes kept by a daemon.",
    discussion: """
      A client never forks itself: the daemon's templates do, and hand the new process the \
      descriptors and strings you send it. See forkctl(1).
      """,
    version: forkctlVersion,
    subcommands: [
      Spawn.self, New.self, Exec.self, Fork.self, SendFD.self, SendArg.self, Run.self, Wait.self, Kill.self,
      List.self, Shutdown.self, Daemon.self,
    ])

  /// Commands whose exit status is a program's: every failure of their own, a usage error
  /// included, is 125, so it cannot be mistaken for the program's status.
  static let statusCommands: Set<String> = ["wait", "spawn"]

  static func mainReportingStatus() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let name = CommandLine.argc > 1 ? String(cString: CommandLine.unsafeArgv[1]!) : ""
      let code = exitCode(for: error)
      let waits = statusCommands.contains(name) || (name == "run" && CommandLine.arguments.contains("--wait"))
      if code == .validationFailure && waits {
        Sys.printError(fullMessage(for: error))
        Sys.exitProcess(ExitStatusCode.forkctlFailed)
      }
      exit(withError: error)
    }
  }
}

let forkctlVersion = "0.1.0"

/// forkctl's own exit codes (forkctl(1), EXIT STATUS).
enum ExitStatusCode {
  /// forkctl itself failed: daemon unreachable, request refused, unknown process object.
  static let forkctlFailed: Int32 = 125
  /// The program was found but could not be executed.
  static let notExecutable: Int32 = 126
  /// The program was not found.
  static let notFound: Int32 = 127
}

/// Options every client command takes.
struct ClientOptions: ParsableArguments {
  @Option(name: .long, help: ArgumentHelp("The daemon's socket.", valueName: "path"))
  var socket: String?

  var socketPath: String { socket ?? defaultSocketPath() }

  /// Connects (starting the daemon if needed) or exits 125 with the reason.
  func connect() throws -> ForkctlConnection {
    do {
      return try ForkctlConnection(socketPath: socketPath)
    } catch {
      throw fail(error)
    }
  }
}

/// Prints `forkctl: MESSAGE` and returns the exit code for `error`.
func fail(_ error: ForkctlError) -> ExitCode {
  Sys.printError("forkctl: \(error.message)")
  switch error.code {
  case .refused(.programNotFound): return ExitCode(ExitStatusCode.notFound)
  case .refused(.programNotExecutable), .refused(.execFailed): return ExitCode(ExitStatusCode.notExecutable)
  default: return ExitCode(ExitStatusCode.forkctlFailed)
  }
}

/// Runs `body`, turning a ForkctlError into its message and exit code.
func reporting<T>(_ body: () throws(ForkctlError) -> T) throws -> T {
  do {
    return try body()
  } catch {
    throw fail(error)
  }
}
