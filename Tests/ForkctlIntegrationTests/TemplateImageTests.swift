// The executable templates run: FORKCTL_TEMPLATE_IMAGE, else forkctl-template beside forkctl
// or in ../libexec/forkctl, else forkctl itself; read from /proc/PID/exe of real templates.
import ForkctlSys
import Glibc
import Testing

/// The forkctl-template built beside the forkctl under test.
let templateImageBinary: String = {
  guard let slash = forkctlBinary.lastIndex(of: "/") else { return "forkctl-template" }
  return String(forkctlBinary[..<slash]) + "/forkctl-template"
}()

@Suite struct TemplateImageTests {
  /// Copies `from` to `to` (mode 755), making the directories on the way.
  func install(_ from: String, _ to: String) {
    let dir = String(to[..<to.lastIndex(of: "/")!])
    #expect(system("mkdir -p '\(dir)' && cp '\(from)' '\(to)' && chmod 755 '\(to)'") == 0)
  }

  /// /proc/PID/exe: the file the process was started from.
  func executable(of pid: Int32) -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let len = readlink("/proc/\(pid)/exe", &buf, 4095)
    return len > 0 ? String(decoding: buf[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "pid \(pid): ?"
  }

  /// Starts `binary daemon` for `w` in the foreground with `environment` added; returns its
  /// pid and what it said on its ready descriptor.
  func startDaemon(_ binary: String, _ w: World, environment: [String] = []) -> (pid: Int32, ready: String) {
    let pipe = try! Sys.pipe()
    let pid = try! Sys.posixSpawn(
      path: binary, arguments: ["forkctl", "daemon", "--socket", w.socket, "--ready-fd", "3"],
      environment: w.environment + environment, fds: [nil, nil, FileDescriptor.standardError, pipe.write])
    pipe.write.closeQuietly()
    let answer = String(decoding: (try? pipe.read.readAll()) ?? [], as: UTF8.self)
    pipe.read.closeQuietly()
    return (pid, answer)
  }

  /// The executables of the default template and of a template started with `exec`, under
  /// a daemon run from `binary`; the daemon is shut down before it returns.
  func templateExecutables(
    _ binary: String, environment: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
  ) -> [String] {
    let w = World()
    let daemon = startDaemon(binary, w, environment: environment)
    #expect(daemon.ready == "ready\n", "daemon start: \(daemon.ready)", sourceLocation: sourceLocation)
    let started = w.ok(["exec"], sourceLocation: sourceLocation)
    let id = w.ok(["new"], sourceLocation: sourceLocation)
    // A worker forked from the default template runs (exit status 0, which w.ok checks).
    w.ok(["run", "--wait", id, "--", "true"], sourceLocation: sourceLocation)
    let pids = [w.pid(of: "1"), w.pid(of: started)]
    let exes = pids.map(executable(of:))
    w.ok(["shutdown"], sourceLocation: sourceLocation)
    _ = try? Sys.waitChild(daemon.pid)
    return exes
  }

  @Test("templates run the image FORKCTL_TEMPLATE_IMAGE names")
  func configuredImage() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    install(templateImageBinary, "\(dir)/elsewhere/image")
    #expect(
      templateExecutables(forkctlBinary, environment: ["FORKCTL_TEMPLATE_IMAGE=\(dir)/elsewhere/image"]) == [
        "\(dir)/elsewhere/image", "\(dir)/elsewhere/image",
      ])
  }

  @Test("without FORKCTL_TEMPLATE_IMAGE templates run forkctl-template beside forkctl, else in libexec, else forkctl")
  func imageFoundBesideForkctl() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    install(forkctlBinary, "\(dir)/beside/forkctl")
    install(templateImageBinary, "\(dir)/beside/forkctl-template")
    #expect(
      templateExecutables("\(dir)/beside/forkctl") == Array(repeating: "\(dir)/beside/forkctl-template", count: 2))
    install(forkctlBinary, "\(dir)/prefix/bin/forkctl")
    install(templateImageBinary, "\(dir)/prefix/libexec/forkctl/forkctl-template")
    #expect(
      templateExecutables("\(dir)/prefix/bin/forkctl")
        == Array(repeating: "\(dir)/prefix/libexec/forkctl/forkctl-template", count: 2))
    // forkctl's own `__template` role, as before the template image existed.
    install(forkctlBinary, "\(dir)/alone/forkctl")
    #expect(templateExecutables("\(dir)/alone/forkctl") == Array(repeating: "\(dir)/alone/forkctl", count: 2))
  }

  @Test("a daemon whose FORKCTL_TEMPLATE_IMAGE names a missing file does not start, and says why")
  func missingConfiguredImage() {
    let w = World()
    let missing = w.dir + "/no-such-image"
    let daemon = startDaemon(forkctlBinary, w, environment: ["FORKCTL_TEMPLATE_IMAGE=\(missing)"])
    let status = try! Sys.waitChild(daemon.pid)
    #expect(status.exitCode == 1)
    #expect(
      daemon.ready
        == "error failed cannot find the template image: "
        + "FORKCTL_TEMPLATE_IMAGE names '\(missing)', which is not an executable file\n"
    )
    // It took nothing: the next daemon starts on the same socket.
    #expect(startDaemon(forkctlBinary, w).ready == "ready\n")
  }
}
