// What `pool status` prints: a table for a person, or JSON (forkctl(1) pool).
import ForkctlWire

enum PoolText {
  static func table(_ pools: [PoolSummary]) -> String {
    var out = ""
    for p in pools {
      let counts = count(p)
      var rows = [
        ["POOL", "TEMPLATE", "GEN", "TARGET", "MAX", "IDLE", "BUSY", "STARTING", "STOPPING", "REQUESTS", "RESTARTS"]
      ]
      rows.append(
        [displayed(p.name), String(p.template), String(p.generation), String(p.target), String(p.sizes.max)]
          + PoolWorkerEntry.State.allCases.map { String(counts[$0, default: 0]) }.reordered
          + [String(p.requests), String(p.restarts)])
      out += ListCommand.aligned(rows)
      guard !p.workers.isEmpty else { continue }
      var workers = [["  ID", "PID", "STATE", "REQUESTS", "GEN", "STATUS"]]
      for w in p.workers {
        workers.append([
          "  \(w.id)", w.pid == 0 ? "-" : String(w.pid), w.state.word, String(w.requests), String(w.generation),
          displayed(w.status),
        ])
      }
      out += ListCommand.aligned(workers)
    }
    return out
  }

  /// Workers by state.
  static func count(_ p: PoolSummary) -> [PoolWorkerEntry.State: Int] {
    p.workers.reduce(into: [:]) { $0[$1.state, default: 0] += 1 }
  }

  static func json(_ pools: [PoolSummary]) -> String {
    let items = pools.map { p -> String in
      let counts = count(p)
      let maxIdle = p.sizes.maxIdle == UInt32.max ? "null" : String(p.sizes.maxIdle)
      var fields = [
        "\"name\":\(JSONText.quote(p.name))", "\"kind\":\"\(p.ready ? "ready" : "workers")\"",
        "\"template\":\(p.template)", "\"generation\":\(p.generation)", "\"target\":\(p.target)",
        "\"start\":\(p.sizes.start)", "\"max\":\(p.sizes.max)", "\"min_idle\":\(p.sizes.minIdle)",
        "\"max_idle\":\(maxIdle)",
      ]
      fields += PoolWorkerEntry.State.allCases.map { "\"\($0.word)\":\(counts[$0, default: 0])" }
      fields += ["\"requests\":\(p.requests)", "\"restarts\":\(p.restarts)"]
      let workers = p.workers.map { w in
        "{\"id\":\(w.id),\"pid\":\(w.pid == 0 ? "null" : String(w.pid)),\"state\":\"\(w.state.word)\","
          + "\"requests\":\(w.requests),\"generation\":\(w.generation),\"status\":\(JSONText.quote(w.status))}"
      }
      let history = p.history.map { d in
        "{"
          + (["\"id\":\(d.id)", "\"pid\":\(d.pid)"] + JSONText.statusFields(d.status)
          + ["\"reason\":\"\(d.reason.word)\""]).joined(separator: ",") + "}"
      }
      fields.append("\"workers\":[" + workers.joined(separator: ",") + "]")
      fields.append("\"history\":[" + history.joined(separator: ",") + "]")
      return "{" + fields.joined(separator: ",") + "}"
    }
    return "[" + items.joined(separator: ",") + "]\n"
  }
}

extension Array where Element == String {
  /// Counts in State order (starting, idle, busy, stopping) as the table's columns (idle,
  /// busy, starting, stopping).
  fileprivate var reordered: [String] { [self[1], self[2], self[0], self[3]] }
}
