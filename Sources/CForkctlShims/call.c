// The system side of a function worker: a template that has loaded a library forks with
// glibc's own fork() (from a helper, so that the worker is still adopted by the daemon), and
// the worker is prepared as the exec path prepares a program, without the exec.
#define _GNU_SOURCE
#include "child.h"
#include "forkctl_shims.h"
#include "kernel.h"
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

// The actions of signals 1 to 64 before the first library was loaded, bit n-1 of
// `recorded_set` for signal n when recorded.
static struct kernel_sigaction recorded_actions[64];
static uint64_t recorded_set;
static int recorded;

void forkctl_record_signal_actions(void) {
  if (recorded) return;
  recorded = 1;
  // The raw call, as reset_signal_actions in exec.c: glibc's sigaction refuses 32 and 33.
  for (int sig = 1; sig <= 64; sig++)
    if (syscall(SYS_rt_sigaction, sig, NULL, &recorded_actions[sig - 1], sizeof(uint64_t)) == 0)
      recorded_set |= 1ull << (sig - 1);
}

// What exec would reset (signal(7): handlers become SIG_DFL), limited to what this process
// set up itself: the Swift runtime's crash handlers (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP,
// SIGABRT, SIGQUIT) and signals 32 and 33, which posix_spawn leaves ignored. An action that
// differs from the one recorded before the first load is the library's: it stays, as the
// handlers a program installs after its exec would.
static void reset_own_signal_actions(void) {
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    int known = (recorded_set & (1ull << (sig - 1))) != 0;
    // Recorded at its default: whatever it is now, the library set it. Only the few this
    // process set itself are looked at (a worker is on the path of every call).
    if (known && recorded_actions[sig - 1].handler == SIG_DFL) continue;
    struct kernel_sigaction now;
    if (syscall(SYS_rt_sigaction, sig, NULL, &now, sizeof(uint64_t)) != 0 || now.handler == SIG_DFL) continue;
    if (known) {
      const struct kernel_sigaction *before = &recorded_actions[sig - 1];
      if (now.handler != before->handler || now.flags != before->flags || now.mask != before->mask) continue;
    }
    struct kernel_sigaction dfl = {.handler = SIG_DFL};
    syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
  }
}

int forkctl_prepare_call(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd, int *close_fds, int nclose,
                         char **envp, const struct forkctl_attributes *attributes, const char *name) {
  // Every signal blocked until the caller's mask is set, the last step (forkctl_apply_attributes):
  // no handler runs meanwhile, and a terminal's monitor expects them all blocked.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  reset_own_signal_actions();

  if (cwd_fd >= 0 && fchdir(cwd_fd) < 0) return FORKCTL_FAILURE(FORKCTL_STEP_WORKING_DIRECTORY, errno);

  // forkctl's own descriptors are lifted with the sources, so that a target can take their
  // numbers, and stay open until every step has succeeded: the caller reports a failure
  // through them. Descriptors the library opened (in its init) are its state, and stay.
  int highest;
  int e = forkctl_place_descriptors(moves, nmoves, close_fds, nclose, 1, &highest);
  if (e) return e;

  int failed = forkctl_apply_attributes(attributes, 1);
  if (failed) return failed;

  if (envp) environ = envp;
  // Before the close: the daemon, seeing end of file on the control socket or status pipe,
  // reads the name to tell a program that started from a process that died (Sys.hasExecuted).
  prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
  for (int i = 0; i < nclose; i++) close(close_fds[i]);
  return 0;
}

// The caller's place to come back to, and what the helper leaves for it. The helper writes
// these fields in the caller's memory (CLONE_VM) before the caller resumes.
struct adoption {
  sigjmp_buf back;
  volatile pid_t helper;
  volatile pid_t child;
  volatile int error;
};

static int adoption_helper(void *p) {
  struct adoption *a = p;
  // Before the fork, so that the new process has it in its own copy.
  a->helper = (pid_t)syscall(SYS_getpid);
  // glibc's fork() as if the suspended caller had called it: this helper runs on the caller's
  // memory and thread descriptor (clone without CLONE_SETTLS keeps the thread pointer), so
  // the child's tid is written there (CLONE_CHILD_SETTID in _Fork), and glibc resets its
  // locks and lists for the one thread that goes on.
  pid_t pid = fork();
  if (pid == 0) siglongjmp(a->back, 1);
  a->child = pid;
  a->error = pid < 0 ? errno : 0;
  // exit_group(2) of a process of its own (no CLONE_THREAD): only this helper ends; the new
  // process is orphaned and adopted by the nearest subreaper.
  _exit(0);
}

// The helper's stack is an array in this frame, below the one sigsetjmp saved in
// forkctl_fork_adopted (noinline), so that the new process's siglongjmp goes up the stack
// (glibc's longjmp_chk refuses to go down; Chromium's base::ForkWithFlags, crbug 442912).
__attribute__((noinline)) static pid_t clone_helper(struct adoption *a) {
  // Enough for glibc's fork() and the atfork prepare and parent handlers, which run here; it
  // lies in the caller's stack, below its frames, which the suspended caller does not use.
  char stack[128 * 1024] __attribute__((aligned(16)));
  return clone(adoption_helper, stack + sizeof(stack), CLONE_VM | CLONE_VFORK, a);
}

pid_t forkctl_fork_adopted(void) {
  struct adoption a = {.helper = 0, .child = -1, .error = 0};
  // Saves the caller's mask, which siglongjmp restores in the new process (a plain setjmp
  // would leave every signal blocked there).
  if (sigsetjmp(a.back, 1)) {
    // The new process, on the caller's stack. Its parent is the helper until the helper has
    // exited; wait for that, so that the subreaper is its parent when this returns (it has
    // reaped nothing of ours: the helper's only work left is the parent handlers and _exit).
    while ((pid_t)syscall(SYS_getppid) == a.helper) sched_yield();
    return 0;
  }
  // As posix_spawn does: no handler of the caller's may run in the helper, on the caller's
  // memory. The exit signal 0 keeps the helper from a SIGCHLD handler and from a wait that
  // is not for clone children (__WALL, wait(2)).
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  pid_t helper = clone_helper(&a);
  int e = errno;
  if (helper > 0) {
    int status;
    // The vfork wait ends when the helper's memory is released, before it is reparenting its
    // child; once reaped it has, and the child's parent is the subreaper (exit_notify).
    while (waitpid(helper, &status, __WALL) < 0 && errno == EINTR) {}
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (helper < 0) {
    errno = e;
    return -1;
  }
  if (a.child < 0) {
    // No error of fork's: the helper was killed (SIGKILL) before it could fork.
    errno = a.error ? a.error : ECHILD;
    return -1;
  }
  return a.child;
}

int forkctl_has_dynamic_loader(void) { return getauxval(AT_BASE) != 0; }
