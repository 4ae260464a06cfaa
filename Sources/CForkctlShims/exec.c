// The child side of starting a program: the exec path a forked worker runs, and the vfork
// sibling that runs it on the template's memory. From fork (or clone) to execve only
// async-signal-safe calls (signal-safety(7)): nothing that can take a lock another thread held.
#define _GNU_SOURCE
#include "forkctl_shims.h"
#include "child.h"
#include "kernel.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int exec_with_shell(const char *file, char *const argv[], char *const envp[], char **space) {
  // execvp(3): a file that is not a recognised executable format is run by the shell. Its
  // argv goes on the stack when it fits, else in `space` (room for argc + 2 pointers, given
  // by forkctl_vfork_sibling, whose child runs on the template's memory: nothing it
  // allocates there may outlive it), else from malloc in a process of its own, which execs
  // or exits.
  size_t argc = 0;
  while (argv[argc]) argc++;
  char *small[256];
  char **shargv = argc + 2 <= 256 ? small : (space ? space : malloc((argc + 2) * sizeof(char *)));
  if (!shargv) return ENOMEM;
  shargv[0] = (char *)"/bin/sh";
  shargv[1] = (char *)file;
  for (size_t i = 1; i <= argc; i++) shargv[i + 1] = argv[i];
  execve("/bin/sh", shargv, envp);
  int e = errno;
  if (shargv != small && shargv != space) free(shargv);
  return e;
}

static int exec_search(const char *file, char *const argv[], char *const envp[], const char *path, char **space) {
  if (file[0] == 0) return ENOENT;
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    if (errno == ENOEXEC) return exec_with_shell(file, argv, envp, space);
    // execve(2) says EACCES for a directory; a shell says what it is. stat is
    // async-signal-safe (signal-safety(7)).
    struct stat st;
    if (errno == EACCES && stat(file, &st) == 0 && S_ISDIR(st.st_mode)) return EISDIR;
    return errno;
  }
  if (!path) path = "/bin:/usr/bin";
  size_t flen = strlen(file);
  if (flen > NAME_MAX) return ENAMETOOLONG;
  int seen_eacces = 0;
  char buf[PATH_MAX + NAME_MAX + 2];
  const char *p = path;
  for (;;) {
    const char *end = strchrnul(p, ':');
    size_t dlen = (size_t)(end - p);
    if (dlen + flen + 2 <= sizeof(buf)) {
      // An empty PATH element means the current directory (execvp(3)).
      if (dlen == 0) {
        memcpy(buf, file, flen + 1);
      } else {
        memcpy(buf, p, dlen);
        buf[dlen] = '/';
        memcpy(buf + dlen + 1, file, flen + 1);
      }
      // A failing execve copies argv and the environment first: a missing file is
      // skipped more cheaply with a lookup alone, with execve's own errno.
      if (access(buf, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
        if (*end == 0) break;
        p = end + 1;
        continue;
      }
      execve(buf, argv, envp);
      switch (errno) {
        case EACCES:
          seen_eacces = 1;
          break;
        case ENOENT:
        case ENOTDIR:
        case ESTALE:
        case ENODEV:
        case ETIMEDOUT:
        case ELOOP:
        case ENAMETOOLONG:
          break;
        case ENOEXEC:
          return exec_with_shell(buf, argv, envp, space);
        default:
          return errno;
      }
    }
    if (*end == 0) break;
    p = end + 1;
  }
  return seen_eacces ? EACCES : ENOENT;
}

static void reset_signal_actions(void) {
  // An ignored signal stays ignored across exec (signal(7)), so whatever this process ignores
  // would silently reach the program; and a handler must not run in a child that shares the
  // template's memory (forkctl_vfork_sibling) before exec. Ask the kernel directly: glibc's
  // sigaction refuses the two real-time signals it keeps for itself (32, 33), which the
  // Swift runtime ignores.
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct kernel_sigaction old;
    if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) != 0) continue;
    if (old.handler != SIG_DFL) {
      struct kernel_sigaction dfl = {.handler = SIG_DFL};
      syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
    }
  }
}

// Limits every capability set to the caller's masks (capabilities(7)): the bounding set
// first and the ambient set next, while this process may still hold CAP_SETPCAP, then the
// permitted, effective and inheritable sets with capset, which only ever lowers them here.
static int limit_capabilities(const struct forkctl_attributes *a) {
  for (int cap = 0; cap < 64; cap++) {
    if (a->cap_bounding & (1ull << cap)) continue;
    // EINVAL: no such capability on this kernel, nothing to drop.
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return errno;
  }
  for (int cap = 0; cap < 64; cap++) {
    if (a->cap_ambient & (1ull << cap)) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1 &&
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, cap, 0, 0) != 0)
      return errno;
  }
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) != 0) return errno;
  uint64_t refilled = 0, kept = 0;
  for (int i = 0; i < 2; i++) {
    data[i].permitted &= (uint32_t)(a->cap_permitted >> (32 * i));
    data[i].effective &= (uint32_t)(a->cap_effective >> (32 * i));
    data[i].inheritable &= (uint32_t)(a->cap_inheritable >> (32 * i));
    refilled |= (uint64_t)data[i].inheritable << (32 * i);
    kept |= (uint64_t)(data[i].permitted & data[i].effective) << (32 * i);
  }
  for (int cap = 0; cap < 64; cap++)
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) refilled |= 1ull << cap;
  // A process of user id 0 gets its whole bounding and inheritable sets back at execve
  // (capabilities(7), "Capabilities and execution of programs by root"), so the permitted and
  // effective sets lowered here would not outlive the exec. A caller held below them may have
  // SECBIT_NOROOT, which /proc does not show: the program gets it too, and with it only its
  // ambient set and a file's own capabilities, never more than the caller's. Set before
  // capset, while CAP_SETPCAP is still effective (PR_SET_SECUREBITS, prctl(2)).
  if ((getuid() == 0 || geteuid() == 0) && (refilled & ~kept) != 0) {
    int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    if (bits < 0 || prctl(PR_SET_SECUREBITS, bits | SECBIT_NOROOT, 0, 0, 0) != 0) return errno;
  }
  if (syscall(SYS_capset, &header, data) != 0) return errno;
  return 0;
}

// The caller's attributes that a direct child would have inherited (fork(2), execve(2)).
// Called after the descriptors are placed: a caller's low RLIMIT_NOFILE must not stop a
// descriptor from reaching a number above it, as an inherited one would be. Every call is a
// bare system call (signal-safety(7) lists umask, setsid, setpgid; the others take no lock).
// `calling` (forkctl_prepare_call): the program is a function of a library loaded in this
// process, which goes on running glibc's code, so the program's process under a monitor is a
// glibc fork(), and a signal the library handles keeps its handler.
int forkctl_apply_attributes(const struct forkctl_attributes *a, int calling) {
  if (a && (a->flags & FORKCTL_ATTR_NEW_SESSION_TTY)) {
    // setsid fails with EPERM in a process group leader: a process object forked by the
    // template already leads its own group, so only a spawn's new process can do this.
    if (setsid() < 0) return FORKCTL_FAILURE(FORKCTL_STEP_SESSION, errno);
    if (ioctl(0, TIOCSCTTY, 0) < 0) return FORKCTL_FAILURE(FORKCTL_STEP_CONTROLLING_TERMINAL, errno);
    // This process stays the session leader, a monitor; the program goes on in its child.
    int e = forkctl_monitor_start(calling);
    if (e) return FORKCTL_FAILURE(FORKCTL_STEP_SESSION, e);
  } else {
    // Its own process group, which a forked process object already has (then a no-op): a
    // program's kill(0, ...) cannot reach the daemon, and signals forwarded by spawn reach
    // the program's children as a terminal's would.
    setpgid(0, 0);
  }
  if (!a) {
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
    return 0;
  }
  // Limits before the nice value: the caller's RLIMIT_NICE may be what allows its nice value.
  // A hard limit above this process's needs CAP_SYS_RESOURCE (setrlimit(2): EPERM); without
  // it the limit is lowered to this process's hard limit, the soft one with it: the program
  // never gets more than the daemon could give, nor more than the caller has.
  for (int i = 0; i < a->nlimits; i++) {
    int resource = a->limits[i].resource;
    struct rlimit lim = {.rlim_cur = a->limits[i].soft, .rlim_max = a->limits[i].hard};
    if (setrlimit(resource, &lim) == 0) continue;
    struct rlimit own;
    if (errno != EPERM || getrlimit(resource, &own) != 0) return FORKCTL_FAILURE(FORKCTL_STEP_RLIMIT + resource, errno);
    if (lim.rlim_max > own.rlim_max) lim.rlim_max = own.rlim_max;
    if (lim.rlim_cur > lim.rlim_max) lim.rlim_cur = lim.rlim_max;
    if (setrlimit(resource, &lim) != 0) return FORKCTL_FAILURE(FORKCTL_STEP_RLIMIT + resource, errno);
  }
  // A nice value lower than this process's needs CAP_SYS_NICE or a high enough RLIMIT_NICE
  // (setpriority(2): EACCES); without them the program keeps this process's, for the same
  // reason.
  if (setpriority(PRIO_PROCESS, 0, a->nice) != 0 && errno != EACCES && errno != EPERM)
    return FORKCTL_FAILURE(FORKCTL_STEP_NICE, errno);
  umask((mode_t)a->umask);
  if ((a->flags & FORKCTL_ATTR_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return FORKCTL_FAILURE(FORKCTL_STEP_NO_NEW_PRIVS, errno);
  if (a->flags & FORKCTL_ATTR_DROP_CAPABILITIES) {
    int e = limit_capabilities(a);
    if (e) return FORKCTL_FAILURE(FORKCTL_STEP_CAPABILITIES, e);
  }
  // Every action is SIG_DFL already (reset_signal_actions); an ignored signal stays ignored
  // across exec, as it would for the caller's direct child (signal(7)). A handler a loaded
  // library installed is what a program's own would be after exec: it stays.
  for (int sig = 1; sig <= 64; sig++) {
    if (!(a->ignored_signals & (1ull << (sig - 1)))) continue;
    struct kernel_sigaction old;
    if (calling && syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 && old.handler != SIG_DFL)
      continue;
    struct kernel_sigaction ign = {.handler = SIG_IGN};
    if (syscall(SYS_rt_sigaction, sig, &ign, NULL, sizeof(uint64_t)) != 0)
      return FORKCTL_FAILURE(FORKCTL_STEP_SIGNALS, errno);
  }
  // Last: the mask is inherited across exec (sigprocmask(2)). The raw call, because glibc's
  // sigprocmask silently leaves out signals 32 and 33.
  uint64_t mask = a->blocked_signals;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof(mask)) != 0)
    return FORKCTL_FAILURE(FORKCTL_STEP_SIGNALS, errno);
  return 0;
}

// The highest descriptor number the fallback below examines when /proc is not mounted: a
// process with a larger RLIMIT_NOFILE would spend too long in fcntl calls that fail.
#define FORKCTL_CLOEXEC_SCAN_LIMIT 65536

void forkctl_mark_cloexec_from(int low) {
  // Only async-signal-safe calls: this runs between fork or vfork and exec. open, fcntl and
  // close are in signal-safety(7); getdents64 and getrlimit are bare system calls.
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    // Each record is a struct linux_dirent64 (getdents64(2)): d_ino, d_off, d_reclen,
    // d_type, then the NUL-terminated name, here a descriptor number or "." or "..".
    _Alignas(8) char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
      for (long off = 0; off < n;) {
        unsigned short reclen;
        memcpy(&reclen, buf + off + 16, sizeof(reclen));
        const char *name = buf + off + 19;
        off += reclen;
        if (name[0] < '0' || name[0] > '9') continue;
        int fd = 0;
        for (const char *c = name; *c >= '0' && *c <= '9'; c++) fd = fd * 10 + (*c - '0');
        if (fd >= low && fd != dir) fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
    }
    close(dir);
    if (n == 0) return;
  }
  struct rlimit lim;
  int bound = FORKCTL_CLOEXEC_SCAN_LIMIT;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < (rlim_t)bound) bound = (int)lim.rlim_cur;
  for (int fd = low; fd < bound; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int forkctl_place_descriptors(const struct forkctl_fd_move *moves, int nmoves, int *keep, int nkeep, int calling,
                              int *highest_target) {
  int highest = 2;
  for (int i = 0; i < nmoves; i++)
    if (moves[i].target > highest) highest = moves[i].target;
  *highest_target = highest;

  // First lift every source, and everything we keep, above the highest target, so that
  // placing one descriptor can never overwrite another still to be placed. The sources
  // first: a descriptor kept may be a source too (a call's received descriptors, which it
  // closes once placed).
  int lifted[nmoves > 0 ? nmoves : 1];
  for (int i = 0; i < nmoves; i++) {
    lifted[i] = fcntl(moves[i].src, F_DUPFD_CLOEXEC, highest + 1);
    if (lifted[i] < 0) return errno;
  }
  for (int i = 0; i < nkeep; i++) {
    int k = fcntl(keep[i], F_DUPFD_CLOEXEC, highest + 1);
    if (k < 0) return errno;
    close(keep[i]);
    keep[i] = k;
  }
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return errno;
  int lifted_null = fcntl(devnull, F_DUPFD_CLOEXEC, highest + 1);
  if (lifted_null < 0) return errno;
  close(devnull);

  for (int t = 0; t <= highest; t++) {
    int source = -1;
    // The last descriptor sent for a target wins, as a later redirection does in a shell.
    for (int i = 0; i < nmoves; i++)
      if (moves[i].target == t) source = lifted[i];
    if (source < 0 && t <= 2) source = lifted_null;
    if (source >= 0) {
      // dup2 clears FD_CLOEXEC on the new descriptor (dup(2)).
      if (dup2(source, t) < 0) return errno;
    } else if (!calling) {
      close(t);
    }
  }
  // Before an exec the lifted copies are close-on-exec; a call has no exec to close them.
  if (calling) {
    for (int i = 0; i < nmoves; i++) close(lifted[i]);
    close(lifted_null);
  }
  return 0;
}

static int exec_worker(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd, const char *file,
                       char *const argv[], char *const envp[], const char *path, int *keep, int nkeep,
                       const struct forkctl_attributes *attributes, char **shell_space) {
  // Actions first, the mask last (forkctl_apply_attributes): a signal let through can only
  // meet its default action.
  reset_signal_actions();

  if (cwd_fd >= 0 && fchdir(cwd_fd) < 0) return FORKCTL_FAILURE(FORKCTL_STEP_WORKING_DIRECTORY, errno);

  int highest;
  int e = forkctl_place_descriptors(moves, nmoves, keep, nkeep, 0, &highest);
  if (e) return e;
  // Nothing above the targets survives exec: the lifted copies and our own sockets are
  // close-on-exec already; this catches anything that is not. close_range's
  // CLOSE_RANGE_CLOEXEC needs Linux 5.11 (close_range(2)); before that, mark them one by one.
  if (syscall(SYS_close_range, (unsigned)(highest + 1), ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    forkctl_mark_cloexec_from(highest + 1);

  int failed = forkctl_apply_attributes(attributes, 0);
  if (failed) return failed;
  return exec_search(file, argv, envp, path, shell_space);
}

int forkctl_exec_worker(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd,
                        const char *file, char *const argv[], char *const envp[],
                        const char *path, int *keep, int nkeep,
                        const struct forkctl_attributes *attributes) {
  return exec_worker(moves, nmoves, cwd_fd, file, argv, envp, path, keep, nkeep, attributes, NULL);
}

struct vfork_sibling_args {
  const struct forkctl_fd_move *moves;
  int nmoves, cwd_fd;
  const char *file;
  char *const *argv;
  char *const *envp;
  const char *path;
  int *keep;
  int nkeep;
  const struct forkctl_attributes *attributes;
  char **shell_space;
  int announce_fd;
  const unsigned char *announcement;
  int announcement_size, pid_offset;
  int failure;
  // With a terminal: the pipe the failure is written to, instead of `failure`.
  int report;
};

static void announce(const struct vfork_sibling_args *a) {
  // The pid goes out before anything else, while the announcement descriptor is still the
  // one the caller named: whatever then happens to the caller, the reader knows of this
  // process before it can run a program. send is async-signal-safe (signal-safety(7));
  // MSG_NOSIGNAL, as the signal actions are not reset yet. A failed send leaves the
  // caller's own report to say it.
  if (a->announce_fd < 0 || a->announcement_size > 64) return;
  unsigned char message[64];
  memcpy(message, a->announcement, (size_t)a->announcement_size);
  uint32_t pid = (uint32_t)syscall(SYS_getpid);
  for (int i = 0; i < 4; i++) message[a->pid_offset + i] = (unsigned char)(pid >> (8 * i));
  ssize_t n;
  do {
    n = send(a->announce_fd, message, (size_t)a->announcement_size, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

static int vfork_sibling_child(void *p) {
  struct vfork_sibling_args *a = p;
  announce(a);
  if (a->report >= 0) {
    // Kept with the template's own descriptors, lifted above every target; close-on-exec, so
    // the parent reads end of file once the program has exec'd (the monitor closes its own).
    int keep[a->nkeep + 1];
    for (int i = 0; i < a->nkeep; i++) keep[i] = a->keep[i];
    keep[a->nkeep] = a->report;
    int e = exec_worker(a->moves, a->nmoves, a->cwd_fd, a->file, a->argv, a->envp, a->path, keep, a->nkeep + 1,
                        a->attributes, a->shell_space);
    while (write(keep[a->nkeep], &e, sizeof(e)) < 0 && errno == EINTR) {}
    _exit(e == ENOENT ? 127 : 126);
  }
  int e = exec_worker(a->moves, a->nmoves, a->cwd_fd, a->file, a->argv, a->envp, a->path, a->keep, a->nkeep,
                      a->attributes, a->shell_space);
  // The parent is suspended until this exits, and shares this memory: it reads the failure.
  a->failure = e;
  _exit(e == ENOENT ? 127 : 126);
}

// The child's stack while it shares the template's memory; the template is single-threaded
// and suspended meanwhile, so one static stack is enough.
static char vfork_sibling_stack[256 * 1024] __attribute__((aligned(16)));

pid_t forkctl_vfork_sibling(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd, const char *file,
                            char *const argv[], char *const envp[], const char *path, int *keep, int nkeep,
                            const struct forkctl_attributes *attributes, int announce_fd,
                            const unsigned char *announcement, int announcement_size, int pid_offset,
                            int *failure) {
  // Room for the shell's argv (exec_with_shell) beyond what its stack holds, mapped here and
  // unmapped once the child has exec'd or exited: a mapping the child made itself would stay
  // in the template's memory, shared until exec, for ever (issue 11 item 10).
  size_t argc = 0;
  while (argv[argc]) argc++;
  char **shell_space = NULL;
  size_t shell_bytes = (argc + 2) * sizeof(char *);
  if (argc + 2 > 256) {
    void *m = mmap(NULL, shell_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -1;
    shell_space = m;
  }
  // As posix_spawn does: no signal may reach a handler in the child, which runs on the
  // template's memory until exec; the child resets every action before it unblocks.
  sigset_t all, old;
  sigfillset(&all);
  // With a terminal the new process lives on as the monitor of the program (monitor.c), and
  // must not hold the template suspended on its memory meanwhile: it gets a copy of its own,
  // a plain fork, and reports the outcome of execve through a close-on-exec pipe.
  int report[2] = {-1, -1};
  int flags = CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD;
  if (attributes && (attributes->flags & FORKCTL_ATTR_NEW_SESSION_TTY)) {
    if (pipe2(report, O_CLOEXEC) != 0) {
      int saved = errno;
      if (shell_space) munmap(shell_space, shell_bytes);
      errno = saved;
      return -1;
    }
    flags = CLONE_PARENT | SIGCHLD;
  }
  sigprocmask(SIG_SETMASK, &all, &old);
  struct vfork_sibling_args a = {.moves = moves,
                                 .nmoves = nmoves,
                                 .cwd_fd = cwd_fd,
                                 .file = file,
                                 .argv = argv,
                                 .envp = envp,
                                 .path = path,
                                 .keep = keep,
                                 .nkeep = nkeep,
                                 .attributes = attributes,
                                 .shell_space = shell_space,
                                 .announce_fd = announce_fd,
                                 .announcement = announcement,
                                 .announcement_size = announcement_size,
                                 .pid_offset = pid_offset,
                                 .failure = 0,
                                 .report = report[1]};
  pid_t pid = clone(vfork_sibling_child, vfork_sibling_stack + sizeof(vfork_sibling_stack), flags, &a);
  int saved = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (report[1] >= 0) {
    // End of file without a failure: the program has exec'd, or clone failed.
    close(report[1]);
    ssize_t n;
    while ((n = read(report[0], &a.failure, sizeof(a.failure))) < 0 && errno == EINTR) {}
    if (n != (ssize_t)sizeof(a.failure)) a.failure = 0;
    close(report[0]);
  }
  if (shell_space) munmap(shell_space, shell_bytes);
  if (pid < 0) {
    errno = saved;
    return -1;
  }
  *failure = a.failure;
  return pid;
}
