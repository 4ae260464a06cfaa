// A worker that keeps its control socket is fed descriptors and strings for as long as it
// lives (issue 10, item 9): the per-object limits count what is queued to it, not what it
// was ever handed.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Testing

@Suite struct LongLivedWorkerTests {
  /// Reads frames from its control socket, closes every descriptor it gets, and on the
  /// string "done" writes how many descriptors and string bytes it received.
  static let reader =
    controlSocketReader + """
      fds_seen, string_bytes = 0, 0
      while True:
          kind, data, fds = frame()
          fds_seen += len(fds)
          for f in fds:
              os.close(f)
          if kind == 0x82:
              words = strings(data)
              if words == [b"done"]:
                  break
              string_bytes += sum(len(w) for w in words)
      os.write(1, ("%d %d\\n" % (fds_seen, string_bytes)).encode())
      """

  @Test(
    """
    a keep-control worker takes far more descriptors and string bytes, in all, than the \
    per-object limits, once each hand-off has been delivered
    """
  )
  func feedsForEver() throws {
    let w = World()
    let script = w.dir + "/reader.py"
    writeFile(script, Self.reader)
    let client = ForkctlClient(socketPath: w.socket, daemonExecutable: forkctlBinary)
    let out = try Sys.open(w.dir + "/reader.out", .writeOnly, options: [.create, .truncate])
    defer { out.closeQuietly() }
    let (id, _) = try client.new()
    try client.sendFDs(String(id), [(out, 1)])
    _ = try client.run(
      String(id), RunSpec(program: Array("python3".utf8), arguments: [Array(script.utf8)], keepControl: true))
    // 600 descriptors against a limit of 256, and 2 MiB of strings against 1 MiB; each is
    // retried while it is still queued (the reader is slower than the sender).
    let (r, wr) = try Sys.pipe()
    defer {
      r.closeQuietly()
      wr.closeQuietly()
    }
    let chunk = [UInt8](repeating: 0x78, count: 64 * 1024)
    var refusedWhileQueued = 0
    for i in 0..<600 {
      while true {
        do {
          if i < 32 { try client.sendArguments(String(id), [chunk]) }
          try client.sendFDs(String(id), [(r, nil)])
          break
        } catch {
          try #require(error.refusal == .limitReached, "hand-off \(i): \(error)")
          refusedWhileQueued += 1
          try #require(refusedWhileQueued < 100_000, "the queue never drained")
        }
      }
    }
    try client.sendArguments(String(id), [Array("done".utf8)])
    let status = try client.wait([String(id)])
    #expect(status.first?.status == .exited(0))
    #expect(readFile(w.dir + "/reader.out") == "600 \(32 * 64 * 1024)\n")
    try? client.shutdown()
  }
}
