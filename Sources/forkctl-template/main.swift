// forkctl-template: the template role alone (`forkctl-template __template ID`), the image the
// daemon starts templates from when it finds one (ForkctlDaemon/TemplateImage.swift). Unlike
// the release forkctl it is linked dynamically against glibc, so that a library dlopen'ed
// into a template shares the process's one C library, its malloc and its atfork handlers.
import ForkctlSys
import ForkctlTemplate

guard CommandLine.argc == 3, String(cString: CommandLine.unsafeArgv[1]!) == "__template" else {
  Sys.printError("usage: forkctl-template __template ID (the forkctl daemon starts it)")
  Sys.exitImmediately(64)
}
Template.main(id: String(cString: CommandLine.unsafeArgv[2]!))
