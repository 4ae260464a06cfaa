// What a pool worker says (sd_notify(3)'s words), applied to its record in one pass over the
// datagram: no allocation for the words the pool knows, as a busy pool hears two per request.
import ForkctlWire

/// What a message asks of the supervisor beyond the worker's own record.
struct Heard {
  /// It said READY=1 or IDLE=1 last: it may retire now, or stop (`stop`).
  var idle = false
  /// It was told to go while busy, and is idle now: stopped `because`.
  var stop: PoolDeparture.Reason?
  /// It said STOPPING=1: it leaves, and the pool replaces it.
  var leaving = false
  /// STATUS= texts and unknown lines, in order, for the pool's followers.
  var lines: [(status: Bool, text: [UInt8])] = []
}

extension Pool {
  static let ready = Array("READY=1".utf8)
  static let idle = Array("IDLE=1".utf8)
  static let busy = Array("BUSY=1".utf8)
  static let watchdog = Array("WATCHDOG=1".utf8)
  static let stopping = Array("STOPPING=1".utf8)
  static let status = Array("STATUS=".utf8)
  /// The longest STATUS= text kept for `pool status`.
  static let statusLength = 256

  /// Applies `message`, from worker `id`, at `now`; nil when it is no member.
  mutating func hear(_ message: ArraySlice<UInt8>, from id: UInt64, now: Int64) -> Heard? {
    guard var m = members[id] else { return nil }
    var heard = Heard()
    var start = message.startIndex
    while start < message.endIndex {
      let end = message[start...].firstIndex(of: UInt8(ascii: "\n")) ?? message.endIndex
      let line = message[start..<end]
      start = end + 1
      if line.isEmpty { continue }
      if !m.heardFrom {
        m.heardFrom = true
        quickDeaths = 0
      }
      if line.elementsEqual(Self.busy) {
        requests += 1
        m.requests += 1
        heard.idle = false
        switch m.state {
        case .starting, .idle:
          if let reason = heard.stop {
            // Told to go, idle a moment, busy again in the same datagram: it goes at its next IDLE=1.
            m.state = .finishing(because: reason, since: now)
            heard.stop = nil
          } else {
            m.state = .busy(since: now)
          }
        case .busy, .finishing, .stopping, .leaving: break
        }
      } else if line.elementsEqual(Self.idle) || line.elementsEqual(Self.ready) {
        switch m.state {
        case .starting, .busy:
          m.state = .idle
          heard.idle = true
        case .finishing(let reason, _):
          m.state = .idle
          heard.idle = true
          heard.stop = reason
        case .idle:
          heard.idle = true
        case .stopping, .leaving: break
        }
      } else if line.elementsEqual(Self.watchdog) {
        switch m.state {
        case .busy: m.state = .busy(since: now)
        case .finishing(let reason, _): m.state = .finishing(because: reason, since: now)
        case .starting, .idle, .stopping, .leaving: break
        }
      } else if line.elementsEqual(Self.stopping) {
        if !m.state.isLeaving { m.state = .leaving }
        heard.leaving = true
      } else if line.starts(with: Self.status) {
        m.status = Run.kept(Array(line.dropFirst(Self.status.count)), limit: Self.statusLength)
        heard.lines.append((true, m.status))
      } else {
        heard.lines.append((false, Run.kept(Array(line), limit: 4096)))
      }
    }
    members[id] = m
    return heard
  }
}

extension Supervisor {
  /// A datagram arrived on worker `id`'s notify socket: sd_notify(3) lines, KEY=VALUE. One
  /// on its NOTIFY_SOCKET from another user than the pool's (or root) is ignored.
  mutating func notified(_ id: UInt64, _ message: ArraySlice<UInt8>, sender: UInt32? = nil) {
    guard let name = poolOf[id] else { return }
    if let sender, sender != 0, let owner = pools[name]?.owner, sender != owner { return }
    guard let heard = pools[name]?.hear(message, from: id, now: effects.now()) else { return }
    if pools[name]?.subscribers.isEmpty == false {
      for (status, text) in heard.lines {
        poolEvent(name, status ? "status" : "data", ["\"id\":\(id)", "\"line\":\(JSONText.quote(text))"])
      }
    }
    if let reason = heard.stop {
      stopMember(name, id, reason, graceful: true)
    } else if heard.idle, pools[name]?.members[id]?.spent == true {
      retireOne(name)
    }
    if heard.leaving { converge(name) }
  }
}
