// Group "concurrency": C POSIX threads share one ForkctlClient and spawn /bin/true (with
// this process's stdio) as fast as they can, for each C of --callers, round-robin; and, as
// the floor, the same threads calling posix_spawn + waitpid themselves (1 and 8 callers):
// what this machine's cores give before forkctl costs anything.
import ForkctlClient
import ForkctlSys
import Glibc
import Synchronization

enum Concurrency {
  static func run(_ o: Options) {
    let client = o.client()
    let launcher = Launcher("/bin/true")
    let floors = o.callers.filter { $0 == 1 || $0 == 8 }
    // Warm-up: every configuration once with one spawn per caller.
    for callers in o.callers { _ = measure(client, callers: callers, each: 1) }
    for round in 0..<o.rounds {
      progress("concurrency: round \(round + 1)/\(o.rounds) (about N=\(o.count) spawns per caller count)")
      for j in 0..<o.callers.count {
        let callers = o.callers[(round + j) % o.callers.count]
        // About -n spawns in all, shared out evenly between the callers.
        let each = max(1, (o.count + callers - 1) / callers)
        let (wall, latencies) = measure(client, callers: callers, each: each)
        let key = "callers-\(callers)"
        Report.sample(key, count: callers * each, nanoseconds: wall)
        Report.stat(key, "p50_us", percentile(latencies, 50) / 1000)
        Report.stat(key, "p99_us", percentile(latencies, 99) / 1000)
      }
      for callers in floors {
        let each = max(1, (o.count + callers - 1) / callers)
        let (wall, latencies) = measure(client, callers: callers, each: each, direct: launcher)
        let key = "direct-\(callers)"
        Report.sample(key, count: callers * each, nanoseconds: wall)
        Report.stat(key, "p50_us", percentile(latencies, 50) / 1000)
        Report.stat(key, "p99_us", percentile(latencies, 99) / 1000)
      }
    }
  }

  /// Starts `callers` threads that each spawn-and-wait `each` times once all have started;
  /// returns the wall time from their common start to the last one's end, and every
  /// spawn's latency (from calling spawn to wait returning), in nanoseconds.
  static func measure(
    _ client: ForkctlClient, callers: Int, each: Int, direct: Launcher? = nil
  ) -> (UInt64, [UInt64]) {
    let run = Run(client: client, callers: callers, each: each, direct: direct)
    var threads: [pthread_t] = []
    for i in 0..<callers {
      var t = pthread_t()
      let job = Unmanaged.passRetained(Job(run, i)).toOpaque()
      let rc = pthread_create(
        &t, nil,
        { raw in
          let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
          job.run.caller(job.index)
          return nil
        }, job)
      if rc != 0 { fail("pthread_create: \(Sys.describe(Errno(rawValue: rc)))") }
      threads.append(t)
    }
    pthread_barrier_wait(run.barrier)
    let t0 = nanoseconds()
    for t in threads { pthread_join(t, nil) }
    let wall = nanoseconds() - t0
    return (wall, run.latencies.withLock { $0 })
  }

  final class Job {
    let run: Run
    let index: Int
    init(_ run: Run, _ index: Int) {
      self.run = run
      self.index = index
    }
  }

  /// One measurement: what its threads share.
  final class Run: @unchecked Sendable {
    let client: ForkctlClient
    /// posix_spawn + waitpid in the caller instead of the client (the floor).
    let direct: Launcher?
    let each: Int
    /// The callers and the timing thread start together. Written only by pthread calls.
    let barrier: UnsafeMutablePointer<pthread_barrier_t>
    let latencies = Mutex<[UInt64]>([])

    init(client: ForkctlClient, callers: Int, each: Int, direct: Launcher?) {
      self.client = client
      self.direct = direct
      self.each = each
      barrier = .allocate(capacity: 1)
      pthread_barrier_init(barrier, nil, UInt32(callers + 1))
    }

    deinit {
      pthread_barrier_destroy(barrier)
      barrier.deallocate()
    }

    func caller(_ index: Int) {
      var mine = [UInt64]()
      mine.reserveCapacity(each)
      pthread_barrier_wait(barrier)
      for _ in 0..<each {
        let t0 = nanoseconds()
        if let direct { direct.posixSpawn() } else { client.spawnAndWait("/bin/true") }
        mine.append(nanoseconds() - t0)
      }
      latencies.withLock { $0 += mine }
    }
  }
}
