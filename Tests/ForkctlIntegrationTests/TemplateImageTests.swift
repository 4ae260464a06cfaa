// The executables templates run, read from /proc/PID/exe of real templates: the default
// template runs forkctl; one made by exec FORKCTL_TEMPLATE_IMAGE, else forkctl-template
// beside forkctl or in ../libexec/forkctl, else forkctl itself.
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
    // The first `new` starts the default template (id 1); a worker forked from it runs (exit
    // status 0, which w.ok checks), as does one forked from the template exec makes.
    let id = w.ok(["new"], sourceLocation: sourceLocation)
    w.ok(["run", "--wait", id, "--", "true"], sourceLocation: sourceLocation)
    let started = w.ok(["exec"], sourceLocation: sourceLocation)
    let forked = w.ok(["fork", started], sourceLocation: sourceLocation)
    w.ok(["run", "--wait", forked, "--", "true"], sourceLocation: sourceLocation)
    let pids = [w.pid(of: "1"), w.pid(of: started)]
    let exes = pids.map(executable(of:))
    w.ok(["shutdown"], sourceLocation: sourceLocation)
    _ = try? Sys.waitChild(daemon.pid)
    return exes
  }

  @Test("templates made by exec run the image FORKCTL_TEMPLATE_IMAGE names; the default template runs forkctl")
  func configuredImage() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    install(forkctlBinary, "\(dir)/bin/forkctl")
    install(templateImageBinary, "\(dir)/elsewhere/image")
    let image = "FORKCTL_TEMPLATE_IMAGE=\(dir)/elsewhere/image"
    #expect(
      templateExecutables("\(dir)/bin/forkctl", environment: [image])
        == ["\(dir)/bin/forkctl", "\(dir)/elsewhere/image"])
  }

  @Test(
    """
    without FORKCTL_TEMPLATE_IMAGE templates made by exec run forkctl-template beside forkctl, else in libexec, \
    else forkctl
    """
  )
  func imageFoundBesideForkctl() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    install(forkctlBinary, "\(dir)/beside/forkctl")
    install(templateImageBinary, "\(dir)/beside/forkctl-template")
    #expect(
      templateExecutables("\(dir)/beside/forkctl") == ["\(dir)/beside/forkctl", "\(dir)/beside/forkctl-template"])
    install(forkctlBinary, "\(dir)/prefix/bin/forkctl")
    install(templateImageBinary, "\(dir)/prefix/libexec/forkctl/forkctl-template")
    #expect(
      templateExecutables("\(dir)/prefix/bin/forkctl")
        == ["\(dir)/prefix/bin/forkctl", "\(dir)/prefix/libexec/forkctl/forkctl-template"])
    // forkctl's own `__template` role, as before the template image existed.
    install(forkctlBinary, "\(dir)/alone/forkctl")
    #expect(templateExecutables("\(dir)/alone/forkctl") == ["\(dir)/alone/forkctl", "\(dir)/alone/forkctl"])
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
