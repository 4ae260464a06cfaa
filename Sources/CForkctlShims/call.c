// The worker of a template that holds code (issue 12): made by the C library's fork(), so
// that library code in it finds what glibc's fork sets up (atfork child handlers, its own
// thread id in pthread_self(), an empty robust-mutex list), yet adopted by the subreaper
// daemon; and prepared for a function call as the exec path prepares a program, without
// the exec. next-capabilities.md 1.2-1.8.
#define _GNU_SOURCE
#include "forkctl_shims.h"
#include "kernel.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// Where the new worker comes back to: the caller's frame in forkctl_fork_adopted, on the
// caller's stack, as the worker's copy of it. One at a time: a template is single-threaded.
static sigjmp_buf adopted_return;

struct adopted_fork {
  pid_t child;
  int error;
};

// The helper's stack, in the template's memory; only one helper runs at a time, and the
// template is suspended meanwhile (CLONE_VFORK). The libraries' atfork prepare and parent
// handlers run on it, hence as much as a thread's minimum stack and more; untouched pages
// cost nothing.
static char helper_stack[256 * 1024] __attribute__((aligned(16)));

static int adopted_fork_helper(void *p) {
  struct adopted_fork *a = p;
  pid_t pid = fork();
  // The worker: back to the template's own stack (its copy), out of this one. glibc's
  // longjmp checks that the stack only grows back upwards, which it does: this static
  // stack lies below the main thread's.
  if (pid == 0) siglongjmp(adopted_return, 1);
  a->child = pid;
  a->error = pid < 0 ? errno : 0;
  _exit(0);
}

pid_t forkctl_fork_adopted(void) {
  // Every signal blocked while the helper runs on the template's memory, as for the vfork
  // sibling; each side restores the caller's mask (sigsetjmp without saving it: the mask the
  // worker restores is `old`, from this frame).
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  volatile struct adopted_fork a = {.child = -1, .error = 0};
  if (sigsetjmp(adopted_return, 0) != 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
  }
  // Not CLONE_PARENT: the helper is this process's child, reaped here, so the daemon never
  // sees it; its child, the worker, is orphaned when it exits and adopted by the nearest
  // subreaper.
  pid_t helper = clone(adopted_fork_helper, helper_stack + sizeof(helper_stack), CLONE_VM | CLONE_VFORK | SIGCHLD,
                       (void *)&a);
  int saved = errno;
  if (helper > 0) {
    // Once the helper is a zombie its child has been handed to the subreaper
    // (exit_notify reparents before it signals the parent).
    int status;
    while (waitpid(helper, &status, __WALL) < 0 && errno == EINTR) {}
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (helper < 0) {
    errno = saved;
    return -1;
  }
  if (a.child < 0) {
    errno = a.error ? a.error : EAGAIN;
    return -1;
  }
  return a.child;
}

// The signal actions this process had before any library was loaded: forkctl's own (the
// Swift runtime's crash handlers among them), which a worker must not keep.
static void (*own_actions[65])(int);
static int own_actions_recorded;

void forkctl_record_signal_actions(void) {
  for (int sig = 1; sig <= 64; sig++) {
    struct kernel_sigaction old;
    if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0) own_actions[sig] = old.handler;
  }
  own_actions_recorded = 1;
}

// Every action still as this process had it before it loaded code goes back to SIG_DFL, as
// exec would reset it; one a library installed since stays. Raw calls, as in exec.c, for
// the signals glibc keeps for itself.
static void reset_own_signal_actions(void) {
  if (!own_actions_recorded) return;
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || own_actions[sig] == SIG_DFL) continue;
    struct kernel_sigaction now;
    if (syscall(SYS_rt_sigaction, sig, NULL, &now, sizeof(uint64_t)) != 0 || now.handler != own_actions[sig]) continue;
    struct kernel_sigaction dfl = {.handler = SIG_DFL};
    syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
  }
}

int forkctl_prepare_call(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd, char *const envp[],
                         const int *close_fds, int nclose, int *keep, int nkeep,
                         const struct forkctl_attributes *attributes, const char *name) {
  if (cwd_fd >= 0 && fchdir(cwd_fd) < 0) return FORKCTL_FAILURE(FORKCTL_STEP_WORKING_DIRECTORY, errno);

  int lifted[nmoves > 0 ? nmoves : 1];
  int highest = forkctl_lift_descriptors(moves, nmoves, lifted, keep, nkeep);
  if (highest < 0) return -highest;
  // forkctl's own descriptors go: those received, the old control socket. Closed before the
  // placing, so that a target they held is free; the library's descriptors stay.
  for (int i = 0; i < nclose; i++) close(close_fds[i]);
  int null_fd = -1;
  for (int t = 0; t <= highest; t++) {
    int source = -1;
    // The last descriptor sent for a target wins, as a later redirection does in a shell.
    for (int i = 0; i < nmoves; i++)
      if (moves[i].target == t) source = lifted[i];
    if (source < 0 && t <= 2) {
      if (null_fd < 0) null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null_fd < 0) return errno;
      source = null_fd;
    }
    // A number no descriptor was sent for stays as it is: it may be the library's.
    if (source >= 0 && dup2(source, t) < 0) return errno;
  }
  for (int i = 0; i < nmoves; i++) close(lifted[i]);
  if (null_fd >= 0) close(null_fd);

  reset_own_signal_actions();
  int failed = forkctl_apply_attributes(attributes);
  if (failed) return failed;
  // The environment, as exec would give it: environ replaced by copies (the strings the
  // caller passed live only for this call).
  if (clearenv() != 0) return ENOMEM;
  for (int i = 0; envp[i]; i++) {
    char *copy = strdup(envp[i]);
    if (!copy || putenv(copy) != 0) return ENOMEM;
  }
  // Named as exec would name it, without the '/' of a process object: the daemon reads
  // that the function started (Sys.hasExecuted).
  prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
  return 0;
}

int forkctl_has_dynamic_loader(void) { return getauxval(AT_BASE) != 0; }

int forkctl_thread_names(char *buf, int size, int grace_ms) {
  // Waits up to grace_ms for threads that are exiting (Android's zygote does the same), then
  // lists /proc/self/task/*/comm, the main thread first, one name per line.
  for (int waited = 0;; waited += 5) {
    int n = forkctl_thread_count();
    if (n <= 1 || waited >= grace_ms) break;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  DIR *dir = opendir("/proc/self/task");
  if (!dir) return -1;
  int used = 0;
  pid_t self = getpid();
  // The main thread first: its task id is the pid.
  for (int pass = 0; pass < 2; pass++) {
    rewinddir(dir);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      int is_main = atoi(e->d_name) == self;
      if (is_main != (pass == 0)) continue;
      char path[64], name[32];
      snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t len = read(fd, name, sizeof(name) - 1);
      close(fd);
      if (len <= 0) continue;
      if (name[len - 1] == '\n') len--;
      if (used + len + 1 > size) break;
      memcpy(buf + used, name, (size_t)len);
      used += (int)len;
      buf[used++] = '\n';
    }
  }
  closedir(dir);
  return used;
}
