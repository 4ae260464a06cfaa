// A process's own memory, read from /proc, for the footprint group and the big process.
import ForkctlSys

/// Anonymous memory of process `pid` in kB: Pss_Anon + SwapPss of /proc/PID/smaps_rollup
/// (proc(5); Pss_Anon needs Linux 5.10).
///
/// Not VmRSS: that includes the executable's file pages, which the kernel drops and reads
/// back as it likes, so on a loaded machine a template "at rest" showed 156 kB and a
/// daemon that grew showed -73 B per process object (issue 9). Not RssAnon of
/// /proc/PID/status either: those counters are per-CPU approximations since Linux 6.2
/// (and per-thread caches before), off by up to a batch of pages per CPU, which is a
/// quarter of the per-object figure on this machine. smaps_rollup walks the page tables,
/// so it is exact. Proportional (Pss) so that a page shared copy-on-write with a forked
/// child is not counted twice when two processes are added up; swap included so that
/// memory pressure cannot make a process look smaller than it is.
func anonymousKB(of pid: Int32) -> Int {
  let fields = rollup(of: pid)
  guard let anon = fields["Pss_Anon"], let swap = fields["SwapPss"] else {
    fail("no Pss_Anon or SwapPss in /proc/\(pid)/smaps_rollup (Linux 5.10 or later has them)")
  }
  return anon + swap
}

/// All the memory of process `pid` in kB, file pages too, each page divided among the
/// processes that map it: Pss + SwapPss of /proc/PID/smaps_rollup (proc(5)). Added up over
/// a template and its workers, a page they share copy-on-write counts once.
func proportionalKB(of pid: Int32) -> Int {
  let fields = rollup(of: pid)
  guard let pss = fields["Pss"], let swap = fields["SwapPss"] else {
    fail("no Pss or SwapPss in /proc/\(pid)/smaps_rollup")
  }
  return pss + swap
}

/// The kB fields of /proc/PID/smaps_rollup by name.
private func rollup(of pid: Int32) -> [Substring: Int] {
  var fields: [Substring: Int] = [:]
  for line in readFile("/proc/\(pid)/smaps_rollup").split(separator: "\n") {
    // "Pss_Anon:            160 kB"
    let words = line.split(separator: " ", omittingEmptySubsequences: true)
    if words.count == 3, words[0].hasSuffix(":"), words[2] == "kB", let kb = Int(words[1]) {
      fields[words[0].dropLast()] = kb
    }
  }
  return fields
}

/// The least anonymous memory a forkctl process that has run can have, in kB: its stack,
/// its heap and the data pages it wrote. 150 to 160 kB were measured for a daemon and a
/// template at rest (Linux 6.18); less means the figure is wrong, not small.
let leastProcessKB = 64

/// Fails the run when `kb`, the anonymous memory of `what`, is below `leastKB`: a figure
/// that cannot be right is not printed.
func checkPlausible(_ what: String, kb: Int, leastKB: Int = leastProcessKB) {
  if kb < leastKB {
    fail(
      "anonymous memory of \(what) is \(kb) kB, below the least it can be (\(leastKB) kB): "
        + "not measured right")
  }
}
