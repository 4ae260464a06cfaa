// Issue 13: `pool reload` makes a fresh template the way the pool's template was made
// (forkctl exec, then send-fd, send-arg and load, again), so that a library changed on disk
// runs in the new generation.
import ForkctlSys
import Glibc
import Testing

@Suite("Pools: reload remakes the template, and loads changed code")
struct PoolReloadTests {
  /// Builds Tests/Fixtures/libraries/versioned.c saying `version` into `path`, atomically (a
  /// new file renamed over the old one, as an install does: the running template keeps the
  /// old one mapped).
  func build(_ version: String, to path: String) -> Bool {
    let source = poolFixtures + "/../libraries/versioned.c"
    let include = poolFixtures + "/../../../include"
    let rc = system(
      "cc -shared -fPIC -O1 -Wall -Werror -DVERSION='\"\(version)\"' -I'\(include)' -o '\(path).new' '\(source)' "
        + "&& mv '\(path).new' '\(path)'")
    return rc == 0
  }

  /// Template tpl with the v1 library loaded, and pool "code" of `workers` calling serve,
  /// each of them running (STATUS=v1).
  func codePool(workers: Int) throws -> (PoolLab, library: String) {
    let lab = PoolLab()
    let library = lab.dir + "/libversioned.so"
    try #require(build("v1", to: library))
    lab.world.ok(["load", "tpl", library])
    let made = lab.create("code", ["--start", "\(workers)", "--max", "2", "--call", "serve"], [])
    try #require(made.code == 0, "pool create: \(made.stderr)")
    _ = try #require(
      lab.waitFor("code", "\(workers) workers running v1") { p in
        p.workers.count == workers && p.workers.allSatisfy { $0.status == "v1" }
      })
    return (lab, library)
  }

  @Test("reload: a new template loads the rebuilt library; the new generation runs it, the old template stays")
  func reloadLoadsChangedCode() throws {
    let (lab, library) = try codePool(workers: 2)
    let first = try #require(lab.status("code"))
    let oldTemplate = first.count("template")
    try #require(build("v2", to: library))
    lab.world.ok(["pool", "reload", "code"])
    let second = try #require(
      lab.waitFor("code", "the new generation runs v2, the old one is gone") { p in
        p.generation == 2 && p.workers.count == 2 && p.workers.allSatisfy { $0.status == "v2" && $0.generation == 2 }
      })
    #expect(second.count("template") != oldTemplate)
    // The caller's template is untouched; the pool's own is unnamed.
    let list = lab.world.ok(["list"])
    #expect(list.contains("tpl"), "\(list)")
    #expect(second.history.allSatisfy { $0.reason == "reloaded" })
  }

  @Test("reload whose library no longer loads keeps the generation it has, and says why in events")
  func reloadThatFailsKeepsTheOld() throws {
    let (lab, library) = try codePool(workers: 1)
    let events = try lab.follow("code", max: 2)
    unlink(library)
    lab.world.ok(["pool", "reload", "code"])
    #expect(
      eventually("the failure is told") { events.stdout.contains("reload failed, the pool stays on process") },
      "\(events.stdout)")
    let after = lab.status("code")
    #expect(after?.generation == 1)
    #expect(after?.workers.map(\.status) == ["v1"], "\(String(describing: after?.json))")
    #expect(after?.history.isEmpty == true)
  }
}
