import CLibBSD
import Glibc

extension Sys {
  /// Sets the text `ps` shows for this process. setproctitle_init must have run first.
  /// The corresponding C function is `setproctitle`.
  public static func setProcessTitle(_ title: String) { forkctl_setproctitle(title) }

  /// Prepares setproctitle: libbsd moves the environment away so the title can use the
  /// space of argv and environ (setproctitle(3bsd)). The corresponding C function is `setproctitle_init`.
  public static func initializeProcessTitle() {
    setproctitle_init(CommandLine.argc, CommandLine.unsafeArgv, environ)
  }
}
