// Group "footprint": anonymous memory (see anonymousKB) of a daemon and its default
// template at rest, with --workers live sleeping workers, and after those are gone; and
// what each of those workers cost the daemon. `forkctl-bench table` gives it a daemon of
// its own (a fresh socket), which it starts and shuts down.
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc

enum Footprint {
  static func run(_ o: Options) {
    let client = o.client()
    // At rest: the daemon has started, forked one worker from the default template, and
    // reaped it.
    client.spawnAndWait("/bin/true")
    let daemon = daemonPID(o.socket)
    let template = defaultTemplatePID(client)
    settle(client)
    let daemonRest = measure("the daemon at rest", daemon)
    let templateRest = measure("the default template at rest", template)
    Report.value("daemon_rest_kb", daemonRest)
    Report.value("template_rest_kb", templateRest)

    progress("footprint: starting \(o.workers) sleeping workers")
    var refs: [String] = []
    refs.reserveCapacity(o.workers)
    for _ in 0..<o.workers {
      do {
        // Detached, and the returned object dropped at once: the worker is a live process
        // object of the daemon's with no client connection attached to it. /dev/null on
        // its 0, 1 and 2.
        let p = try client.spawn(
          program: Array("/bin/sleep".utf8), arguments: [Array("1000".utf8)], fds: [], detach: true)
        p.pidfd?.closeQuietly()
        refs.append(String(p.id))
      } catch {
        cleanUp(client, refs)
        fail("ForkctlClient spawn /bin/sleep 1000 (worker \(refs.count + 1)): \(error)")
      }
    }
    settle(client)
    let daemonBusy = measure("the daemon with \(o.workers) workers", daemon)
    Report.value("daemon_busy_kb", daemonBusy)
    Report.value("template_busy_kb", measure("the default template with \(o.workers) workers", template))
    Report.value("mem_all_us", timeMemory(client, refs))
    let running: Int
    do {
      running = try client.list().filter { $0.role == .forked && $0.state == .running }.count
    } catch {
      cleanUp(client, refs)
      fail("ForkctlClient list: \(error)")
    }
    cleanUp(client, refs)
    if running != o.workers { fail("\(running) workers were running, not \(o.workers)") }
    settle(client)
    Report.value("daemon_after_kb", measure("the daemon after its workers ended", daemon))
    do { try client.shutdown() } catch { fail("ForkctlClient shutdown: \(error)") }
    let perObject = (daemonBusy - daemonRest) * 1024 / o.workers
    if perObject < leastBytesPerObject {
      fail(
        "the daemon grew by \(perObject) B per process object, below the least it can be "
          + "(\(leastBytesPerObject) B): not measured right")
    }
    Report.value("daemon_bytes_per_object", perObject)
  }

  /// The median of five `memory` requests over every live worker (the daemon reads each
  /// one's smaps_rollup), in microseconds: what `forkctl mem` costs the daemon.
  static func timeMemory(_ client: ForkctlClient, _ refs: [String]) -> Int {
    var times: [UInt64] = []
    for _ in 0..<5 {
      let t0 = nanoseconds()
      let entries: [MemoryEntry]
      do {
        entries = try client.memory()
      } catch {
        cleanUp(client, refs)
        fail("ForkctlClient memory: \(error)")
      }
      times.append(nanoseconds() - t0)
      let measured = entries.filter { if case .measured = $0.reading { true } else { false } }.count
      if measured < refs.count {
        cleanUp(client, refs)
        fail("memory measured \(measured) process objects, not the \(refs.count) live workers")
      }
    }
    return Int(times.sorted()[times.count / 2] / 1000)
  }

  /// The least a live process object can cost the daemon, in bytes: its record alone (a
  /// dozen fields in a dictionary slot, plus its entries by id and by pid) is larger. About
  /// 950 B were measured; a figure below this one (zero, negative) is a measuring error.
  static let leastBytesPerObject = 64

  static func measure(_ what: String, _ pid: Int32) -> Int {
    let kb = anonymousKB(of: pid)
    checkPlausible(what, kb: kb)
    return kb
  }

  /// Lets the daemon finish with the connections we closed (a request round trip comes
  /// after them), so that its memory is read at rest.
  static func settle(_ client: ForkctlClient) {
    usleep(200_000)
    _ = try? client.wait([])
  }

  static func cleanUp(_ client: ForkctlClient, _ refs: [String]) {
    guard !refs.isEmpty else { return }
    do {
      try client.kill(refs, signal: SIGKILL)
      _ = try client.wait(refs)
    } catch {
      fail("cannot kill and wait for the \(refs.count) sleeping workers: \(error)")
    }
  }

  /// The daemon's pid, from the pidfile it holds beside its socket.
  static func daemonPID(_ socket: String) -> Int32 {
    let path = socket + ".pid"
    let text = readFile(path)
    guard let pid = Int32(text.split(separator: "\n").first ?? "") else {
      fail("\(path) holds no pid: '\(text)'")
    }
    return pid
  }

  static func defaultTemplatePID(_ client: ForkctlClient) -> Int32 {
    do {
      guard let t = try client.list().first(where: { $0.role == .defaultTemplate }) else {
        fail("the daemon lists no default template")
      }
      return t.pid
    } catch {
      fail("ForkctlClient list: \(error)")
    }
  }
}
