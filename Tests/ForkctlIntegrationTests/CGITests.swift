// A real lighttpd (mod_cgi) that runs every CGI request through `forkctl spawn`: exact
// answers for the usual cases, then a bounded load after which the daemon holds nothing more
// than before. Needs the Debian packages lighttpd and python3 (Scripts/test installs them).
import ForkctlSys
import Glibc
import Testing

/// Tests/Fixtures/cgi: the CGI scripts, the load generator and the lighttpd config template.
let cgiFixtures: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/CGITests.swift
  for _ in 0..<2 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Fixtures/cgi"
}()

let lighttpdBinary = "/usr/sbin/lighttpd"
let python3Binary = "/usr/bin/python3"

/// Fails the test (never skips it) when a program the CGI tests need is missing.
func requireProgram(_ path: String, package: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
  try #require(
    access(path, X_OK) == 0,
    "\(path) is missing: install the Debian package \(package) (Scripts/setup \(package); Scripts/test does it)",
    sourceLocation: sourceLocation)
}

/// forkctl's path as a CGI can use it: lighttpd runs CGIs in the script's directory.
var absoluteForkctlBinary: String {
  if forkctlBinary.hasPrefix("/") { return forkctlBinary }
  var buf = [CChar](repeating: 0, count: 4096)
  return String(cString: getcwd(&buf, buf.count)) + "/" + forkctlBinary
}

/// A TCP socket listening on 127.0.0.1 on a port the kernel picks, and that port.
func loopbackListener() -> (FileDescriptor, UInt16) {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
  precondition(fd >= 0, "socket: \(errno)")
  var addr = sockaddr_in()
  addr.sin_family = sa_family_t(AF_INET)
  addr.sin_port = 0
  addr.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
  var len = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
      bind(fd, sa, len) == 0 && listen(fd, 128) == 0 && getsockname(fd, sa, &len) == 0
    }
  }
  precondition(bound, "bind/listen on 127.0.0.1: \(errno)")
  return (FileDescriptor(rawValue: fd), UInt16(bigEndian: addr.sin_port))
}

/// lighttpd in the foreground as our child, on a listening socket we made: a docroot, config
/// and logs of its own in the World's directory, and every .cgi run as
/// `forkctl spawn -- SCRIPT` against the World's daemon.
final class CGIServer {
  let world: World
  let docroot: String
  let errorLog: String
  /// lighttpd's stdout and stderr, which is where CGIs' stderr goes too.
  let output: String
  let port: UInt16
  let pid: Int32
  private var stopped = false

  init(_ w: World, scripts: [String]) {
    world = w
    docroot = w.dir + "/docroot"
    errorLog = w.dir + "/lighttpd.error.log"
    output = w.dir + "/lighttpd.out"
    let uploads = w.dir + "/uploads"
    for d in [docroot, uploads] { precondition(mkdir(d, 0o755) == 0, "mkdir \(d): \(errno)") }
    for s in scripts {
      writeFile("\(docroot)/\(s)", readFile("\(cgiFixtures)/\(s)"), mode: 0o755)
      chmod("\(docroot)/\(s)", 0o755)  // whatever the umask
    }
    // lighttpd runs `WRAPPER /docroot/x.cgi`, with x.cgi's directory as the current one.
    let wrapper = w.dir + "/forkctl-cgi"
    writeFile(wrapper, "#!/bin/sh\nexec '\(absoluteForkctlBinary)' spawn -- \"$@\"\n", mode: 0o755)
    chmod(wrapper, 0o755)

    let (listener, port) = loopbackListener()
    self.port = port
    var config = readFile(cgiFixtures + "/lighttpd.conf.in")
    for (key, value) in [
      "@PORT@": String(port), "@DOCROOT@": docroot, "@ERRORLOG@": errorLog, "@UPLOADS@": uploads,
      "@WRAPPER@": wrapper, "@SOCKET@": w.socket,
    ] {
      config = config.replacing(key, with: value)
    }
    let conf = w.dir + "/lighttpd.conf"
    writeFile(conf, config)
    // Socket activation: the socket on fd 3, LISTEN_FDS=1 and LISTEN_PID the pid that
    // lighttpd will have, which `exec` keeps.
    let out = try! Sys.open(
      output, .writeOnly, options: [.create, .truncate, .append], permissions: FilePermissions(rawValue: 0o644))
    pid = try! Sys.posixSpawn(
      path: "/bin/sh",
      arguments: ["sh", "-c", "LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" -D -f \"$1\"", lighttpdBinary, conf],
      environment: ["PATH=/usr/bin:/bin", "LISTEN_FDS=1"], fds: [nil, out, out, listener])
    out.closeQuietly()
    // Only lighttpd holds the socket now: should it die, requests fail at once, not hang.
    listener.closeQuietly()
  }

  /// What lighttpd and the CGIs said, for failure messages.
  var logs: String {
    "lighttpd output:\n\(readFile(output))\nlighttpd error log:\n\(readFile(errorLog))"
  }

  /// One request on a connection of its own; everything lighttpd sent until it closed.
  func exchange(_ request: [UInt8]) -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    precondition(fd >= 0)
    let s = FileDescriptor(rawValue: fd)
    defer { s.closeQuietly() }
    var timeout = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
    let connected = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
    guard connected else { return Array("connect: errno \(errno)".utf8) }
    var sent = 0
    while sent < request.count {
      let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { return Array("send: errno \(errno)".utf8) }
      sent += n
    }
    do {
      return try s.readAll(limit: 16 << 20)
    } catch {
      return Array("read: \(error)".utf8)
    }
  }

  func get(_ target: String) -> [UInt8] {
    exchange(Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
  }

  func post(_ target: String, _ body: [UInt8]) -> [UInt8] {
    let head =
      "POST \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
      + "Content-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\n\r\n"
    return exchange(Array(head.utf8) + body)
  }

  /// SIGTERM, then waits for lighttpd to exit.
  @discardableResult
  func stop() -> ExitStatusValue? {
    guard !stopped else { return nil }
    stopped = true
    try? Sys.kill(pid, .terminate)
    return try? Sys.waitChild(pid)
  }

  deinit { stop() }
}

/// A response split at its blank line, the Date header's value (the only thing lighttpd
/// varies) replaced by "*": the head as text, the body as bytes.
func splitResponse(_ response: [UInt8]) -> (head: String, body: [UInt8]) {
  let separator: [UInt8] = Array("\r\n\r\n".utf8)
  var end = 0
  while end + separator.count <= response.count && Array(response[end..<(end + separator.count)]) != separator {
    end += 1
  }
  guard end + separator.count <= response.count else {
    return (String(decoding: response, as: UTF8.self), [])
  }
  let lines = String(decoding: response[..<end], as: UTF8.self).split(
    separator: "\r\n", omittingEmptySubsequences: false)
  let head = lines.map { $0.hasPrefix("Date: ") ? "Date: *" : String($0) }.joined(separator: "\r\n") + "\r\n\r\n"
  return (head, Array(response[(end + separator.count)...]))
}

/// The head lighttpd sends for a CGI answer: status line, the CGI's headers, then its own.
func expectedHead(_ status: String, _ cgiHeaders: [String], length: Int, acceptRanges: Bool = false) -> String {
  (["HTTP/1.1 \(status)"] + cgiHeaders + (acceptRanges ? ["Accept-Ranges: bytes"] : [])
    + ["Content-Length: \(length)", "Connection: close", "Date: *", "Server: lighttpd-forkctl-test"])
    .joined(separator: "\r\n") + "\r\n\r\n"
}

/// lighttpd's own error page.
func lighttpdErrorPage(_ status: String) -> String {
  """
  <?xml version="1.0" encoding="iso-8859-1"?>
  <!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
           "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
  <html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
   <head>
    <title>\(status)</title>
   </head>
   <body>
    <h1>\(status)</h1>
   </body>
  </html>

  """
}

@Suite struct CGITests {
  @Test func lighttpdAnswersThroughForkctlSpawnAreExact() throws {
    try requireProgram(lighttpdBinary, package: "lighttpd")
    let w = World()
    w.ok(["list"])  // the daemon starts here, not inside a CGI
    let server = CGIServer(
      w, scripts: ["query.cgi", "post.cgi", "headers.cgi", "fail.cgi", "answer-then-fail.cgi", "badinterp.cgi"])

    func check(
      _ what: String, _ response: [UInt8], head: String, body: [UInt8],
      sourceLocation: SourceLocation = #_sourceLocation
    ) {
      let got = splitResponse(response)
      #expect(got.head == head, "\(what): head", sourceLocation: sourceLocation)
      #expect(
        got.body == body, "\(what): body \(String(decoding: got.body.prefix(2000), as: UTF8.self))",
        sourceLocation: sourceLocation)
    }

    // GET: the query string reaches the CGI's environment as it was sent.
    let query = "n=1&word=caf%C3%A9&empty=&plus=a+b&slash=%2F"
    let queryBody = Array("query=\(query)\n".utf8)
    check(
      "GET query.cgi", server.get("/query.cgi?" + query),
      head: expectedHead("200 OK", ["Content-Type: text/plain"], length: queryBody.count, acceptRanges: true),
      body: queryBody)

    // POST, small: lighttpd writes the body into a pipe on the CGI's stdin.
    let small = Array("line one\nline two\0with a NUL\r\n".utf8)
    check(
      "small POST post.cgi", server.post("/post.cgi", small),
      head: expectedHead("200 OK", ["Content-Type: application/octet-stream"], length: small.count), body: small)

    // POST, large: lighttpd keeps the body in a temporary file and makes that file the
    // CGI's stdin itself, so a regular file, not a pipe, crosses forkctl here.
    var large: [UInt8] = []
    large.reserveCapacity(300_000)
    for i in 0..<300_000 { large.append(UInt8(truncatingIfNeeded: i &* 7 &+ i >> 8)) }
    check(
      "large POST post.cgi", server.post("/post.cgi", large),
      head: expectedHead("200 OK", ["Content-Type: application/octet-stream"], length: large.count), body: large)

    // Several headers of the CGI's own, a status, and proof that forkctl ran it: the
    // daemon is its parent; lighttpd's argument, directory and method reached it.
    let headersBody = Array(
      """
      method=GET
      script=\(server.docroot)/headers.cgi
      args=0
      cwd=\(server.docroot)
      ppid=\(w.daemonPID)

      """.utf8)
    check(
      "headers.cgi", server.get("/headers.cgi"),
      head: expectedHead(
        "201 Created",
        [
          "Content-Type: text/x-forkctl; charset=utf-8", "X-Forkctl-One: 1", "X-Forkctl-Two: two words",
          "Cache-Control: no-store",
        ], length: headersBody.count),
      body: headersBody)

    // A CGI that writes nothing and exits 3: lighttpd's 500 page. Its stderr, fd 2 passed
    // through forkctl, is lighttpd's stderr.
    let page500 = Array(lighttpdErrorPage("500 Internal Server Error").utf8)
    check(
      "fail.cgi", server.get("/fail.cgi"),
      head: expectedHead("500 Internal Server Error", ["Content-Type: text/html"], length: page500.count),
      body: page500)
    #expect(readFile(server.output).contains("fail.cgi: failing on purpose\n"), "\(server.logs)")

    // A whole answer, then exit 4: lighttpd sends the answer; the status does not matter.
    let answered = Array("answered\n".utf8)
    check(
      "answer-then-fail.cgi", server.get("/answer-then-fail.cgi"),
      head: expectedHead("200 OK", ["Content-Type: text/plain"], length: answered.count, acceptRanges: true),
      body: answered)

    // No such script: lighttpd answers 404 itself and runs nothing.
    let page404 = Array(lighttpdErrorPage("404 Not Found").utf8)
    check(
      "missing.cgi", server.get("/missing.cgi"),
      head: expectedHead("404 Not Found", ["Content-Type: text/html"], length: page404.count), body: page404)

    // #!/nonexistent/interp: execve fails with ENOENT, forkctl spawn exits 127 having
    // written nothing on stdout, and lighttpd answers 500.
    check(
      "badinterp.cgi", server.get("/badinterp.cgi"),
      head: expectedHead("500 Internal Server Error", ["Content-Type: text/html"], length: page500.count),
      body: page500)
    #expect(readFile(server.output).contains("badinterp.cgi"), "forkctl spawn says why on stderr\n\(server.logs)")

    let status = server.stop()
    #expect(status?.signal == nil, "lighttpd ended by a signal: \(String(describing: status))\n\(server.logs)")
  }

  @Test func twoThousandRequestsFromEightClientsLeaveNothingBehind() throws {
    try requireProgram(lighttpdBinary, package: "lighttpd")
    try requireProgram(python3Binary, package: "python3")
    let w = World()
    w.ok(["list"])  // the daemon starts here, not inside a CGI
    let daemon = w.daemonPID
    let server = CGIServer(w, scripts: ["query.cgi"])

    // One request first, so that the default template exists before the baseline.
    let warmup = splitResponse(server.get("/query.cgi?warmup"))
    try #require(warmup.body == Array("query=warmup\n".utf8), "warm-up answer: \(warmup)\n\(server.logs)")
    // The response can beat the daemon's reaping of the worker by a little.
    var templates = w.entries().filter { $0.state != "exited" }
    #expect(
      eventually("only the default template has not exited") {
        templates = w.entries().filter { $0.state != "exited" }
        return templates.count == 1
      }, "process objects not exited: \(templates)")
    let templatePIDs = Set(templates.map(\.pid))
    func settled() -> Bool {
      childProcesses(of: daemon) == templatePIDs && clientConnections(of: daemon).isEmpty
    }
    #expect(eventually("the warm-up worker and its client are gone") { settled() })
    let fdsBefore = openDescriptors(daemon)

    let out = try Sys.open(w.dir + "/load.out", .writeOnly, options: [.create, .truncate])
    let err = try Sys.open(w.dir + "/load.err", .writeOnly, options: [.create, .truncate])
    let load = try Sys.posixSpawn(
      path: python3Binary,
      arguments: ["python3", cgiFixtures + "/load.py", "127.0.0.1", String(server.port), "2000", "8"],
      environment: ["PATH=/usr/bin:/bin"], fds: [nil, out, err])
    out.closeQuietly()
    err.closeQuietly()
    let loadStatus = try Sys.waitChild(load)
    let report = readFile(w.dir + "/load.out")
    #expect(loadStatus.exitCode == 0, "load.py: \(report)\(readFile(w.dir + "/load.err"))\n\(server.logs)")
    #expect(report.hasPrefix("requests=2000 ok=2000 bad=0 clients=8 "), "load.py: \(report)")

    // Every worker reaped, no client connection left, the descriptors as before.
    #expect(
      eventually("only templates are the daemon's children") { childProcesses(of: daemon) == templatePIDs },
      "children of the daemon: \(childProcesses(of: daemon).map { "\($0) \(commandLine($0))" })")
    #expect(zombieChildren(of: daemon).isEmpty)
    #expect(
      eventually("daemon descriptors back to baseline") {
        clientConnections(of: daemon).isEmpty && openDescriptors(daemon).count == fdsBefore.count
      }, "before: \(fdsBefore.sorted { $0.key < $1.key })\nafter: \(openDescriptors(daemon).sorted { $0.key < $1.key })"
    )
    let live = w.entries().filter { $0.state != "exited" }
    #expect(live.map(\.id) == templates.map(\.id), "process objects not exited: \(live)")
    let status = server.stop()
    #expect(status?.signal == nil, "lighttpd ended by a signal: \(String(describing: status))\n\(server.logs)")
  }
}
