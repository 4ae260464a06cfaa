// A second client, written in Python from forkctl-protocol(7) alone (standard library only),
// drives a real daemon: proof that the manual page is enough to speak the protocol.
import ForkctlSys
import Glibc
import Testing

/// Tests/Fixtures/python: the exercise script, which drives the forkctl package of python/.
let pythonFixtures: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/PythonClientTests.swift
  for _ in 0..<2 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Fixtures/python"
}()

@Suite struct PythonClientTests {
  @Test("a Python client written from forkctl-protocol(7) alone gets every documented answer")
  func exercise() throws {
    try requireProgram(python3Binary, package: "python3")
    let library = try #require(workerLibrary, "the test library did not build")
    let w = World()
    w.ok(["list"])  // starts the daemon at w.socket
    let daemon = w.daemonPID
    #expect(daemon > 0)
    // stdout and stderr to files; the workers write to the same stdout as the script.
    let out = "\(w.dir)/python.out"
    let err = "\(w.dir)/python.err"
    let o = try Sys.open(out, .writeOnly, options: [.create, .truncate])
    let e = try Sys.open(err, .writeOnly, options: [.create, .truncate])
    let pid = try Sys.posixSpawn(
      path: python3Binary, arguments: ["python3", pythonFixtures + "/exercise.py", w.socket, library],
      environment: ["PATH=/usr/bin:/bin", "HOME=\(w.dir)", "LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"],
      fds: [nil, o, e])
    o.closeQuietly()
    e.closeQuietly()
    let status = try Sys.waitChild(pid)
    let stderr = readFile(err)
    #expect(status.exitCode == 0, "exercise.py: \(readFile(out))\(stderr)")
    #expect(stderr == "")
    let expected =
      Array(
        """
        hello version=1
        new ok
        send-fds ok
        send-args ok
        from python extra
        run ok
        wait status=exited:0
        run-wait status=exited:7
        a b||
        """.utf8) + [0xff]
      + Array(
        """
        |
        spawn printf status=exited:0
        spawn missing failure code=6 (program not found) names the program=True
        spawn kill status=signaled:15
        spawn signal status=signaled:15
        kill status=signaled:15
        list name=py-sleeper role=process state=exited status=signaled:15 program=sleep
        forget dropped=signaled:15 gone=True
        wait all statuses=exited:3
        run detach forgotten=True
        prune dropped=exited:3 gone=True
        load threads=1
        call status=exited:42
        call missing failure code=17 (symbol not found)
        memory measured=[True, True] parents=True audit=[] template audit code=2 (wrong state)
        wait unknown failure code=1 (unknown process)
        violation unknown-type failure code=11 (protocol error) closed=True
        violation version-2 failure code=11 (protocol error) closed=True
        violation fd-count failure code=11 (protocol error) closed=True
        violation reply-type failure code=11 (protocol error) closed=True
        after violations hello version=1
        all steps ok

        """.utf8)
    let got = readBytes(out)
    #expect(got == expected, "\(String(decoding: got, as: UTF8.self))")
    // Every worker was waited for through the protocol: the daemon has reaped them all.
    #expect(zombieChildren(of: daemon).isEmpty)
    // The daemon goes on serving the forkctl client.
    #expect(w.run(["list"]).code == 0)
  }
}
