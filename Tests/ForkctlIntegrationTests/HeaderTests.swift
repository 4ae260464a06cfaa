// include/forkctl.h, the C interface of libraries loaded into templates: it compiles as
// strict C99 and as C++, its declaration rejects an init of another shape, its helper
// reads FORKCTL_CONTROL_FD as a worker kept with --keep-control gets it, and forkctl_notify
// sends one datagram to FORKCTL_NOTIFY_FD or NOTIFY_SOCKET as a pool worker gets them.
import ForkctlSys
import Glibc
import Testing

/// The repository's include directory.
private let includeDirectory: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/HeaderTests.swift
  for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/include"
}()

/// A program that prints the ABI version and forkctl_control_fd().
private let probe = """
  #include <forkctl.h>
  #include <stdio.h>
  int main(void) {
    printf("%d %d\\n", FORKCTL_ABI_VERSION, forkctl_control_fd());
    return 0;
  }
  """

/// A program that sets errno to 42, sends argv[1] with forkctl_notify, and prints what it
/// returned and errno after.
private let notifier = """
  #include <forkctl.h>
  #include <stdio.h>
  int main(int argc, char **argv) {
    errno = 42;
    int r = forkctl_notify(argc > 1 ? argv[1] : "BUSY=1");
    printf("%d %d\\n", r, errno);
    return 0;
  }
  """

/// A datagram socket (SOCK_CLOEXEC) bound to `address`: a path, or an abstract address when
/// it starts with '@' (unix(7)), as NOTIFY_SOCKET names them.
private func boundDatagramSocket(_ address: String) -> Int32 {
  let fd = socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
  precondition(fd >= 0, "socket: errno \(errno)")
  var to = sockaddr_un()
  to.sun_family = sa_family_t(AF_UNIX)
  let name = Array(address.utf8)
  withUnsafeMutableBytes(of: &to.sun_path) { path in
    for (i, byte) in name.enumerated() { path[i] = byte }
    if name.first == UInt8(ascii: "@") { path[0] = 0 }
  }
  let size = MemoryLayout<sa_family_t>.size + name.count + (name.first == UInt8(ascii: "/") ? 1 : 0)
  let rc = withUnsafePointer(to: &to) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(size)) }
  }
  precondition(rc == 0, "bind \(address): errno \(errno)")
  return fd
}

/// A socket pair of `type` (SOCK_DGRAM, SOCK_STREAM), both ends SOCK_CLOEXEC.
private func socketPair(_ type: __socket_type) -> [CInt] {
  var pair: [CInt] = [-1, -1]
  let rc = socketpair(AF_UNIX, CInt(type.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair)
  precondition(rc == 0, "socketpair: errno \(errno)")
  return pair
}

/// The datagrams waiting on `fd`, each as text, without blocking.
private func pendingDatagrams(_ fd: Int32) -> [String] {
  var out: [String] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let n = recv(fd, &buffer, buffer.count, CInt(MSG_DONTWAIT))
    if n < 0 { return out }
    out.append(String(decoding: buffer[0..<n], as: UTF8.self))
  }
}

@Suite struct HeaderTests {
  /// Compiles `source` with `compiler` and `flags`; the compiler's exit status and output.
  func compile(_ compiler: String, _ flags: String, _ source: String, _ dir: String) -> (Int32, String) {
    writeFile(dir + "/probe.c", source)
    let rc = system(
      "\(compiler) \(flags) -Wall -Wextra -pedantic -Werror -I'\(includeDirectory)' -o '\(dir)/probe' "
        + "'\(dir)/probe.c' >'\(dir)/cc.log' 2>&1")
    return (rc, readFile(dir + "/cc.log"))
  }

  /// Runs the compiled probe with FORKCTL_CONTROL_FD set to `value` (unset when nil).
  func probeOutput(_ dir: String, controlFD value: String?) -> String {
    let assignment = value.map { "FORKCTL_CONTROL_FD='\($0)'" } ?? ""
    _ = system("env -u FORKCTL_CONTROL_FD \(assignment) '\(dir)/probe' >'\(dir)/out' 2>&1")
    return readFile(dir + "/out")
  }

  @Test("forkctl.h compiles as strict C99 and as C++, and forkctl_control_fd reads FORKCTL_CONTROL_FD")
  func compilesAndReads() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    for (compiler, flags) in [("cc", "-std=c99"), ("c++", "-x c++")] {
      let (rc, log) = compile(compiler, flags, probe, dir)
      #expect(rc == 0, "\(compiler) \(flags): \(log)")
      #expect(probeOutput(dir, controlFD: nil) == "1 -1\n", "\(compiler)")
      #expect(probeOutput(dir, controlFD: "5") == "1 5\n", "\(compiler)")
      for bad in ["", "x", "5x", "-3"] {
        #expect(probeOutput(dir, controlFD: bad) == "1 -1\n", "\(compiler), FORKCTL_CONTROL_FD='\(bad)'")
      }
    }
  }

  @Test("forkctl.h rejects a forkctl_init that is not int (int, char **)")
  func rejectsAnotherInit() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    let wrong = "#include <forkctl.h>\nint forkctl_init(void) { return 0; }\nint main(void) { return 0; }\n"
    let (rc, log) = compile("cc", "-std=c99", wrong, dir)
    #expect(rc != 0 && log.contains("forkctl_init"), "\(log)")
    let right = "#include <forkctl.h>\nint forkctl_init(int c, char **v) { return c - 1 + (v == 0); }\n"
    #expect(compile("cc", "-std=c99", right + "int main(void) { return 0; }\n", dir).0 == 0)
  }

  /// Runs the compiled probe with `message`, the environment `environment` only, and
  /// `descriptor` (if any) at fd 5; what it printed.
  func notify(_ dir: String, _ message: String, _ environment: [String], descriptor: Int32? = nil) -> String {
    let out = try! Sys.open(dir + "/out", .writeOnly, options: [.create, .truncate])
    let fds: [FileDescriptor?] = [nil, out, out, nil, nil, descriptor.map { FileDescriptor(rawValue: $0) }]
    let pid = try! Sys.posixSpawn(
      path: dir + "/probe", arguments: ["probe", message], environment: environment, fds: fds)
    out.closeQuietly()
    let status = try! Sys.waitChild(pid)
    #expect(status.exitCode == 0, "\(environment): \(status)")
    return readFile(dir + "/out")
  }

  @Test("forkctl_notify sends one datagram to FORKCTL_NOTIFY_FD, returns 1 and keeps errno")
  func notifiesTheDescriptor() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    let (rc, log) = compile("cc", "-std=c99", notifier, dir)
    #expect(rc == 0, "\(log)")
    let pair = socketPair(SOCK_DGRAM)
    defer { for fd in pair { close(fd) } }
    let message = "READY=1\nSTATUS=warming up"
    #expect(notify(dir, message, ["FORKCTL_NOTIFY_FD=5"], descriptor: pair[1]) == "1 42\n")
    #expect(notify(dir, "BUSY=1", ["FORKCTL_NOTIFY_FD=5"], descriptor: pair[1]) == "1 42\n")
    #expect(pendingDatagrams(pair[0]) == [message, "BUSY=1"])
    // Outside a pool there is nowhere to send: 0, as sd_notify(3) returns outside systemd.
    #expect(notify(dir, "BUSY=1", []) == "0 42\n")
    #expect(notify(dir, "BUSY=1", ["FORKCTL_NOTIFY_FD="]) == "0 42\n")
    #expect(notify(dir, "BUSY=1", ["FORKCTL_NOTIFY_FD=x"]) == "-\(EBADF) 42\n")
    // A descriptor that is not a socket, and one whose reader is gone: errors returned. A
    // stream socket whose peer closed raises SIGPIPE on send(2) unless MSG_NOSIGNAL: a pool
    // gone must not kill its worker.
    #expect(notify(dir, "BUSY=1", ["FORKCTL_NOTIFY_FD=1"]) == "-\(ENOTSOCK) 42\n")
    let stream = socketPair(SOCK_STREAM)
    close(stream[0])
    #expect(notify(dir, "BUSY=1", ["FORKCTL_NOTIFY_FD=5"], descriptor: stream[1]) == "-\(EPIPE) 42\n")
    close(stream[1])
  }

  @Test("forkctl_notify sends to NOTIFY_SOCKET at an abstract address and at a path, as sd_notify does")
  func notifiesTheNotifySocket() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    let (rc, log) = compile("cc", "-std=c99", notifier, dir)
    #expect(rc == 0, "\(log)")
    for address in ["@forkctl-header-test-\(getpid())", dir + "/notify"] {
      let fd = boundDatagramSocket(address)
      defer { close(fd) }
      #expect(notify(dir, "READY=1\nSTATUS=up", ["NOTIFY_SOCKET=\(address)"]) == "1 42\n", "\(address)")
      #expect(pendingDatagrams(fd) == ["READY=1\nSTATUS=up"], "\(address)")
      // FORKCTL_NOTIFY_FD comes first when both are set.
      let pair = socketPair(SOCK_DGRAM)
      let both = ["NOTIFY_SOCKET=\(address)", "FORKCTL_NOTIFY_FD=5"]
      #expect(notify(dir, "IDLE=1", both, descriptor: pair[1]) == "1 42\n")
      #expect(pendingDatagrams(pair[0]) == ["IDLE=1"])
      #expect(pendingDatagrams(fd) == [], "\(address)")
      for end in pair { close(end) }
    }
    #expect(notify(dir, "BUSY=1", ["NOTIFY_SOCKET=relative"]) == "-\(EAFNOSUPPORT) 42\n")
    #expect(notify(dir, "BUSY=1", ["NOTIFY_SOCKET=\(dir)/nobody"]) == "-\(ENOENT) 42\n")
  }
}
