// Which descriptors the caller had open before the client opened any of its own. Every
// descriptor a client opens (a signalfd, its working directory, its connection to the
// daemon) takes the lowest free number, which is one the caller left closed; a client that
// looks at its descriptors after that hands its own out as the caller's (issue 10, item 1).
// So forkctl records this first thing, before it opens anything.
import ForkctlSys
import ForkctlWire

/// The descriptors from 0 to `WireLimits.maxTargetFD` (the highest a program can be given)
/// that this process had open at one moment.
public struct OpenDescriptors: Sendable {
  private let open: [Bool]

  /// Records which descriptors are open now.
  public init() {
    open = Sys.openDescriptors(upTo: WireLimits.maxTargetFD)
  }

  /// Records which descriptors are open now, then puts /dev/null (close-on-exec) on each of
  /// 0, 1 and 2 that is closed, so that nothing this process opens later lands there: its
  /// error text would go into whatever took 2 (its daemon connection, say), and a closed
  /// standard descriptor would be passed on as a number it holds for itself. The record
  /// still says closed, so the stand-in is never passed as the caller's. If /dev/null cannot
  /// be opened the number stays free, and is still never passed.
  public static func recordProtectingStandard() -> OpenDescriptors {
    let record = OpenDescriptors()
    for n: Int32 in 0...2 where !record.contains(n) {
      // The lowest free number is n: every number below it is open by now (open(2)).
      _ = try? Sys.open("/dev/null", .readWrite)
    }
    return record
  }

  /// Whether `fd` was open.
  public func contains(_ fd: Int32) -> Bool {
    fd >= 0 && Int(fd) < open.count && open[Int(fd)]
  }

  /// Every number that was open, in order.
  public var numbers: [Int32] {
    open.indices.filter { open[$0] }.map { Int32($0) }
  }

  /// Throws `badDescriptor` ("descriptor N is not open") for the first of `fds` that was not
  /// open.
  public func requireOpen(_ fds: [Int32]) throws(ForkctlError) {
    for n in fds where !contains(n) { throw ForkctlError.notOpen(n) }
  }
}

extension ForkctlError {
  /// Descriptor `n` is not open in this process, or was not when it was recorded.
  static func notOpen(_ n: Int32) -> ForkctlError {
    ForkctlError(.badDescriptor, "descriptor \(n) is not open", underlying: .badFileDescriptor)
  }
}
