import ForkctlSys
import Glibc
import Testing

// The queries a client makes of its own attributes (Inherited.attributes), against what the
// same process reports through libc.
@Suite struct AttributesTests {
  @Test("the umask read from /proc/self/status is the process's, and reading it changes nothing")
  func fileModeMask() {
    let before = umask(0o027)
    defer { umask(before) }
    #expect(Sys.fileModeMask() == 0o027)
    #expect(Sys.fileModeMask() == 0o027)
  }

  @Test("every resource limit, RLIMIT_CPU to RLIMIT_RTTIME, as getrlimit gives it")
  func resourceLimits() {
    let limits = Sys.resourceLimits()
    #expect(limits.map(\.resource) == Array(0..<16))
    var nofile = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &nofile)
    #expect(limits[7].soft == UInt64(nofile.rlim_cur))
    #expect(limits[7].hard == UInt64(nofile.rlim_max))
  }

  @Test("the nice value is getpriority's")
  func niceValue() {
    #expect(Sys.niceValue() == getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
  }

  @Test("a signal set to SIG_IGN is in the ignored set, and only while it is ignored")
  func ignoredSignals() {
    // SIGURG's default action is to ignore it: nothing else in the test process notices.
    let bit = UInt64(1) << (UInt64(SIGURG) - 1)
    let old = signal(SIGURG, SIG_IGN)
    #expect(Sys.ignoredSignals() & bit != 0)
    signal(SIGURG, SIG_DFL)
    #expect(Sys.ignoredSignals() & bit == 0)
    signal(SIGURG, old)
  }

  @Test("a signal blocked in the calling thread is in its mask")
  func blockedSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGURG)
    var old = sigset_t()
    pthread_sigmask(SIG_BLOCK, &set, &old)
    let blocked = Sys.blockedSignals()
    pthread_sigmask(SIG_SETMASK, &old, nil)
    #expect(blocked & UInt64(1) << (UInt64(SIGURG) - 1) != 0)
  }
}
