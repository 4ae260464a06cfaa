// What process objects cost and what they loaded: their memory as the kernel counts it, and
// the files a worker maps that its template did not (forkctl(1) mem, audit).
import ForkctlSys
import ForkctlWire

extension ForkctlConnection {
  /// The memory of each process object in `refs`, read by the daemon from /proc now; none
  /// named: of every process object this user made, by id.
  public mutating func memory(_ refs: [String] = []) throws(ForkctlError) -> [MemoryEntry] {
    let reply = try request(.memory(refs: refs.map { Array($0.utf8) }))
    guard case .memory(let entries) = reply else { throw unexpected(reply) }
    return entries
  }

  /// The paths of the files process object `ref` maps that its parent did not map when it
  /// forked it, in byte order. Refused for a template and for a process that exec'd.
  public mutating func audit(_ ref: String) throws(ForkctlError) -> [[UInt8]] {
    try auditReport(ref).paths
  }

  /// `audit`'s paths, and the modules a worker of a language host imported after its fork, in
  /// order (none for any other process object).
  public mutating func auditReport(_ ref: String) throws(ForkctlError) -> (paths: [[UInt8]], modules: [[UInt8]]) {
    let reply = try request(.audit(ref: Array(ref.utf8)))
    guard case .mappings(let paths, let modules) = reply else { throw unexpected(reply) }
    return (paths, modules)
  }
}
