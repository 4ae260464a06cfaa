import ForkctlClient

struct WaitCommand: Subcommand {
  static let name = "wait"
  static let optionTable = OptionTable([
    .socket, OptionSpec("--all"), OptionSpec("--print"), OptionSpec("--timeout", .seconds),
  ])
  static let optionsAnywhere = true
  static let summary = "Wait for process objects to end; exit with the last one's status."
  static let usage = "forkctl wait [--socket PATH] [--print] [--timeout SECONDS] ID... | --all"
  static let help = """
    Wait for process objects to end; exit with the status of the last, as a shell
    reports it.

    The status is kept however long ago the process ended, also after the template
    that forked it has died. Exit code: the last process's exit code, or 128+N for a
    death by signal N; 124 when --timeout passes first, or the daemon shuts down
    while they run (they run on); 125 when forkctl itself fails.

    Arguments:
      ID...                 Ids or names.

    Options:
    \(ClientOptions.help)
      --all                 Instead of IDs: every process object of yours that has
                            run a program and that no wait has reported, running or
                            exited, as they are now (in id order; none: exit 0).
      --print               Print one line per process: ID STATUS.
      --timeout SECONDS     Give up after SECONDS (fractions allowed) and exit 124,
                            as timeout(1) does; the processes run on.
      -h, --help            Show this help.

    """

  /// The status is a program's, so a usage error is 125 like every failure of forkctl's own.
  static func usageStatus(_ words: ArraySlice<[UInt8]>) -> Exit { .forkctlFailed }

  /// timeout(1)'s status when the time passes first.
  static let timedOut = Exit(124)
  /// The longest --timeout: poll(2) counts milliseconds in an int.
  static let maxTimeoutSeconds = Double(Int32.max / 1000)

  var client = ClientOptions()
  /// --print
  var printStatuses = false
  /// --timeout, in milliseconds.
  var timeout: Int32?
  /// --all
  var all = false
  var ids: [String] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--print": printStatuses = true
      case "--all": all = true
      case "--timeout":
        let text = try arguments.value()
        guard let seconds = Double(text), seconds >= 0, seconds <= Self.maxTimeoutSeconds else {
          throw .usage("--timeout '\(text)' is not a number of seconds from 0 to \(Int(Self.maxTimeoutSeconds))")
        }
        timeout = Int32((seconds * 1000).rounded(.up))
      default: throw arguments.unknown(option)
      }
    }
    while let id = try arguments.operand() { ids.append(id) }
    if all && !ids.isEmpty { throw .usage("wait --all takes no id") }
    if !all && ids.isEmpty { throw .usage("wait needs at least one id") }
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let ended = try reporting { () throws(ForkctlError) in
      switch (all, timeout) {
      case (true, let timeout?): return try c.waitAll(timeoutMilliseconds: timeout)
      case (true, nil): return try c.waitAll()
      case (false, let timeout?): return try c.wait(ids, timeoutMilliseconds: timeout)
      case (false, nil): return try c.wait(ids)
      }
    }
    guard let statuses = ended else { throw Self.timedOut }
    if printStatuses {
      for (id, status) in statuses { print("\(id) \(status.shellStatus)") }
    }
    // --all with nothing to wait for: nothing failed.
    throw Exit(statuses.last?.status.shellStatus ?? 0)
  }
}
