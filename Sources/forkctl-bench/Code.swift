// The measuring side of Scripts/bench's code groups (issue 12): a library loaded into a
// template (Scripts/bench.d/library.c, built by Scripts/bench as --library), its functions
// called in workers.
//
//   forkctl-bench sharing      a template whose init builds --share-mb of data, 16 workers
//                              forked from it each reading all of it, against 16
//                              independent processes (bench-host, --host) each building
//                              the same data: proportional memory (PSS) of each side
//   forkctl-bench loop fork-call | spawn-call
//                              forkctl's side of the function-worker group
import ForkctlClient
import ForkctlSys
import ForkctlWire
import Glibc

/// A template of its own (`exec`) that loaded the bench's library, killed at the end.
struct CodeTemplate {
  let client: ForkctlClient
  let ref: String
  let pid: Int32

  /// `forkctl exec`, then `forkctl load ID LIBRARY -- ARGS`: forkctl_init runs once.
  init(_ client: ForkctlClient, library: String, _ arguments: [String] = []) {
    if library.isEmpty { fail("the code groups need --library PATH (Scripts/bench builds it)") }
    self.client = client
    do {
      let t = try client.exec()
      (ref, pid) = (String(t.id), t.pid)
      let census = try client.load(ref, library: library, arguments)
      if census.names.count != 1 {
        fail("the template of \(library) has \(census.names.count) threads after its init")
      }
    } catch {
      fail("cannot load \(library) into a template: \(error)")
    }
  }

  func end() {
    do {
      try client.kill([ref], signal: SIGKILL)
      _ = try client.wait([ref])
    } catch {
      fail("cannot kill the template \(ref): \(error)")
    }
  }
}

enum Sharing {
  /// Workers on each side.
  static let workers = 16
  /// What share_read writes: 16 hex digits of its checksum and a newline.
  static let lineBytes = 17

  static func run(_ o: Options) {
    let client = o.client()
    if o.host.isEmpty { fail("sharing needs --host PATH (Scripts/bench builds it)") }
    progress("sharing: a template builds \(o.shareMB) MB, \(workers) workers read it")
    let template = CodeTemplate(client, library: o.library, ["\(o.shareMB)"])
    var refs: [String] = []
    var pids: [Int32] = []
    let (sums, forkctlKB) = holding(count: workers) { hold, ready in
      for _ in 0..<workers {
        do {
          let w = try client.fork(template.ref)
          refs.append(String(w.id))
          pids.append(w.pid)
          try client.sendFDs(
            String(w.id), [(hold, 0), (ready, 1), (FileDescriptor.standardError, 2)])
          _ = try client.call(String(w.id), "share_read")
        } catch {
          fail("fork + send-fd + call share_read (worker \(refs.count)): \(error)")
        }
      }
    } measure: {
      ([template.pid] + pids).map(proportionalKB(of:)).reduce(0, +)
    }
    let statuses: [(id: UInt64, status: ExitStatus)]
    do { statuses = try client.wait(refs) } catch { fail("wait for the sharing workers: \(error)") }
    if let bad = statuses.first(where: { $0.status != .exited(0) }) {
      fail("sharing worker \(bad.id) ended with \(bad.status)")
    }
    Report.value("template_pss_kb", proportionalKB(of: template.pid))
    template.end()
    Report.value("forkctl_pss_kb", forkctlKB)

    // The independent processes one after another: 16 of 1 GiB at once may not fit a
    // shared machine, and their sum is the same (they share no data).
    progress("sharing: \(workers) independent processes build \(o.shareMB) MB each")
    let environment = Sys.environment().map { String(decoding: $0, as: UTF8.self) }
    var independentKB: [Int] = []
    for _ in 0..<workers {
      var pid: Int32 = 0
      let (sum, kb) = holding(count: 1) { hold, ready in
        do throws(Errno) {
          pid = try Sys.posixSpawn(
            path: o.host, arguments: [o.host, "independent", o.library, "\(o.shareMB)"],
            environment: environment, fds: [hold, ready, FileDescriptor.standardError])
        } catch {
          fail("cannot start \(o.host): \(Sys.describe(error))")
        }
      } measure: {
        proportionalKB(of: pid)
      }
      do {
        let status = try Sys.waitChild(pid)
        if status.exitCode != 0 { fail("\(o.host) independent ended with \(status)") }
      } catch {
        fail("cannot wait for \(o.host): \(Sys.describe(error))")
      }
      if sum != [sums[0]] { fail("an independent process read \(sum), the forkctl workers \(sums[0])") }
      independentKB.append(kb)
    }
    checkPlausible("an independent process", kb: independentKB.min()!, leastKB: o.shareMB * 1024)
    Report.value("one_pss_kb", Int(median(independentKB.map(Double.init))))
    Report.value("independent_pss_kb", independentKB.reduce(0, +))
  }

  /// Starts `count` readers with `start(hold, ready)`, which gives each the read end of
  /// `hold` on 0 and the write end of `ready` on 1; once every one has written its line,
  /// runs `measure` while they are alive, then lets them end (`hold` closed). Returns the
  /// lines (which must all be the same checksum) and what `measure` returned.
  static func holding(
    count: Int, _ start: (FileDescriptor, FileDescriptor) -> Void, measure: () -> Int
  ) -> ([String], Int) {
    let hold: (read: FileDescriptor, write: FileDescriptor)
    let ready: (read: FileDescriptor, write: FileDescriptor)
    do {
      hold = try Sys.pipe()
      ready = try Sys.pipe()
    } catch {
      fail("cannot make a pipe: \(Sys.describe(error))")
    }
    start(hold.read, ready.write)
    hold.read.closeQuietly()
    ready.write.closeQuietly()
    let bytes: [UInt8]
    do { bytes = try ready.read.readAll(limit: count * lineBytes) } catch {
      fail("cannot read the readers' checksums: \(Sys.describe(error))")
    }
    ready.read.closeQuietly()
    let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    if lines.count != count || Set(lines).count != 1 {
      fail("\(count) readers wrote '\(String(decoding: bytes, as: UTF8.self))', not \(count) equal checksums")
    }
    let kb = measure()
    hold.write.closeQuietly()
    return (lines, kb)
  }
}

/// forkctl's side of the function-worker group: the trivial `nothing` of the library,
/// called in a worker forked from a template that loaded it.
enum FunctionWorkers {
  /// fork, then call --wait (the reply comes when the function has returned and the
  /// worker exited): 2 requests on one pooled connection.
  static func forkCall(_ client: ForkctlClient, _ template: CodeTemplate) {
    do {
      let w = try client.fork(template.ref)
      let status = try client.call(String(w.id), "nothing", waitForExit: true)
      if status != .exited(0) { fail("fork + call nothing: ended with \(String(describing: status))") }
    } catch {
      fail("fork + call nothing: \(error)")
    }
  }

  /// spawn --from --call (this process's stdio, environment and directory), then wait():
  /// 1 request.
  static func spawnCall(_ client: ForkctlClient, _ template: CodeTemplate) {
    do {
      let p = try client.spawn(call: "nothing", from: template.ref)
      let status = try p.wait()
      p.pidfd?.closeQuietly()
      if status != .exited(0) { fail("spawn --call nothing: ended with \(status)") }
    } catch {
      fail("spawn --call nothing: \(error)")
    }
  }
}
