// The result lines that a measuring forkctl-bench process (big, concurrency, footprint)
// prints on stdout, and their reading by `forkctl-bench table`:
//
//     sample KEY COUNT MICROSECONDS   one timed loop of COUNT launches (one per round)
//     stat KEY NAME VALUE             another number of the same round (p50_us, p99_us)
//     value KEY VALUE                 a number measured once (anon_kb, ...)
import ForkctlSys

enum Report {
  static func line(_ text: String) { write(text + "\n") }

  /// Writes `text` to stdout as it is.
  static func write(_ text: String) {
    do {
      try FileDescriptor.standardOutput.writeFully(Array(text.utf8))
    } catch {
      fail("cannot write to stdout: \(Sys.describe(error))")
    }
  }

  static func sample(_ key: String, count: Int, nanoseconds ns: UInt64) {
    line("sample \(key) \(count) \(ns / 1000)")
  }

  static func stat(_ key: String, _ name: String, _ value: UInt64) { line("stat \(key) \(name) \(value)") }

  static func value(_ key: String, _ value: Int) { line("value \(key) \(value)") }
}

/// The result lines of one measuring process, read back.
struct Results {
  private var loops: [String: (count: Int, microseconds: [UInt64])] = [:]
  private var stats: [String: [UInt64]] = [:]
  private var values: [String: Int] = [:]
  /// Which process printed them, for messages.
  let source: String

  init(_ text: String, from source: String) {
    self.source = source
    for line in text.split(separator: "\n") {
      let w = line.split(separator: " ").map(String.init)
      switch (w.first, w.count) {
      case ("sample", 4):
        guard let count = Int(w[2]), let us = UInt64(w[3]) else { break }
        loops[w[1], default: (count, [])].microseconds.append(us)
        continue
      case ("stat", 4):
        guard let v = UInt64(w[3]) else { break }
        stats[w[1] + " " + w[2], default: []].append(v)
        continue
      case ("value", 3):
        guard let v = Int(w[2]) else { break }
        values[w[1]] = v
        continue
      default: break
      }
      fail("\(source) printed a line that is not a result: '\(line)'")
    }
  }

  /// Whether loops were reported as `key`.
  func has(_ key: String) -> Bool { loops[key] != nil }

  /// The loops reported as `key`, summed up.
  func summary(_ key: String) -> LoopSummary {
    guard let l = loops[key] else { fail("\(source) did not report \(key)") }
    return LoopSummary(count: l.count, microseconds: l.microseconds)
  }

  /// The median over the rounds of the stat `name` of `key`.
  func medianStat(_ key: String, _ name: String) -> Double {
    guard let v = stats[key + " " + name] else { fail("\(source) did not report \(name) of \(key)") }
    return median(v.map { Double($0) })
  }

  func value(_ key: String) -> Int {
    guard let v = values[key] else { fail("\(source) did not report \(key)") }
    return v
  }
}
