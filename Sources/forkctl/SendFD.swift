import ForkctlClient
import ForkctlSys
import ForkctlWire

struct SendFDCommand: Subcommand {
  static let name = "send-fd"
  static let optionTable = OptionTable([.socket])
  static let optionsAnywhere = true
  static let summary = "Pass descriptors of the caller to a process object."
  static let usage = "forkctl send-fd [--socket PATH] ID SPEC..."
  static let help = """
    Pass descriptors of the caller to a process object.

    Each SPEC is a descriptor N of the caller, which lands on the lowest number not
    yet taken in the worker, in the order sent; or TARGET=N, which puts the caller's
    N on TARGET in the worker.

    Arguments:
      ID                    The id or name of the process object.
      SPEC                  N or TARGET=N.

    Options:
    \(ClientOptions.help)
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  let id: String
  var fds: [(fd: FileDescriptor, target: FDTarget)] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    try arguments.parseOptions(into: &client)
    id = try arguments.operand(or: "send-fd needs an ID")
    while let spec = try arguments.operand() {
      guard let (fd, target) = Self.parse(spec) else {
        throw .usage("'\(spec)' is not a descriptor N or TARGET=N (0 to \(WireLimits.maxTargetFD))")
      }
      fds.append((FileDescriptor(rawValue: fd), target))
    }
    if fds.isEmpty { throw .usage("send-fd needs at least one descriptor") }
  }

  static func parse(_ spec: String) -> (fd: Int32, target: FDTarget)? {
    let parts = spec.split(separator: "=", omittingEmptySubsequences: false)
    func number(_ s: Substring) -> Int32? {
      guard let n = Int32(s), n >= 0, n <= WireLimits.maxTargetFD else { return nil }
      return n
    }
    switch parts.count {
    case 1: return number(parts[0]).map { ($0, nil) }
    case 2:
      guard let target = number(parts[0]), let fd = number(parts[1]) else { return nil }
      return (fd, target)
    default: return nil
    }
  }

  func run() throws(Exit) {
    try reporting { () throws(ForkctlError) in try Caller.descriptors.requireOpen(fds.map(\.fd.rawValue)) }
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.sendFDs(id, fds) }
  }
}
