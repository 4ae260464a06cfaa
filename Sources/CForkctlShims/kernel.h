// Kernel structures that glibc does not expose, shared by the C files of this target.
#ifndef FORKCTL_KERNEL_H
#define FORKCTL_KERNEL_H

#include <stdint.h>

// The kernel's struct sigaction for rt_sigaction on x86-64 and arm64 (no sa_restorer use).
// Used through syscall(SYS_rt_sigaction, ...): glibc's sigaction refuses the two real-time
// signals it keeps for itself (32, 33).
struct kernel_sigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

struct forkctl_attributes;
struct forkctl_fd_move;

// Lifts every source of `moves` (copies into `lifted`) and every descriptor of `keep` (moved,
// new numbers written back) above the highest target, all close-on-exec. Returns the
// highest target (at least 2), or -errno.
int forkctl_lift_descriptors(const struct forkctl_fd_move *moves, int nmoves, int *lifted, int *keep, int nkeep);

// The caller's attributes, applied before exec or a call (exec.c): a process group of its
// own or a session, limits, nice, umask, no_new_privs, capabilities, ignored signals, the
// mask. Returns 0 or FORKCTL_FAILURE(step, errno).
int forkctl_apply_attributes(const struct forkctl_attributes *a);

#endif
