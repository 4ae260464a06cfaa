#ifndef FORKCTL_BENCH_H
#define FORKCTL_BENCH_H

#include <sys/types.h>

/// fork(2), then execve(2) of `path` in the child (which exits 127 if that fails): how a
/// program starts another one the classic way, copying its own page tables. Scripts/bench
/// measures it against forkctl; forkctl itself never calls it. Returns the pid or -1.
pid_t forkctl_fork_exec(const char *path, char *const argv[], char *const envp[]);

#endif
