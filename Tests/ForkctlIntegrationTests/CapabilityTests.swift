// No capability regained through the daemon (issue 10, item 4): a root client whose
// permitted, effective, inheritable or ambient set is smaller than the daemon's gets a program
// with no more in each set than the same program run directly by it. The clients are made
// with setpriv(1); the daemon is started first, unconfined, as root.
import Glibc
import Testing

/// The five capability sets of /proc/self/status, by name, from `grep Cap` output.
private func capabilitySets(_ text: String) -> [String: UInt64] {
  var sets: [String: UInt64] = [:]
  for line in text.split(separator: "\n") {
    let f = line.split(whereSeparator: { $0 == ":" || $0 == "\t" })
    if f.count == 2, let bits = UInt64(f[1], radix: 16) { sets[String(f[0])] = bits }
  }
  return sets
}

@Suite struct CapabilityTests {
  /// A client held by setpriv, and the daemon's start-up under `daemonPrefix`.
  struct Case: CustomStringConvertible, Sendable {
    var description: String
    var daemonPrefix = ""
    var clientPrefix = ""
  }

  static let cases = [
    Case(
      description: "SECBIT_NOROOT with only CAP_NET_RAW permitted, effective and ambient, and two inheritable",
      clientPrefix:
        "setpriv --securebits=+noroot,+noroot_locked --inh-caps=-all,+net_raw,+chown --ambient-caps=+net_raw"),
    Case(
      description: "SECBIT_NOROOT and no capability at all",
      clientPrefix: "setpriv --securebits=+noroot --inh-caps=-all"),
    Case(
      description: "a daemon with an ambient and inheritable CAP_NET_RAW, a client with neither",
      daemonPrefix: "setpriv --inh-caps=+net_raw --ambient-caps=+net_raw"),
  ]

  @Test(
    "a client with smaller capability sets than the daemon's gets a program with no more in each set than its own",
    arguments: cases)
  func noSetLargerThanTheClients(_ c: Case) throws {
    try #require(getuid() == 0, "setpriv of capabilities needs root: run the tests as root (CI does)")
    try requireProgram(setprivBinary, package: "util-linux")
    let w = World()
    let start = w.script("exec \(c.daemonPrefix) $F list")
    try #require(start.code == 0, "\(start.stderr)")
    let daemon = capabilitySets(readFile("/proc/\(w.daemonPID)/status"))
    let direct = w.script("\(c.clientPrefix) grep ^Cap /proc/self/status")
    let spawned = w.script("\(c.clientPrefix) $F spawn -- grep ^Cap /proc/self/status")
    #expect(spawned.code == 0, "\(spawned.stderr)")
    let mine = capabilitySets(direct.stdout)
    let program = capabilitySets(spawned.stdout)
    try #require(mine.count == 5 && program.count == 5, "direct \(direct.stdout), spawned \(spawned.stdout)")
    // The case is one where the client has less than the daemon in some set.
    #expect(mine.contains { name, bits in (daemon[name] ?? 0) & ~bits != 0 }, "\(mine) \(daemon)")
    for (name, bits) in program.sorted(by: { $0.key < $1.key }) {
      let own = mine[name] ?? 0
      #expect(
        bits & ~own == 0,
        "\(c): \(name): the program has \(String(bits, radix: 16)), the client \(String(own, radix: 16))")
    }
  }
}
