// What the daemon needs for language hosts (issue 14): a sealed file to hand a host its script,
// and a pidfd to signal and poll a process that is not the daemon's child.
import ForkctlSys
import Glibc
import Testing

@Suite struct HostSupportTests {
  @Test("a sealed file reads back its contents from the start and refuses every write and resize")
  func sealedFileIsReadOnly() throws {
    let contents = Array("print('host')\n".utf8) + [0, 0xff]
    let fd = try Sys.sealedFile(name: "forkctl-test-script", contents: contents)
    defer { fd.closeQuietly() }
    #expect(try fd.readAll() == contents)
    #expect(throws: Errno.self) { try fd.writeFully([1]) }
    #expect(ftruncate(fd.rawValue, 0) == -1 && errno == EPERM)
    // Through another open file description, as a host opens /proc/self/fd/4.
    let again = try Sys.open("/proc/self/fd/\(fd.rawValue)", .readOnly)
    defer { again.closeQuietly() }
    #expect(try again.readAll() == contents)
    #expect(try Sys.path(of: fd) == "/memfd:forkctl-test-script (deleted)")
  }

  @Test("a pidfd signals its process and is readable once the process has ended, before it is reaped")
  func pidfdSignalAndPoll() throws {
    let pid = try Sys.posixSpawn(
      path: "/bin/sleep", arguments: ["sleep", "30"], environment: [], fds: [nil, nil, nil])
    let pidfd = try Sys.openPIDFD(pid)
    defer { pidfd.closeQuietly() }
    #expect(!Sys.hasEnded(pidfd: pidfd))
    let named = Sys.processAndParent(ofPIDFD: pidfd)
    #expect(named?.pid == pid && named?.parent == Sys.processID)
    try Sys.signal(pidfd: pidfd, .kill)
    var polls = 0
    while !Sys.hasEnded(pidfd: pidfd) && polls < 500 {
      usleep(2000)
      polls += 1
    }
    #expect(Sys.hasEnded(pidfd: pidfd))
    // Ended, not yet reaped: still the daemon's zombie child.
    #expect(Sys.isUnreapedChild(pid))
    let status = try Sys.waitChild(pid)
    #expect(status.signal == SIGKILL)
    // Reaped: the pidfd still names that process, never a newer one with its pid.
    #expect(throws: Errno.noSuchProcess) { try Sys.signal(pidfd: pidfd, .terminate) }
    #expect(Sys.processAndParent(ofPIDFD: pidfd) == nil)
  }
}
