// The lifecycle of exited process objects and of the daemon itself, seen from the CLI:
// forget, prune, wait --all, run --detach, and shutdown (issue 10 items 10 and 11, issue 11
// items 5 and 16).
import ForkctlSys
import Glibc
import Testing

/// Waits until `list` shows `id` exited.
private func exited(_ w: World, _ id: String) -> Bool {
  eventually("\(id) exited") { w.entries().contains { String($0.id) == id && $0.state == "exited" } }
}

@Suite struct LifecycleTests {
  @Test("forget drops an exited object from list, and refuses one that has not exited with 125")
  func forgetDropsExited() {
    let w = World()
    let done = w.ok(["new"])
    let live = w.ok(["new"])
    w.ok(["run", done, "true"])
    #expect(exited(w, done))
    let refused = w.run(["forget", done, live])
    #expect(refused.code == 125)
    #expect(refused.stderr.contains("cannot forget process \(live): it has not exited"), "\(refused.stderr)")
    #expect(w.entries().contains { String($0.id) == done }, "nothing is dropped when one is refused")
    #expect(w.ok(["forget", done]) == "")
    #expect(!w.entries().contains { String($0.id) == done })
    w.ok(["kill", live])
    w.ok(["shutdown"])
  }

  @Test("prune drops every exited object nobody waited for and prints how many")
  func pruneDropsUnreported() {
    let w = World()
    let ids = (0..<3).map { _ in w.ok(["new"]) }
    for id in ids { w.ok(["run", id, "sh", "-c", "exit 4"]) }
    for id in ids { #expect(exited(w, id)) }
    #expect(w.ok(["prune"]) == "3")
    #expect(w.entries().allSatisfy { $0.state != "exited" }, "\(w.entries())")
    #expect(w.ok(["prune"]) == "0")
    w.ok(["shutdown"])
  }

  @Test("wait --all waits for every job that ran and was not waited for, and prints them in id order")
  func waitAllWaitsForRunJobs() {
    let w = World()
    let early = w.ok(["new"])
    let late = w.ok(["new"])
    let unrun = w.ok(["new"])
    w.ok(["run", early, "sh", "-c", "exit 3"])
    #expect(exited(w, early))
    w.ok(["run", late, "sh", "-c", "sleep 0.3; exit 5"])
    let r = w.run(["wait", "--all", "--print"])
    #expect(r.code == 5, "\(r.stderr)")
    #expect(r.stdout == "\(early) 3\n\(late) 5\n")
    let again = w.run(["wait", "--all", "--print"])
    #expect(again.code == 0 && again.stdout == "", "\(again.stdout)\(again.stderr)")
    #expect(w.run(["wait", "--all", unrun]).code == 125)
    w.ok(["kill", unrun])
    w.ok(["shutdown"])
  }
}
