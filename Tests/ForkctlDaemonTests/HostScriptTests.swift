// The host scripts embedded in the daemon are the ones in Hosts/, byte for byte: a script edited
// without Scripts/embed-hosts fails here rather than ship a daemon that runs the old one.
import ForkctlSys
import Testing

@testable import ForkctlDaemon

@Suite struct HostScriptTests {
  /// The repository's root, from this file's path (Tests/ForkctlDaemonTests/THIS).
  static var root: String {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
  }

  static func read(_ path: String) throws -> String {
    let fd = try Sys.open("\(root)/\(path)", .readOnly)
    defer { fd.closeQuietly() }
    return String(decoding: try fd.readAll(limit: 16 << 20), as: UTF8.self)
  }

  @Test("HostScripts.swift holds Hosts/python/forkctl_host.py and Hosts/perl/forkctl_host.pl as they are")
  func embeddedScriptsMatch() throws {
    #expect(HostScripts.python == (try Self.read("Hosts/python/forkctl_host.py")), "run Scripts/embed-hosts")
    #expect(HostScripts.perl == (try Self.read("Hosts/perl/forkctl_host.pl")), "run Scripts/embed-hosts")
  }

  @Test("Scripts/embed-hosts --check agrees that the Swift file is up to date")
  func generatorAgrees() throws {
    let pid = try Sys.posixSpawn(
      path: "\(Self.root)/Scripts/embed-hosts", arguments: ["embed-hosts", "--check"],
      environment: ["PATH=/usr/bin:/bin"], fds: [nil, nil, FileDescriptor.standardError])
    #expect(try Sys.waitChild(pid).exitCode == 0)
  }
}
