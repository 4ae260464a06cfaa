// What differs from exec in a function worker (include/forkctl.h, forkctl(1) FUNCTION
// WORKERS), with a real library (Tests/Fixtures/libraries/lifecycle.c): how a worker ends,
// what the init buffered or opened, a thread that ends just after the init, and
// pthread_self() in a worker.
import Glibc
import Testing

private let lifecycleLibrary = buildLibrary("lifecycle")

/// The CPUs process `pid` may run on (Cpus_allowed_list of /proc/PID/status, proc(5)).
private func allowedCPUs(_ pid: Int32) -> String {
  for line in readFile("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
    return String(line.dropFirst("Cpus_allowed_list:".count).filter { $0 != "\t" && $0 != " " })
  }
  return "?"
}

/// A pin can change nothing on a machine where this process may use a single CPU.
private let severalCPUs = allowedCPUs(getpid()).contains { $0 == "-" || $0 == "," }

@Suite struct FunctionWorkerLifecycleTests {
  func library() throws -> String { try #require(lifecycleLibrary, "the test library did not build") }

  /// Makes the template `t` in `w` and loads the library into it, its init given
  /// `arguments`; returns the template's id.
  @discardableResult
  func loadTemplate(_ w: World, _ arguments: [String] = []) throws -> String {
    let id = w.ok(["exec", "--name", "t"])
    let load = w.run(["load", "t", try library(), "--"] + arguments)
    #expect(load.code == 0 && load.stderr == "", "\(load.stderr)")
    return id
  }

  @Test("a worker ends with exit(3), so its stdio buffer and atexit handlers reach stdout; --quick-exit drops both")
  func exitAndQuickExit() throws {
    let w = World()
    try loadTemplate(w)
    let normal = w.run(["spawn", "--from", "t", "--call", "buffered"])
    #expect(normal.code == 3 && normal.stdout == "buffered atexit", "\(normal.stderr)")
    let quick = w.run(["spawn", "--quick-exit", "--from", "t", "--call", "buffered"])
    #expect(quick.code == 3 && quick.stdout == "", "\(quick.stderr)")
    let called = w.script(
      """
      a=$($F fork t) && b=$($F fork t) || exit 90
      $F send-fd "$a" 1=1 && $F send-fd "$b" 1=1 || exit 91
      $F call --wait "$a" -- buffered; echo " $?"
      $F call --wait --quick-exit "$b" -- buffered; echo "$?"
      """)
    #expect(called.stdout == "buffered atexit 3\n3\n", "\(called.stderr)")
  }

  @Test("what the init left in a stdio buffer is written once, not once by every worker")
  func initBufferFlushedBeforeFork() throws {
    let w = World()
    let log = w.dir + "/log"
    try loadTemplate(w, ["log=" + log])
    for _ in 0..<3 { #expect(w.run(["spawn", "--from", "t", "--call", "answer"]).code == 42) }
    let w2 = w.ok(["fork", "t"])
    #expect(w.run(["call", "--wait", w2, "--", "answer"]).code == 42)
    #expect(readFile(log) == "init\n")
  }

  @Test("a descriptor the init opened stays open in a worker, and one sent to its number replaces it")
  func initDescriptors() throws {
    let w = World()
    let dir = w.dir
    writeFile(dir + "/opened-by-init", "")
    writeFile(dir + "/sent", "")
    try loadTemplate(w, ["fd=7:" + dir + "/opened-by-init"])
    let kept = w.run(["spawn", "--from", "t", "--call", "describe_fd", "--", "7"])
    #expect(kept.code == 0 && kept.stdout == dir + "/opened-by-init\n", "\(kept.stderr)")
    let replaced = w.script(
      """
      w=$($F fork t) || exit 90
      $F send-fd "$w" 1=1 7=0 < '\(dir)/sent' || exit 91
      exec $F call --wait "$w" -- describe_fd 7
      """)
    #expect(replaced.code == 0 && replaced.stdout == dir + "/sent\n", "\(replaced.stderr)")
  }

  @Test("a thread the init started that ends within the grace leaves a template that forks")
  func threadEndingWithinGrace() throws {
    // 30 ms: after the init returns, well within the 100 ms a template waits for threads.
    let w = World()
    try loadTemplate(w, ["thread=30"])
    #expect(w.run(["spawn", "--from", "t", "--call", "answer"]).code == 42)
    let worker = w.ok(["fork", "t"])
    #expect(w.run(["call", "--wait", worker, "--", "answer"]).code == 42)
  }

  @Test(
    "pthread_setaffinity_np(pthread_self()) in a worker pins the worker, not its template",
    .enabled(if: severalCPUs, "this process may run on one CPU only"))
  func affinityIsTheWorkers() throws {
    let w = World()
    let template = w.pid(of: try loadTemplate(w))
    let before = allowedCPUs(template)
    let pinned = w.run(["spawn", "--from", "t", "--call", "pin"])
    #expect(pinned.code == 0 && pinned.stdout == "1\n", "\(pinned.stderr)")
    #expect(allowedCPUs(template) == before)
  }
}
