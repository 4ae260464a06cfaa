import ArgumentParser
import ForkctlClient
import ForkctlSys
import ForkctlWire

struct SendFD: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "send-fd",
    abstract: "Pass descriptors of the caller to a process object.",
    discussion: """
      Each SPEC is a descriptor N of the caller, which lands on the lowest number not yet \
      taken in the worker, in the order sent; or TARGET=N, which puts the caller's N on \
      TARGET in the worker.
      """)

  @OptionGroup var client: ClientOptions
  @Argument(help: "The id or name of the process object.") var id: String
  @Argument(help: ArgumentHelp("N or TARGET=N.", valueName: "spec")) var specs: [String]

  static func parse(_ spec: String) -> (fd: Int32, target: FDTarget)? {
    let parts = spec.split(separator: "=", omittingEmptySubsequences: false)
    func number(_ s: Substring) -> Int32? {
      guard let n = Int32(s), n >= 0, n <= maxTargetFD else { return nil }
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

  func validate() throws {
    if specs.isEmpty { throw ValidationError("send-fd needs at least one descriptor") }
    for s in specs where Self.parse(s) == nil {
      throw ValidationError("'\(s)' is not a descriptor N or TARGET=N (0 to \(maxTargetFD))")
    }
  }

  func run() throws {
    let fds = specs.map { Self.parse($0)! }.map { (fd: FileDescriptor(rawValue: $0.fd), target: $0.target) }
    var c = try client.connect()
    try reporting { () throws(ForkctlError) in try c.sendFDs(id, fds) }
  }
}
