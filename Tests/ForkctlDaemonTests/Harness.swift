import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

typealias TestSupervisor = Supervisor<RecordingEffects>

let daemonPID: Int32 = 42

func makeSupervisor(_ configure: (inout SupervisorLimits) -> Void = { _ in }) -> TestSupervisor {
  var limits = SupervisorLimits()
  configure(&limits)
  return Supervisor(effects: RecordingEffects(), limits: limits, daemonPID: daemonPID)
}

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A process object reference by decimal id.
func ref(_ id: UInt64) -> [UInt8] { b(String(id)) }

extension Reply {
  /// The error code of a failure reply, nil for anything else.
  var failureCode: ErrorCode? {
    if case .failure(let code, _) = self { return code }
    return nil
  }

  var failureMessage: String? {
    if case .failure(_, let m) = self { return String(decoding: m, as: UTF8.self) }
    return nil
  }
}

extension Supervisor where Effects == RecordingEffects {
  /// Handles one request and returns the replies it produced at once for that client.
  @discardableResult
  mutating func request(_ r: Request, fds: [FileDescriptor] = [], client: ClientID = 1) -> [Reply] {
    let before = effects.replies[client]?.count ?? 0
    handle(r, fds: fds, from: client)
    return Array((effects.replies[client] ?? []).dropFirst(before))
  }

  /// All replies a client has had so far.
  func replies(_ client: ClientID) -> [Reply] { effects.replies[client] ?? [] }

  /// `n` fresh fake descriptors, as if they came with a request.
  mutating func fds(_ n: Int) -> [FileDescriptor] { (0..<n).map { _ in effects.makeFD() } }

  /// `exec`: a template of the caller's own, created at once.
  mutating func execTemplate(_ name: String = "", client: ClientID = 1) throws -> (id: UInt64, pid: Int32) {
    let r = request(.exec(name: b(name)), client: client)
    guard r.count == 1, case .created(let id, let pid, _) = r[0] else {
      throw HarnessError("exec \(name) replied \(r)")
    }
    return (id, pid)
  }

  /// `exec` of a language host that then says hostReady, as a host does once it serves: the
  /// replies to the exec (its `created`, which waits for hostReady).
  @discardableResult
  mutating func execHost(_ name: [UInt8], _ host: HostSpec, client: ClientID = 1) -> [Reply] {
    let before = effects.replies[client]?.count ?? 0
    handle(.exec(name: name, host: host), fds: [], from: client)
    if let id = registry.resolve(name) { handle(.hostReady, from: id) }
    return Array((effects.replies[client] ?? []).dropFirst(before))
  }

  /// `new` followed by the default template's fork report: a ready worker.
  mutating func newWorker(_ name: String = "", pid: Int32, client: ClientID = 1) throws -> UInt64 {
    try forkWorker(from: nil, name, pid: pid, client: client)
  }

  /// `fork` (or `new` when `parent` is nil) followed by the parent's fork report.
  mutating func forkWorker(from parent: UInt64?, _ name: String = "", pid: Int32, client: ClientID = 1) throws
    -> UInt64
  {
    let r =
      parent.map { request(.fork(ref: ref($0), name: b(name)), client: client) }
      ?? request(.new(name: b(name)), client: client)
    guard r.isEmpty else { throw HarnessError("fork/new replied before the fork report: \(r)") }
    let template = parent ?? defaultTemplate!
    guard case .fork(let child) = effects.commands(to: template).last else {
      throw HarnessError("no fork command sent to \(template)")
    }
    handle(.forked(pid: pid), from: template)
    guard replies(client).last == .created(id: child, pid: pid) else {
      throw HarnessError("fork report for \(child) gave \(replies(client))")
    }
    return child
  }

  /// The listing entry of `id`.
  func info(_ id: UInt64) -> ProcessEntry? { listing().first { $0.id == id } }
}

struct HarnessError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

/// The events, as the tests drive them one by one.
extension Supervisor {
  mutating func handle(_ request: Request, fds: [FileDescriptor], from client: ClientID) {
    handle(.request(request, fds: fds, from: client))
  }
  mutating func handle(_ report: Report, from id: UInt64) { handle(.report(report, from: id)) }
  mutating func statusPipeResult(_ id: UInt64, failure: Errno?) { handle(.execOutcome(id, failure: failure)) }
  mutating func controlClosed(_ id: UInt64) { handle(.controlClosed(id)) }
  mutating func childExited(pid: Int32, status: ForkctlWire.ExitStatus) {
    handle(.childExited(pid: pid, status: status))
  }
  mutating func clientConnected(_ client: ClientID, uid: UInt32) { handle(.clientConnected(client, uid: uid)) }
  mutating func clientGone(_ client: ClientID, repliesUnread: Bool = false) {
    handle(.clientGone(client, repliesUnread: repliesUnread))
  }
  mutating func deadlinesPassed(now: Int64) { handle(.tick(now: now)) }
  mutating func closeAllControls() { handle(.stopping) }
}
