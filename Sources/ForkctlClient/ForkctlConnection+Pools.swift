// Pools: workers a daemon keeps running and regulates by what they report (forkctl(1) pool).
import ForkctlSys
import ForkctlWire

extension ForkctlConnection {
  /// Makes a pool; returns once it exists (its workers start in the background). A worker
  /// pool's run spec needs its environment (`Inherited.environment()` gives the caller's).
  public mutating func createPool(_ spec: PoolSpec) throws(ForkctlError) {
    try expectOK(.pool(.create(spec)))
  }

  /// The pool named, or with nil every pool.
  public mutating func poolStatus(_ name: String? = nil) throws(ForkctlError) -> [PoolSummary] {
    let reply = try request(.pool(.status(name: Array((name ?? "").utf8))))
    guard case .pools(let list) = reply else { throw unexpected(reply) }
    return list
  }

  /// Changes a pool's sizes, or its target by `resize.delta` workers.
  public mutating func resizePool(_ name: String, _ resize: PoolResize) throws(ForkctlError) {
    try expectOK(.pool(.resize(name: Array(name.utf8), resize)))
  }

  /// Starts a new generation of workers from `from` (nil: the same template); the old ones
  /// are stopped as they go idle.
  public mutating func reloadPool(_ name: String, from: String? = nil) throws(ForkctlError) {
    try expectOK(.pool(.reload(name: Array(name.utf8), from: Array((from ?? "").utf8))))
  }

  /// Stops every worker of the pool (with `graceful`, a busy one once it says IDLE=1) and
  /// returns the pool's last summary once all have exited. Not bounded by the timeout: a
  /// graceful stop lasts as long as the requests being served.
  public mutating func stopPool(_ name: String, graceful: Bool = false) throws(ForkctlError) -> PoolSummary? {
    try send(.pool(.stop(name: Array(name.utf8), graceful: graceful)))
    let reply = try receiveReply(bounded: false).reply
    guard case .pools(let list) = reply else { throw unexpected(reply) }
    return list.first
  }

  /// Follows a pool's events: `each` gets every event line (JSON) until the pool is gone.
  public mutating func followPool(_ name: String, _ each: ([UInt8]) -> Void) throws(ForkctlError) {
    try send(.pool(.events(name: Array(name.utf8))))
    while true {
      let reply = try receiveReply(bounded: false).reply
      switch reply {
      case .poolEvent(let line): each(line)
      case .ok: return
      default: throw unexpected(reply)
      }
    }
  }

  private mutating func expectOK(_ r: Request) throws(ForkctlError) {
    let reply = try request(r)
    guard case .ok = reply else { throw unexpected(reply) }
  }
}
