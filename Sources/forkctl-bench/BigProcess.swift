// Group "spawn from a big process": this process grows to --memory-mb of touched memory,
// then launches /bin/true with its stdio -n times per loop, four ways, round-robin.
import ForkctlClient
import ForkctlSys
import Glibc

enum BigProcess {
  static func run(_ o: Options) {
    let client = o.client()
    let launcher = Launcher("/bin/true")
    let exe = thisExecutable()
    grow(megabytes: o.memoryMB)
    let anonKB = anonymousKB(of: Sys.processID)
    // Every page written is this process's own: less would mean pages not really written.
    checkPlausible("the big process", kb: anonKB, leastKB: o.memoryMB * 1024)
    Report.value("anon_kb", anonKB)

    let contenders: [(key: String, loop: (Int) -> UInt64)] = [
      ("fork-exec", { n in timed { for _ in 0..<n { launcher.forkExec() } } }),
      ("posix-spawn", { n in timed { for _ in 0..<n { launcher.posixSpawn() } } }),
      ("client-spawn", { n in timed { for _ in 0..<n { client.spawnAndWait("/bin/true") } } }),
      // The floor: the same executable without the memory, timing its own loop.
      ("floor", { n in floor(exe, count: n, launcher: launcher) }),
    ]
    // Warm-up: one untimed launch each (the first client call connects).
    for c in contenders { _ = c.loop(1) }
    for round in 0..<o.rounds {
      progress("spawn from a \(o.memoryMB) MB process: round \(round + 1)/\(o.rounds) (N=\(o.count))")
      for j in 0..<contenders.count {
        let c = contenders[(round + j) % contenders.count]
        Report.sample(c.key, count: o.count, nanoseconds: c.loop(o.count))
      }
    }
  }

  /// Maps `megabytes` of private anonymous memory and writes every page, so that each page
  /// is this process's own and a fork has to copy its page table entry. Transparent huge
  /// pages are refused (MADV_NOHUGEPAGE): 4 KiB pages, like a malloc heap by default.
  static func grow(megabytes: Int) {
    guard megabytes > 0 else { return }
    let bytes = megabytes << 20
    guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
      p != MAP_FAILED
    else { fail("cannot map \(megabytes) MB: \(Sys.describe(Errno(rawValue: errno)))") }
    _ = madvise(p, bytes, MADV_NOHUGEPAGE)
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let base = p.assumingMemoryBound(to: UInt8.self)
    for offset in stride(from: 0, to: bytes, by: page) { base[offset] = 1 }
  }

  /// Runs `exe floor -n count` with this process's stdio and its result on a pipe; returns
  /// the nanoseconds it measured for its own loop.
  static func floor(_ exe: String, count: Int, launcher: Launcher) -> UInt64 {
    let result: (read: FileDescriptor, write: FileDescriptor)
    let pid: Int32
    do {
      result = try Sys.pipe()
      pid = try Sys.posixSpawn(
        path: exe, arguments: [exe, "floor", "-n", "\(count)", "--result-fd", "3"],
        environment: launcher.environment,
        fds: [
          FileDescriptor.standardInput, FileDescriptor.standardOutput, FileDescriptor.standardError,
          result.write,
        ])
    } catch {
      fail("cannot start \(exe) floor: \(Sys.describe(error))")
    }
    result.write.closeQuietly()
    defer { result.read.closeQuietly() }
    let text: String
    let status: ExitStatusValue
    do {
      text = String(decoding: try result.read.readAll(), as: UTF8.self)
      status = try Sys.waitChild(pid)
    } catch {
      fail("cannot read the result of \(exe) floor: \(Sys.describe(error))")
    }
    guard status.exitCode == 0, let ns = UInt64(text.split(separator: "\n").first ?? "") else {
      fail("\(exe) floor ended with \(status) and printed '\(text)'")
    }
    return ns
  }

  /// `forkctl-bench floor`: posix_spawn of /bin/true from this small process, -n times.
  static func runFloor(_ o: Options) {
    let launcher = Launcher("/bin/true")
    let ns = timed { for _ in 0..<o.count { launcher.posixSpawn() } }
    do {
      try FileDescriptor(rawValue: o.resultFD).writeFully(Array("\(ns)\n".utf8))
    } catch {
      fail("cannot write the result to descriptor \(o.resultFD): \(Sys.describe(error))")
    }
  }
}
