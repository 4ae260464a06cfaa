// Issue 13 with real processes: a ready pool's members are forked before the request that
// takes them (the pid a spawn that forks, a fork or a new gets is one `pool status` listed
// beforehand), and a load into the template replaces them.
import Glibc
import Testing

@Suite struct ReadyPoolTests {
  /// The pids of the members `pool status --json NAME` lists now (its history left out).
  func memberPIDs(_ w: World, _ pool: String) -> Set<Int32> {
    let json = w.ok(["pool", "status", "--json", pool])
    guard let start = json.firstRange(of: "\"workers\":["), let end = json.firstRange(of: "],\"history\"") else {
      return []
    }
    var pids = Set<Int32>()
    for field in json[start.upperBound..<end.lowerBound].split(separator: ",") where field.hasPrefix("\"pid\":") {
      if let pid = Int32(field.dropFirst(6)) { pids.insert(pid) }
    }
    return pids
  }

  /// Waits until pool `name` lists `count` born members; their pids.
  func born(_ w: World, _ pool: String, _ count: Int) -> Set<Int32> {
    var pids = Set<Int32>()
    _ = eventually("\(count) members of \(pool) born") {
      pids = memberPIDs(w, pool)
      return pids.count == count
    }
    return pids
  }

  @Test(
    """
    spawn and fork from a template with a ready pool get a process forked before the request; \
    a load replaces the members
    """
  )
  func spawnAndForkTakeMembers() throws {
    let lib = try #require(workerLibrary, "the test library did not build")
    let w = World()
    w.ok(["exec", "--name", "t"])
    w.ok(["pool", "create", "--ready", "r", "--from", "t", "--min", "1", "--max", "3"])
    let first = born(w, "r", 3)
    #expect(first.count == 3)
    // A spawn that forks (--keep-control here; --call too) takes a member.
    let spawned = Int32(w.ok(["spawn", "--from", "t", "--keep-control", "--", "sh", "-c", "echo $$"])) ?? 0
    #expect(first.contains(spawned), "spawn ran in pid \(spawned), not one of the members \(first)")
    let forked = w.ok(["fork", "t"])
    let forkedPID = w.pid(of: forked)
    #expect(first.contains(forkedPID) && forkedPID != spawned)
    let left = first.subtracting([spawned, forkedPID])
    #expect(memberPIDs(w, "r") == left)

    w.ok(["load", "t", lib])
    let second = born(w, "r", 3)
    #expect(second.count == 3)
    #expect(second.isDisjoint(with: first))
    #expect(eventually("the old member \(left) exits") { left.allSatisfy { !isAlive($0) } })
    // A member forked after the load holds the library: a call in it runs.
    let called = w.ok(["fork", "t"])
    #expect(second.contains(w.pid(of: called)))
    let r = w.run(["call", "--wait", called, "--", "answer"])
    #expect(r.code == 42, "call in a member after the load: \(r.stderr)")

    w.ok(["pool", "stop", "r"])
    #expect(w.run(["pool", "status", "r"]).code != 0)
    #expect(eventually("the members end") { second.subtracting([w.pid(of: called)]).allSatisfy { !isAlive($0) } })
  }

  @Test("new gets a member of a ready pool of the default template")
  func newTakesMember() throws {
    let w = World()
    w.ok(["pool", "create", "--ready", "d", "--max", "2"])
    let members = born(w, "d", 2)
    let id = w.ok(["new", "--name", "n"])
    #expect(members.contains(w.pid(of: id)))
    // The usual spawn of a program keeps the template's vfork path.
    let spawned = Int32(w.ok(["spawn", "--", "sh", "-c", "echo $$"])) ?? 0
    #expect(spawned > 0 && !members.contains(spawned))
    #expect(memberPIDs(w, "d") == members.subtracting([w.pid(of: id)]))
  }

  @Test("pool create --ready refuses a PROGRAM, worker options and a --min out of range")
  func usage() throws {
    let w = World()
    #expect(w.run(["pool", "create", "--ready", "r", "--", "/bin/true"]).code == 64)
    #expect(w.run(["pool", "create", "--ready", "r", "--max-requests", "3"]).code == 64)
    #expect(w.run(["pool", "create", "--ready", "r", "--min", "5", "--max", "2"]).code == 64)
    #expect(w.run(["pool", "create", "r", "--min", "1", "--", "/bin/true"]).code == 64)
  }
}
