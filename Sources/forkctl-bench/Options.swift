// The command line of every role of forkctl-bench.
import ForkctlClient

/// The command line: `forkctl-bench COMMAND [KIND] [OPTION VALUE]...`.
struct Options {
  var command = ""
  var kind = ""
  /// Launches per timed loop (per configuration and round for `concurrency`).
  var count = 100
  var rounds = 3
  var memoryMB = 2048
  var callers = [1, 8, 32]
  var workers = 1000
  var socket = ""
  var forkctl = ""
  /// `table`: launches per timed loop from the big process.
  var bigCount = 100
  /// `table`: Scripts/bench.d, where the loops of the other programs are.
  var scripts = ""
  /// `table`: a private directory for the commands' output.
  var directory = ""
  /// `table`: a file of lines to print above the table (the machine, the versions).
  var header = ""
  /// `table`: s6-sudod servers of /bin/true and of `sh -c 'exit 42'`.
  var s6Socket = ""
  var s6Exit42Socket = ""
  /// `table`: the socket of the footprint group's own daemon.
  var footprintSocket = ""
  /// The code groups: the library Scripts/bench built (Scripts/bench.d/library.c), the
  /// tiny C process (host.c), and the data the sharing group's init builds.
  var library = ""
  var host = ""
  var shareMB = 1024
  /// The Python sharing group: megabytes of objects its template builds.
  var pythonMB = 500
  /// The HTTP group: the handler Scripts/bench built (Scripts/bench.d/http-handler.c), the
  /// workers of each contender, and the seconds of each wrk run.
  var handler = ""
  var httpWorkers = 4
  var httpSeconds = 5
  /// `table`: the groups to run, by name (Groups.names); all of them when empty.
  var groups: [String] = []
  /// Where `floor` writes its result (the `big` process reads it from a pipe).
  var resultFD: Int32 = 1

  init(_ arguments: [String]) {
    var rest = arguments.dropFirst()
    guard let command = rest.popFirst() else { fail(Self.usage) }
    self.command = command
    if command == "loop" {
      guard let kind = rest.popFirst() else { fail(Self.usage) }
      self.kind = kind
    }
    while let option = rest.popFirst() {
      guard let value = rest.popFirst() else { fail("\(option) wants a value\n\(Self.usage)") }
      func number(_ min: Int = 1) -> Int {
        guard let n = Int(value), n >= min else {
          fail("\(option) wants an integer >= \(min), not '\(value)'")
        }
        return n
      }
      switch option {
      case "-n": count = number()
      case "-r": rounds = number()
      case "--memory-mb": memoryMB = number(0)
      case "--workers": workers = number()
      case "--result-fd": resultFD = Int32(number(0))
      case "--big-n": bigCount = number()
      case "--socket": socket = value
      case "--scripts": scripts = value
      case "--dir": directory = value
      case "--header": header = value
      case "--s6-socket": s6Socket = value
      case "--s6-exit42-socket": s6Exit42Socket = value
      case "--footprint-socket": footprintSocket = value
      case "--forkctl": forkctl = value
      case "--library": library = value
      case "--host": host = value
      case "--share-mb": shareMB = number()
      case "--python-mb": pythonMB = number()
      case "--handler": handler = value
      case "--http-workers": httpWorkers = number()
      case "--seconds": httpSeconds = number()
      case "--groups":
        groups = value.split(separator: ",").map(String.init)
        if let unknown = groups.first(where: { !Groups.names.contains($0) }) {
          fail("--groups: no group '\(unknown)' (groups: \(Groups.names.joined(separator: ",")))")
        }
      case "--callers":
        callers = value.split(separator: ",").map { Int($0) ?? 0 }
        if callers.isEmpty || callers.contains(where: { $0 < 1 }) {
          fail("--callers wants a list like 1,8,32")
        }
      default: fail("unknown option \(option)\n\(Self.usage)")
      }
    }
  }

  /// A client of the private daemon that Scripts/bench names.
  func client() -> ForkctlClient {
    if socket.isEmpty || forkctl.isEmpty { fail("\(command) needs --socket PATH and --forkctl PATH") }
    return ForkctlClient(socketPath: socket, daemonExecutable: forkctl)
  }

  static let usage = """
    usage: forkctl-bench table [-n N] [-r R] [--big-n N] [--memory-mb M] [--workers W]
             --socket S --forkctl F --scripts DIR --dir DIR --s6-socket S --s6-exit42-socket S
             --footprint-socket S --library L --host H [--share-mb M] [--python-mb M] [--header FILE]
             [--handler H] [--http-workers W] [--seconds S] [--groups NAME,...]
           forkctl-bench big [--memory-mb M] [-n N] [-r R] --socket S --forkctl F
           forkctl-bench floor [-n N] [--result-fd FD]
           forkctl-bench loop spawn|new-run|new-kill [-n N] --socket S --forkctl F
           forkctl-bench loop fork-call|spawn-call [-n N] --library L --socket S --forkctl F
           forkctl-bench sharing [--share-mb M] --library L --host H --socket S --forkctl F
           forkctl-bench concurrency [--callers 1,8,32] [-n N] [-r R] --socket S --forkctl F
           forkctl-bench footprint [--workers W] --socket S --forkctl F
           forkctl-bench http [--http-workers W] [--seconds S] [-r R] --handler H --scripts DIR
             --dir DIR --socket S --forkctl F
    Run by Scripts/bench: `table` runs the others and prints the table; they print result
    lines on stdout (see Results.swift).
    """
}
