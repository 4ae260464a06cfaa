// forkctl: the command line. Argument parsing only; the work is in ForkctlClient (requests),
// ForkctlDaemon (the daemon) and ForkctlTemplate (the hidden template role).
import ForkctlSys
import ForkctlTemplate

// The daemon starts templates as `forkctl __template ID`: this role is decided before any
// parsing, so a template runs nothing but its own loop.
if CommandLine.argc == 3, String(cString: CommandLine.unsafeArgv[1]!) == "__template" {
  Template.main(id: String(cString: CommandLine.unsafeArgv[2]!))
}

// Before forkctl opens anything (a signalfd, its working directory, its daemon connection):
// each takes the lowest free number, which would then pass for the caller's own.
_ = Caller.descriptors

Forkctl.main(Sys.rawArguments(last: Int(CommandLine.argc)))
