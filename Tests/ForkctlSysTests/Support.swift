import ForkctlSys
import Glibc

/// A POSIX thread running `body`: the tests need real threads they can signal and count,
/// and the project links no Dispatch or Swift concurrency.
struct PosixThread {
  private final class Body: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
  }

  let handle: pthread_t

  init(_ body: @escaping () -> Void) {
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
      &thread, nil,
      { context in
        Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
        return nil
      }, context)
    precondition(rc == 0, "pthread_create: \(rc)")
    handle = thread
  }

  /// Delivers `signal` to this thread alone. The corresponding C function is `pthread_kill`.
  func send(_ signal: Signal) { pthread_kill(handle, signal.rawValue) }

  func join() { pthread_join(handle, nil) }
}

/// A value one thread sets and another reads after joining it.
final class Shared<Value>: @unchecked Sendable {
  var value: Value
  init(_ value: Value) { self.value = value }
}

/// A real-time signal nothing else in the test process uses or blocks.
let interruptingSignal = Signal(rawValue: Signal.realtimeMin.rawValue + 4)

/// How many times the handler of `interruptingSignal` has run.
nonisolated(unsafe) var interruptions = 0

/// Installs a handler for `interruptingSignal` without SA_RESTART, so that a blocking call
/// in the thread it reaches fails with EINTR (signal(7)), and unblocks it in this thread.
func installInterruptingHandler() {
  var action = sigaction()
  action.__sigaction_handler.sa_handler = { _ in interruptions += 1 }
  action.sa_flags = 0
  sigemptyset(&action.sa_mask)
  sigaction(interruptingSignal.rawValue, &action, nil)
  unblockInterruptingSignal()
}

func unblockInterruptingSignal() {
  var set = sigset_t()
  sigemptyset(&set)
  sigaddset(&set, interruptingSignal.rawValue)
  pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Sends `interruptingSignal` to `thread` a few times, `intervalMS` apart, so that at least
/// one arrives while it is blocked in its call.
func interrupt(_ thread: PosixThread, times: Int = 3, intervalMS: UInt32 = 100) {
  for _ in 0..<times {
    usleep(intervalMS * 1000)
    thread.send(interruptingSignal)
  }
}

func isCloseOnExec(_ fd: FileDescriptor) -> Bool {
  let flags = fcntl(fd.rawValue, F_GETFD)
  return flags >= 0 && flags & FD_CLOEXEC != 0
}

/// The file a descriptor refers to: device and inode (fstat(2)).
func identity(_ fd: FileDescriptor) -> [UInt64] {
  var st = stat()
  guard fstat(fd.rawValue, &st) == 0 else { return [] }
  return [UInt64(st.st_dev), UInt64(st.st_ino)]
}

/// A path for a socket or file of one test, not used by any other.
func temporaryPath(_ name: String) -> String {
  "/tmp/forkctl-sys-tests-\(Sys.processID)-\(UInt64.random(in: 0...UInt64.max))-\(name)"
}
