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

#endif
