// What a service manager gives the daemon: the listening socket, by socket activation
// (sd_listen_fds(3)), and where to say it is ready, by NOTIFY_SOCKET (sd_notify(3)). Both are
// taken from the environment before anything forks, and taken out of it, so that no
// template or worker sees them.
import ForkctlSys

/// The listening socket a service manager passed, and the path it is bound to.
public struct ActivatedSocket: Sendable {
  public let fd: FileDescriptor
  /// From getsockname(2): the path clients connect to, whatever --socket said.
  public let path: String

  /// The socket passed by socket activation, made non-blocking as the daemon's own is; nil
  /// when none was passed to this process. Of several, the one named `forkctl`
  /// (FileDescriptorName= in the .socket unit); the others are closed.
  public static func take() throws(DaemonStartError) -> ActivatedSocket? {
    let passed = ServiceManager.takeListenDescriptors()
    if passed.isEmpty { return nil }
    let chosen = passed.count == 1 ? passed[0] : passed.first { $0.name == "forkctl" }
    // LISTEN_FDS may count descriptors that are not open (a wrong unit, a hand-made
    // environment): closing one of those is no bug of ours.
    for p in passed where p.fd != chosen?.fd && p.fd.isOpen { p.fd.closeQuietly() }
    func refuse(_ why: String) -> DaemonStartError {
      if let fd = chosen?.fd, fd.isOpen { fd.closeQuietly() }
      return DaemonStartError(
        message: "cannot use the socket passed by socket activation: \(why)", alreadyRunning: false)
    }
    guard let chosen else {
      let names = passed.map(\.name).joined(separator: ", ")
      throw refuse("\(passed.count) descriptors came (\(names)) and none is named forkctl (FileDescriptorName=forkctl)")
    }
    if let problem = UnixSocket.listeningSocketProblem(chosen.fd) {
      throw refuse("\(problem); forkctl needs a ListenStream= of a path")
    }
    let path: String?
    do {
      path = try UnixSocket.boundPath(chosen.fd)
      try chosen.fd.setNonblocking(true)
    } catch {
      throw refuse(Sys.describe(error))
    }
    guard let path else { throw refuse("it is not bound to a path (an abstract or unbound socket)") }
    return ActivatedSocket(fd: chosen.fd, path: path)
  }
}
