// Memory and mappings of process objects through the shared client (forkctl(1) mem, audit).
import ForkctlSys
import ForkctlWire

extension ForkctlClient {
  /// The memory of each process object in `refs`; none named: of every one this user made.
  public func memory(_ refs: [String] = []) throws(ForkctlError) -> [MemoryEntry] {
    try withConnection { (c) throws(ForkctlError) in try c.memory(refs) }
  }

  /// The files process object `ref` maps that its parent did not map when it forked it.
  public func audit(_ ref: String) throws(ForkctlError) -> [[UInt8]] {
    try withConnection { (c) throws(ForkctlError) in try c.audit(ref) }
  }
}
