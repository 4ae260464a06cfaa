// The session leader of a spawned program's pseudo-terminal, as sudo's use_pty monitor is.
// The daemon, the worker's parent, is in another session: a program that led the terminal's
// session itself would be in an orphaned process group, where the kernel discards the
// SIGTSTP, SIGTTIN and SIGTTOU that would stop it (POSIX.1-2017 XSH 2.4.3; kernel/signal.c),
// so Ctrl-Z in vim would do nothing. The worker instead stays the session leader, holding the
// controlling terminal, and forks the program into a process group of its own in the
// terminal's foreground; the program's parent is then in its session and another group, and
// its group is not orphaned.
//
// Runs after a plain fork of the single-threaded template, between fork and exec: only
// async-signal-safe calls (signal-safety(7)) or bare system calls, no allocation.
#define _GNU_SOURCE
#include "forkctl_shims.h"
#include "kernel.h"
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Ends the monitor with the program's `status`: the same exit code, or death by the same
// signal. Dumping is turned off first (PR_SET_DUMPABLE, prctl(2)): the core is the program's,
// and a core of this copy of the template would overwrite it. The core flag of the status is
// therefore lost (forkctl.1, BUGS).
static void _Noreturn exit_like(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  struct kernel_sigaction dfl = {.handler = SIG_DFL};
  syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
  kill(getpid(), sig);
  uint64_t only = 1ull << (sig - 1);
  syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &only, NULL, sizeof(only));
  _exit(128 + sig);
}

// Sends `sig` to the program's process group, as a terminal would, or to the program alone
// once it has left that group.
static void relay(pid_t program, int sig) {
  if (kill(-program, sig) != 0) kill(program, sig);
}

static void _Noreturn monitor(pid_t program) {
  // The program may run before this: both make its group, whichever is first (setpgid(2)).
  setpgid(program, program);
  // Nothing of the program's stays open here but the terminal on 0, which tcsetpgrp needs: a
  // pipe the program was given must reach end of file when the program closes it.
  if (syscall(SYS_close_range, 1u, ~0U, 0u) != 0)
    for (int fd = 1; fd < 1024; fd++) close(fd);
  // Every signal is blocked since forkctl_vfork_sibling: each is taken here, in order, with
  // sigwaitinfo, and SIGTTOU cannot stop tcsetpgrp from this background group (tcsetpgrp(3)).
  sigset_t all;
  sigfillset(&all);
  for (;;) {
    int sig = sigwaitinfo(&all, NULL);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      int status;
      pid_t r;
      while ((r = waitpid(program, &status, WNOHANG | WUNTRACED)) == program) {
        if (!WIFSTOPPED(status)) exit_like(status);
        // The program stopped: stop too, with SIGSTOP, since this group is orphaned. The
        // client sees this process stopped in /proc, stops itself the same way, and sends
        // SIGCONT here when its shell continues it.
        kill(getpid(), SIGSTOP);
      }
      continue;
    }
    if (sig == SIGCONT) {
      // Continued (`fg`): the program's group back in the terminal's foreground, then on.
      tcsetpgrp(0, program);
      relay(program, SIGCONT);
      continue;
    }
    relay(program, sig);
  }
}

int forkctl_monitor_start(int glibc_fork) {
  pid_t leader = getpid();
  // The raw system call, as forkctl_clone_parent: no fork handler of glibc's runs here. A
  // function of a loaded library runs in the child instead of a program, and needs what only
  // glibc's fork() gives it (its atfork handlers, its own thread id in pthread_self()).
  pid_t pid = glibc_fork ? fork() : (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return errno;
  if (pid > 0) monitor(pid);
  // The program: its own group, in the terminal's foreground before it can read it.
  if (setpgid(0, 0) != 0 || tcsetpgrp(0, getpid()) != 0) return errno;
  // The daemon's SIGKILL reaches only the monitor's group (a forwarded or `kill` signal is
  // relayed, SIGKILL cannot be): the program dies with it, as it would have without one.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return errno;
  if (getppid() != leader) _exit(128 + SIGKILL);
  return 0;
}
