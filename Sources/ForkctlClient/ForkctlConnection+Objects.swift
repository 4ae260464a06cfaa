// The requests about process objects that exist already: waiting for them, signalling,
// listing, forgetting, and stopping the daemon. Waits for a program's end are not bounded by
// FORKCTL_TIMEOUT; the others are.
import ForkctlSys
import ForkctlWire

extension ForkctlConnection {
  /// Waits until every process object in `refs` has ended; their statuses in order.
  public mutating func wait(_ refs: [String]) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try statuses(.wait(refs: refs.map { Array($0.utf8) }), bounded: false)
  }

  /// `wait`, giving up after `timeoutMilliseconds`: nil then (the connection must then be
  /// closed, as its reply may still come).
  public mutating func wait(
    _ refs: [String], timeoutMilliseconds: Int32
  ) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)]? {
    try statuses(.wait(refs: refs.map { Array($0.utf8) }), timeoutMilliseconds: timeoutMilliseconds)
  }

  /// Waits for every process object of this user that has run a program and whose status
  /// no wait has reported, as they are when the daemon reads the request; their statuses in
  /// ascending id order, none when there is none.
  public mutating func waitAll() throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try statuses(.waitAll, bounded: false)
  }

  /// `waitAll`, giving up after `timeoutMilliseconds`: nil then (the connection must then be
  /// closed, as its reply may still come).
  public mutating func waitAll(timeoutMilliseconds: Int32) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)]? {
    try statuses(.waitAll, timeoutMilliseconds: timeoutMilliseconds)
  }

  private mutating func statuses(
    _ r: Request, timeoutMilliseconds: Int32
  ) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)]? {
    try send(r)
    let ready: [Bool]
    do {
      ready = try Sys.waitReadable([channel.fd], timeoutMilliseconds: timeoutMilliseconds)
    } catch {
      throw ForkctlError(.connectionLost, "cannot wait for the daemon: \(Sys.describe(error))", underlying: error)
    }
    guard ready[0] else { return nil }
    let (reply, fds) = try receiveReply(bounded: false)
    for f in fds { f.closeQuietly() }
    guard case .statuses(let list) = reply else { throw unexpected(reply) }
    return list.map { ($0.id, $0.status) }
  }

  /// Sends `signal` to each process object, or with `group` to the process group it leads.
  public mutating func kill(_ refs: [String], signal: Int32, group: Bool = false) throws(ForkctlError) {
    let reply = try request(.kill(signal: signal, refs: refs.map { Array($0.utf8) }, group: group))
    guard case .ok = reply else { throw unexpected(reply) }
  }

  /// Every process object the daemon knows.
  public mutating func list() throws(ForkctlError) -> [ProcessEntry] {
    let reply = try request(.list)
    guard case .listing(let l) = reply else { throw unexpected(reply) }
    return l
  }

  /// Stops the daemon; with `drain` (shutdown --wait), once the programs whose clients wait
  /// for them have ended, starting nothing new meanwhile. Returns once the daemon has let go
  /// of its socket and pid file.
  public mutating func shutdown(drain: Bool = false) throws(ForkctlError) {
    // A drain lasts as long as the attached programs do: FORKCTL_TIMEOUT does not bound it.
    try send(drain ? .drain : .shutdown)
    let reply = try receiveReply(bounded: !drain).reply
    guard case .ok = reply else { throw unexpected(reply) }
  }

  /// Drops exited process objects that nobody will wait for; what was dropped, with each
  /// status. One that has not exited is refused, and then none is dropped.
  public mutating func forget(_ refs: [String]) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try statuses(.forget(refs: refs.map { Array($0.utf8) }))
  }

  /// Drops every exited process object of this user whose status was never reported; what
  /// was dropped, with each status.
  public mutating func prune() throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try statuses(.prune)
  }

  /// Sends `r` and takes its statuses; `bounded: false` for a request answered only once
  /// programs have ended, which FORKCTL_TIMEOUT must not cut short.
  private mutating func statuses(
    _ r: Request, bounded: Bool = true
  ) throws(ForkctlError) -> [(id: UInt64, status: ExitStatus)] {
    try send(r)
    let (reply, fds) = try receiveReply(bounded: bounded)
    for f in fds { f.closeQuietly() }
    guard case .statuses(let list) = reply else { throw unexpected(reply) }
    return list.map { ($0.id, $0.status) }
  }
}
