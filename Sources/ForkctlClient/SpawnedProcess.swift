// A program a ForkctlClient spawned: its status, and signals for it, from any thread.
import ForkctlSys
import ForkctlWire
import Synchronization

/// A program started by `ForkctlClient.spawn`, attached to the connection that started it.
/// `wait()` and `signal(_:)` may be called from different threads.
public final class SpawnedProcess: Sendable {
  /// The process object's id in the daemon.
  public let id: UInt64
  public let pid: Int32
  /// A pidfd of the program (pidfd_open(2)), yours to poll and to close; nil on kernels
  /// without pidfds. It refers to this program even after the daemon has reaped it.
  public let pidfd: FileDescriptor?
  private let socket: FileDescriptor
  private let state: Mutex<State>
  /// Its connection has gone back to the pool (after the status): no more signal frames.
  private let released = Mutex(false)
  private let owner: ForkctlClient

  private struct State: ~Copyable {
    var connection: ForkctlConnection?
    var status: ExitStatus?
  }

  init(connection: consuming ForkctlConnection, id: UInt64, pid: Int32, pidfd: FileDescriptor?, owner: ForkctlClient) {
    self.id = id
    self.pid = pid
    self.pidfd = pidfd
    self.owner = owner
    socket = connection.descriptor
    state = Mutex(State(connection: .some(connection), status: nil))
  }

  /// Waits for the program to end and returns its status (the same status on every later
  /// call).
  public func wait() throws(ForkctlError) -> ExitStatus {
    try state.withLock { (s) throws(ForkctlError) -> ExitStatus in
      if let status = s.status { return status }
      guard var c = s.connection.take() else {
        throw ForkctlError(.connectionLost, "the connection of process \(id) was lost")
      }
      let result: Result<ExitStatus, ForkctlError>
      do throws(ForkctlError) {
        result = .success(try c.awaitStatus(forwarding: nil))
      } catch {
        result = .failure(error)
      }
      switch result {
      case .success(let status):
        s.status = status
        // The connection is between requests again: back to the pool, once no `signal`
        // can write to it any more.
        released.withLock { $0 = true }
        owner.checkIn(c)
        return status
      case .failure(let error):
        // Kept open for the object's life, so `signal` never writes to a reused descriptor.
        s.connection = .some(consume c)
        throw error
      }
    }
  }

  /// Sends `signal` to the program's process group (ignored once it has ended).
  public func signal(_ signal: Int32) throws(ForkctlError) {
    let result = released.withLock { done -> Result<Void, ForkctlError> in
      if done { return .success(()) }
      do throws(ForkctlError) {
        try ForkctlConnection.forward(signal, on: socket)
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
  }
}
