// C for forkctl-bench only, kept out of the product's shim (CForkctlShims).
#include "forkctl_bench.h"

#include <unistd.h>

pid_t forkctl_fork_exec(const char *path, char *const argv[], char *const envp[]) {
  pid_t pid = fork();
  // The child of a fork may only make async-signal-safe calls (fork(2)): execve and _exit.
  if (pid == 0) {
    execve(path, argv, envp);
    _exit(127);
  }
  return pid;
}
