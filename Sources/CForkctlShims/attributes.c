// The queries a client makes of its own process attributes, to send them with a spawn
// (ProcessAttributes), and the core limit it drops before re-raising a program's signal.
#define _GNU_SOURCE
#include "forkctl_shims.h"
#include "kernel.h"
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

uint64_t forkctl_ignored_signals(void) {
  uint64_t set = 0;
  for (int sig = 1; sig <= 64; sig++) {
    struct kernel_sigaction old;
    if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 && old.handler == SIG_IGN)
      set |= 1ull << (sig - 1);
  }
  return set;
}

uint64_t forkctl_blocked_signals(void) {
  uint64_t set = 0;
  // The raw call answers in the kernel's 64-bit set, the wire's form; glibc's sigset_t is
  // 1024 bits.
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &set, sizeof(set));
  return set;
}

int forkctl_get_rlimit(int resource, uint64_t *soft, uint64_t *hard) {
  struct rlimit lim;
  if (getrlimit(resource, &lim) != 0) return -1;
  *soft = lim.rlim_cur;
  *hard = lim.rlim_max;
  return 0;
}

int forkctl_set_rlimit(int resource, uint64_t soft, uint64_t hard) {
  struct rlimit lim = {.rlim_cur = soft, .rlim_max = hard};
  return setrlimit(resource, &lim);
}

int forkctl_get_nice(int *nice) {
  // -1 is a valid nice value: only errno tells a failure (getpriority(2)).
  errno = 0;
  int n = getpriority(PRIO_PROCESS, 0);
  if (n == -1 && errno != 0) return -1;
  *nice = n;
  return 0;
}
