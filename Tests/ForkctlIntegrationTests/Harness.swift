// Test harness: runs the built forkctl binary against a private daemon and reads /proc.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

/// The forkctl binary under test: $FORKCTL_BINARY, else `forkctl` beside the test bundle.
let forkctlBinary: String = {
  if let b = Sys.environmentValue("FORKCTL_BINARY"), !b.isEmpty { return b }
  let exe = (try? Sys.executablePath()) ?? ""
  var dir = exe
  while let slash = dir.lastIndex(of: "/") {
    dir = String(dir[..<slash])
    if access(dir + "/forkctl", X_OK) == 0 { return dir + "/forkctl" }
  }
  return ".build/debug/forkctl"
}()

/// What one forkctl invocation did.
struct Outcome {
  var status: ExitStatusValue
  var stdout: String
  var stderr: String
  var code: Int32 { status.exitCode ?? (128 + (status.signal ?? 0)) }
}

func makeTemporaryDirectory() -> String {
  var template = Array("/tmp/forkctl-test-XXXXXX".utf8CString)
  let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return String(cString: p!)
}

func readFile(_ path: String) -> String {
  guard let fd = try? Sys.open(path, .readOnly) else { return "" }
  defer { fd.closeQuietly() }
  return String(decoding: (try? fd.readAll()) ?? [], as: UTF8.self)
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) {
  let fd = try! Sys.open(path, .writeOnly, options: [.create, .truncate], permissions: FilePermissions(rawValue: mode))
  try! fd.writeFully(Array(text.utf8))
  fd.closeQuietly()
}

/// A private daemon world: its own socket directory; every forkctl call made through it
/// uses that socket. Shuts the daemon down when done.
final class World {
  let dir: String
  let socket: String
  private var counter = 0

  init() {
    dir = makeTemporaryDirectory()
    socket = dir + "/run/sock"
  }

  /// Set in every forkctl this world runs, besides the socket, PATH and HOME.
  var extraEnvironment: [String] = []

  var environment: [String] {
    ["FORKCTL_SOCKET=\(socket)", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=\(dir)"] + extraEnvironment
  }

  /// Runs forkctl with `args`; `fds` become the child's descriptors 0, 1, 2, ... (nil
  /// entries and missing stdio: stdin /dev/null, stdout/stderr captured to files).
  @discardableResult
  func run(_ args: [String], fds extra: [Int: FileDescriptor] = [:], stdin: FileDescriptor? = nil) -> Outcome {
    counter += 1
    let out = "\(dir)/out.\(counter)"
    let err = "\(dir)/err.\(counter)"
    let o = try! Sys.open(out, .writeOnly, options: [.create, .truncate])
    let e = try! Sys.open(err, .writeOnly, options: [.create, .truncate])
    var fds: [FileDescriptor?] = [stdin, o, e]
    let highest = extra.keys.max() ?? 2
    while fds.count <= highest { fds.append(nil) }
    for (n, fd) in extra { fds[n] = fd }
    let pid = try! Sys.posixSpawn(
      path: forkctlBinary, arguments: ["forkctl"] + args, environment: environment, fds: fds)
    o.closeQuietly()
    e.closeQuietly()
    let status = try! Sys.waitChild(pid)
    return Outcome(status: status, stdout: readFile(out), stderr: readFile(err))
  }

  /// Runs forkctl and requires exit 0; returns stdout without the final newline.
  @discardableResult
  func ok(_ args: [String], fds: [Int: FileDescriptor] = [:], sourceLocation: SourceLocation = #_sourceLocation)
    -> String
  {
    let r = run(args, fds: fds)
    #expect(
      r.code == 0, "forkctl \(args.joined(separator: " ")) exited \(r.code): \(r.stderr)",
      sourceLocation: sourceLocation)
    var s = r.stdout
    while s.hasSuffix("\n") { s.removeLast() }
    return s
  }

  /// The pid of the daemon, from its pidfile.
  var daemonPID: Int32 {
    Int32(readFile(socket + ".pid").split(separator: "\n").first ?? "") ?? 0
  }

  /// `list --json`, reduced to (id, pid, state, status) per entry.
  func entries() -> [(id: Int, pid: Int32, state: String, status: Int?)] {
    let json = ok(["list", "--json"])
    var out: [(Int, Int32, String, Int?)] = []
    for object in json.split(separator: "{").dropFirst() {
      func field(_ name: String) -> String? {
        let key = Array("\"\(name)\":")
        let chars = Array(object)
        guard chars.count >= key.count else { return nil }
        for i in 0...(chars.count - key.count) where Array(chars[i..<(i + key.count)]) == key {
          return String(chars[(i + key.count)...].prefix { $0 != "," && $0 != "}" }).replacingQuotes()
        }
        return nil
      }
      out.append((Int(field("id")!)!, Int32(field("pid") ?? "") ?? 0, field("state")!, Int(field("status") ?? "")))
    }
    return out
  }

  func pid(of id: String) -> Int32 {
    entries().first { String($0.id) == id }?.pid ?? 0
  }

  deinit {
    _ = run(["shutdown"])
    _ = system("rm -rf '\(dir)'")
  }
}

extension String {
  func replacingQuotes() -> String { String(self.filter { $0 != "\"" }) }
}

// MARK: /proc

/// Descriptor number → what it points to, for a process.
func openDescriptors(_ pid: Int32) -> [Int32: String] {
  var out: [Int32: String] = [:]
  guard let d = opendir("/proc/\(pid)/fd") else { return out }
  defer { closedir(d) }
  while let e = readdir(d) {
    let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    guard let n = Int32(name) else { continue }
    var buf = [CChar](repeating: 0, count: 4096)
    let len = readlink("/proc/\(pid)/fd/\(name)", &buf, 4095)
    out[n] = len > 0 ? String(decoding: buf[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
  }
  return out
}

/// Fields of /proc/PID/stat after the command name: [state, ppid, ...].
func statFields(_ pid: Int32) -> [Substring]? {
  let s = readFile("/proc/\(pid)/stat")
  guard let close = s.lastIndex(of: ")") else { return nil }
  return s[s.index(after: close)...].split(separator: " ")
}

/// Every process id in /proc.
func allProcessIDs() -> [Int32] {
  var out: [Int32] = []
  guard let d = opendir("/proc") else { return out }
  defer { closedir(d) }
  while let e = readdir(d) {
    let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    if let pid = Int32(name) { out.append(pid) }
  }
  return out
}

/// Children of `parent` that are zombies.
func zombieChildren(of parent: Int32) -> [Int32] {
  allProcessIDs().filter { pid in
    guard let f = statFields(pid), f.count > 1 else { return false }
    return f[0] == "Z" && Int32(f[1]) == parent
  }
}

/// The command line of a process as `ps` shows it.
func commandLine(_ pid: Int32) -> String {
  String(readFile("/proc/\(pid)/cmdline").map { $0 == "\0" ? " " : $0 }).trimmingTrailingSpaces()
}

extension String {
  func trimmingTrailingSpaces() -> String {
    var s = self
    while s.last == " " { s.removeLast() }
    return s
  }
}

/// Waits (polling /proc, bounded) until `condition` holds; for states that no event reports
/// to an outside observer, such as another process's exit.
func eventually(_ what: String, timeout: Double = 10, _ condition: () -> Bool) -> Bool {
  var waited = 0.0
  while !condition() {
    if waited >= timeout { return false }
    usleep(10_000)
    waited += 0.01
  }
  return true
}

func isAlive(_ pid: Int32) -> Bool {
  guard let f = statFields(pid) else { return false }
  return f[0] != "Z"
}

/// Processes whose parent is `parent`, zombies included.
func childProcesses(of parent: Int32) -> Set<Int32> {
  Set(
    allProcessIDs().filter { pid in
      guard let f = statFields(pid), f.count > 1 else { return false }
      return Int32(f[1]) == parent
    })
}

/// The descriptors of a daemon that are connections from clients: accepted Unix sockets,
/// which /proc/net/unix lists connected (state 03) under the listening socket's path, where
/// a template's socket pair has no path.
func clientConnections(of pid: Int32) -> [Int32] {
  var connected = Set<Substring>()
  // Num RefCount Protocol Flags Type St Inode Path
  for line in readFile("/proc/net/unix").split(separator: "\n").dropFirst() {
    let f = line.split(separator: " ", omittingEmptySubsequences: true)
    if f.count >= 8 && f[5] == "03" { connected.insert(f[6]) }
  }
  return openDescriptors(pid).compactMap { fd, target in
    guard target.hasPrefix("socket:[") else { return nil }
    return connected.contains(target.dropFirst(8).dropLast()) ? fd : nil
  }.sorted()
}

/// Python for a program that kept its control socket: `frame()` reads one frame from
/// FORKCTL_CONTROL_FD as (type, payload, descriptors), `strings(payload)` decodes a string
/// list (forkctl-protocol(7)).
let controlSocketReader = """
  import os, socket, struct, sys
  s = socket.socket(fileno=int(os.environ["FORKCTL_CONTROL_FD"]))
  def exactly(n, fds):
      # Descriptors arrive with the first byte of the sendmsg that carried them, which
      # is the frame's header: every read must be able to take them.
      out = b""
      while len(out) < n:
          data, got, _, _ = socket.recv_fds(s, n - len(out), 64)
          if not data:
              sys.exit("control socket closed")
          out += data
          fds += got
      return out
  def frame():
      fds = []
      _, kind, nfds, size = struct.unpack("<BBHI", exactly(8, fds))
      data = exactly(size, fds)
      assert len(fds) == nfds, (fds, nfds)
      return kind, data, fds
  def strings(data):
      (count,) = struct.unpack_from("<I", data)
      off, words = 4, []
      for _ in range(count):
          (n,) = struct.unpack_from("<I", data, off)
          words.append(data[off + 4:off + 4 + n])
          off += 4 + n
      return words

  """
