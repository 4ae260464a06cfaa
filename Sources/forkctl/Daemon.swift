import ArgumentParser
import ForkctlClient
import ForkctlDaemon
import ForkctlSys

struct Daemon: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the daemon in the foreground (clients start one by themselves when none runs).")

  @Option(name: .long, help: ArgumentHelp("The socket to listen on.", valueName: "path"))
  var socket: String?
  @Option(name: .customLong("allow-uid"), help: ArgumentHelp("Also admit this user (repeatable). An admitted user can run programs as the daemon's user.", valueName: "uid"))
  var allowUIDs: [UInt32] = []
  @Option(name: .customLong("allow-gid"), help: ArgumentHelp("Also admit members of this group by their primary gid (repeatable).", valueName: "gid"))
  var allowGIDs: [UInt32] = []
  @Option(help: "Most process objects kept at once.") var maxProcesses: Int = 4096
  @Option(help: "Most client connections at once.") var maxConnections: Int = 1024
  @Option(help: ArgumentHelp("Seconds a spawned program whose client died has between SIGTERM and SIGKILL.", valueName: "seconds"))
  var killGrace: Double = 3
  @Flag(help: "Fork into the background and start a new session.") var background = false
  @Option(help: .hidden) var readyFd: Int32?

  func validate() throws {
    if maxProcesses < 1 { throw ValidationError("--max-processes must be at least 1") }
    if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
    if !(killGrace >= 0 && killGrace <= 86400) { throw ValidationError("--kill-grace must be from 0 to 86400 seconds") }
  }

  func run() throws {
    if background {
      do { try Sys.detach() } catch {
        Sys.printError("forkctl: cannot fork into the background: \(Sys.describe(error))")
        throw ExitCode(1)
      }
    }
    Sys.initializeProcessTitle()
    var config = DaemonConfiguration(socketPath: socket ?? defaultSocketPath())
    config.allowedUIDs = allowUIDs
    config.allowedGIDs = allowGIDs
    config.limits.maxProcesses = maxProcesses
    config.maxConnections = maxConnections
    config.limits.killGraceMilliseconds = Int64(killGrace * 1000)
    config.readyFD = readyFd.map { FileDescriptor(rawValue: $0) }
    throw ExitCode(ForkctlDaemon.Daemon.run(config))
  }
}
