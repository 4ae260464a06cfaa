// The host scripts as the daemon hands them to an interpreter: one sealed memfd per language,
// made when the first host of that language starts and kept, close-on-exec, for every later one
// (each host opens /proc/self/fd/4 afresh, so they share no file offset).
import ForkctlSys
import ForkctlWire

extension HostLanguage {
  /// The script's file name, in Hosts/LANGUAGE/ of the sources and in FORKCTL_HOST_SCRIPT_DIR.
  var scriptFileName: String {
    switch self {
    case .python: return "forkctl_host.py"
    case .perl: return "forkctl_host.pl"
    }
  }

  /// The script embedded in the daemon (Scripts/embed-hosts).
  var embeddedScript: String {
    switch self {
    case .python: return HostScripts.python
    case .perl: return HostScripts.perl
    }
  }
}

extension EventLoop {
  /// For tests only (forkctl(1) ENVIRONMENT): in the environment a client sends with exec, a
  /// directory whose forkctl_host.py or forkctl_host.pl that host runs instead of the script
  /// embedded in the daemon. It gives the client no power it lacks: it names the interpreter.
  static let hostScriptDirectoryVariable = Array("FORKCTL_HOST_SCRIPT_DIR=".utf8)
  /// The largest host script read from that directory.
  static let hostScriptLimit = 16 << 20

  /// The sealed file holding the script `host` runs, and whether it is the caller's to close
  /// (one read for this host alone) rather than the loop's (the embedded script's, kept).
  func hostScript(_ host: HostSpec) throws(Errno) -> (fd: FileDescriptor, temporary: Bool) {
    let language = host.language
    let prefix = Self.hostScriptDirectoryVariable
    if let entry = host.environment.last(where: { $0.starts(with: prefix) }), entry.count > prefix.count {
      let directory = String(decoding: entry[prefix.count...], as: UTF8.self)
      let file = try Sys.open("\(directory)/\(language.scriptFileName)", .readOnly)
      defer { file.closeQuietly() }
      let contents = try file.readAll(limit: Self.hostScriptLimit)
      return (try Sys.sealedFile(name: "forkctl-host-\(language.name)", contents: contents), true)
    }
    if let fd = hostScripts[language] { return (fd, false) }
    let fd = try Sys.sealedFile(name: "forkctl-host-\(language.name)", contents: Array(language.embeddedScript.utf8))
    hostScripts[language] = fd
    return (fd, false)
  }
}
