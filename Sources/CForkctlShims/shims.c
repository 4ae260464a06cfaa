#define _GNU_SOURCE
#include "forkctl_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The header spells these out so that Swift, which cannot see _GNU_SOURCE macros, can use them.
_Static_assert(FORKCTL_EPOLLIN == EPOLLIN && FORKCTL_EPOLLOUT == EPOLLOUT && FORKCTL_EPOLLERR == EPOLLERR &&
                   FORKCTL_EPOLLHUP == EPOLLHUP && FORKCTL_EPOLLRDHUP == EPOLLRDHUP,
               "epoll event bits");
_Static_assert(FORKCTL_EPOLL_CTL_ADD == EPOLL_CTL_ADD && FORKCTL_EPOLL_CTL_DEL == EPOLL_CTL_DEL &&
                   FORKCTL_EPOLL_CTL_MOD == EPOLL_CTL_MOD,
               "epoll_ctl operations");
_Static_assert(FORKCTL_POLLRDHUP == POLLRDHUP, "POLLRDHUP");

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

ssize_t forkctl_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                              int nonblocking) {
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr msg = {0};
  union {
    char buf[CMSG_SPACE(sizeof(int) * FORKCTL_CMSG_MAX_FDS)];
    struct cmsghdr align;
  } u;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    if (nfds > FORKCTL_CMSG_MAX_FDS) {
      errno = EINVAL;
      return -1;
    }
    msg.msg_control = u.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  return sendmsg(sock, &msg, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
}

ssize_t forkctl_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds,
                              int *overflow, int nonblocking) {
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr msg = {0};
  union {
    char buf[CMSG_SPACE(sizeof(int) * FORKCTL_CMSG_MAX_FDS)];
    struct cmsghdr align;
  } u;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof(u.buf);
  *nfds = 0;
  *overflow = 0;
  // MSG_CMSG_CLOEXEC: a descriptor is close-on-exec from the moment it enters this process,
  // so no exec anywhere can leak it (recvmsg(2), unix(7)).
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0));
  if (n < 0) return n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char *data = CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, data + i * sizeof(int), sizeof(int));
      if (*nfds < maxfds) {
        fds[(*nfds)++] = fd;
      } else {
        close(fd);
        *overflow = 1;
      }
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) *overflow = 1;
  return n;
}

pid_t forkctl_clone_parent(void) {
  // CLONE_PARENT makes the new process a child of the template's parent, the daemon, which
  // then reaps it with waitid and learns its exact status even after the template is gone
  // (clone(2)). The raw system call skips glibc's fork(): no atfork handlers run, and
  // glibc's cached thread id in the child still holds the template's. The template is
  // single-threaded (checked before every call) and the child only reads commands and
  // execs, so neither matters: glibc >= 2.34 raise() asks the kernel for the tid, and no
  // robust or PI mutex is ever contended in a single-threaded process.
  return (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL, NULL, NULL, 0UL);
}

int forkctl_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL); }

void forkctl_set_cloexec(int fd) { fcntl(fd, F_SETFD, FD_CLOEXEC); }

int forkctl_set_nonblocking(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return fcntl(fd, F_SETFL, flags);
}

int forkctl_fd_flags(int fd) { return fcntl(fd, F_GETFD); }

int forkctl_thread_count(void) {
  // /proc/self/stat: "pid (comm) state ppid ..." where comm may hold spaces and parentheses,
  // so parse from the last ')'. num_threads is field 20 (proc(5)).
  char buf[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p++;
  // After ')' come fields 3.. separated by single spaces; num_threads is the 18th of them.
  int field = 2;
  while (*p && field < 20) {
    if (*p == ' ') field++;
    p++;
  }
  if (field != 20) return -1;
  return atoi(p);
}

int forkctl_wifexited(int status) { return WIFEXITED(status); }
int forkctl_wexitstatus(int status) { return WEXITSTATUS(status); }
int forkctl_wifsignaled(int status) { return WIFSIGNALED(status); }
int forkctl_wtermsig(int status) { return WTERMSIG(status); }
int forkctl_wcoredump(int status) { return WCOREDUMP(status); }

static int exec_with_shell(const char *file, char *const argv[], char *const envp[]) {
  // execvp(3): a file that is not a recognised executable format is run by the shell.
  // On the stack when it fits: after forkctl_vfork_sibling this runs on the template's
  // memory, where a malloc would outlive the exec as a leak in the template.
  size_t argc = 0;
  while (argv[argc]) argc++;
  char *small[256];
  char **shargv = argc + 2 <= 256 ? small : malloc((argc + 2) * sizeof(char *));
  if (!shargv) return ENOMEM;
  shargv[0] = (char *)"/bin/sh";
  shargv[1] = (char *)file;
  for (size_t i = 1; i <= argc; i++) shargv[i + 1] = argv[i];
  execve("/bin/sh", shargv, envp);
  int e = errno;
  if (shargv != small) free(shargv);
  return e;
}

static int exec_search(const char *file, char *const argv[], char *const envp[], const char *path) {
  if (file[0] == 0) return ENOENT;
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    if (errno == ENOEXEC) return exec_with_shell(file, argv, envp);
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
          return exec_with_shell(buf, argv, envp);
        default:
          return errno;
      }
    }
    if (*end == 0) break;
    p = end + 1;
  }
  return seen_eacces ? EACCES : ENOENT;
}

// The kernel's struct sigaction for rt_sigaction on x86-64 and arm64 (no sa_restorer use).
struct kernel_sigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

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

int forkctl_exec_worker(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd,
                        const char *file, char *const argv[], char *const envp[],
                        const char *path, int *keep, int nkeep) {
  // Actions first, then the mask: a signal let through can only meet its default action.
  reset_signal_actions();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  if (cwd_fd >= 0 && fchdir(cwd_fd) < 0) return errno;

  int highest = 2;
  for (int i = 0; i < nmoves; i++)
    if (moves[i].target > highest) highest = moves[i].target;

  // First lift every source, and everything we keep, above the highest target, so that
  // placing one descriptor can never overwrite another still to be placed.
  for (int i = 0; i < nkeep; i++) {
    int k = fcntl(keep[i], F_DUPFD_CLOEXEC, highest + 1);
    if (k < 0) return errno;
    close(keep[i]);
    keep[i] = k;
  }
  int lifted[nmoves > 0 ? nmoves : 1];
  for (int i = 0; i < nmoves; i++) {
    lifted[i] = fcntl(moves[i].src, F_DUPFD_CLOEXEC, highest + 1);
    if (lifted[i] < 0) return errno;
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
    } else {
      close(t);
    }
  }
  // Nothing above the targets survives exec: the lifted copies and our own sockets are
  // close-on-exec already; this catches anything that is not. close_range's
  // CLOSE_RANGE_CLOEXEC needs Linux 5.11 (close_range(2)); before that, mark them one by one.
  if (syscall(SYS_close_range, (unsigned)(highest + 1), ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    forkctl_mark_cloexec_from(highest + 1);

  return exec_search(file, argv, envp, path);
}

int forkctl_posix_spawn(const char *path, char *const argv[], char *const envp[], const int *fds,
                  int fd_count, int setsid_flag, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int lifted[fd_count > 0 ? fd_count : 1];
  int rc = 0;
  for (int i = 0; i < fd_count; i++) lifted[i] = -1;
  for (int i = 0; i < fd_count; i++) {
    if (fds[i] < 0) continue;
    lifted[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, fd_count);
    if (lifted[i] < 0) {
      rc = errno;
      goto out_lifted;
    }
  }
  if ((rc = posix_spawn_file_actions_init(&fa))) goto out_lifted;
  if ((rc = posix_spawnattr_init(&attr))) goto out_fa;
  for (int i = 0; i < fd_count && rc == 0; i++) {
    if (lifted[i] < 0)
      rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
    else
      rc = posix_spawn_file_actions_adddup2(&fa, lifted[i], i);
  }
  // Everything of ours is close-on-exec already; closefrom makes "nothing else inherited"
  // hold even for a descriptor some library opened without O_CLOEXEC (glibc 2.34).
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, fd_count);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (setsid_flag) flags |= POSIX_SPAWN_SETSID;
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawn(pid, path, &fa, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
out_fa:
  posix_spawn_file_actions_destroy(&fa);
out_lifted:
  for (int i = 0; i < fd_count; i++)
    if (lifted[i] >= 0) close(lifted[i]);
  return rc;
}

static void fill_set(sigset_t *set, const int *sigs) {
  sigemptyset(set);
  for (const int *s = sigs; *s; s++) sigaddset(set, *s);
}

int forkctl_block_signals(const int *sigs) {
  sigset_t set;
  fill_set(&set, sigs);
  return sigprocmask(SIG_BLOCK, &set, NULL);
}

int forkctl_signalfd(const int *sigs) {
  sigset_t set;
  fill_set(&set, sigs);
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int forkctl_read_signalfd(int fd) {
  struct signalfd_siginfo si;
  ssize_t n;
  do {
    n = read(fd, &si, sizeof(si));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN ? 0 : -1;
  if (n != sizeof(si)) return -1;
  return (int)si.ssi_signo;
}

void forkctl_reraise(int sig) {
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
}

int forkctl_dup3_cloexec(int fd, int target) { return dup3(fd, target, O_CLOEXEC); }

int forkctl_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int forkctl_open_current_directory(void) { return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC); }

int forkctl_accept(int listener) { return accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

int forkctl_peer_credentials(int sock, pid_t *pid, uid_t *uid, gid_t *gid) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
  *pid = cred.pid;
  *uid = cred.uid;
  *gid = cred.gid;
  return 0;
}

void forkctl_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int forkctl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int forkctl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
  struct epoll_event ev = {.events = events, .data.u64 = token};
  return epoll_ctl(epfd, op, fd, &ev);
}

int forkctl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms) {
  struct epoll_event evs[128];
  if (max > 128) max = 128;
  int n = epoll_wait(epfd, evs, max, timeout_ms);
  for (int i = 0; i < n; i++) {
    tokens[i] = evs[i].data.u64;
    events[i] = evs[i].events;
  }
  return n;
}

int forkctl_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  errno = ENOSYS;
  return -1;
#endif
}

extern char **environ;
char **forkctl_environ(void) { return environ; }

struct vfork_sibling_args {
  const struct forkctl_fd_move *moves;
  int nmoves, cwd_fd;
  const char *file;
  char *const *argv;
  char *const *envp;
  const char *path;
  int *keep;
  int nkeep;
  int exec_errno;
};

static int vfork_sibling_child(void *p) {
  struct vfork_sibling_args *a = p;
  setpgid(0, 0);
  int e = forkctl_exec_worker(a->moves, a->nmoves, a->cwd_fd, a->file, a->argv, a->envp, a->path, a->keep, a->nkeep);
  // The parent is suspended until this exits, and shares this memory: it reads the errno.
  a->exec_errno = e;
  _exit(e == ENOENT ? 127 : 126);
}

// The child's stack while it shares the template's memory; the template is single-threaded
// and suspended meanwhile, so one static stack is enough.
static char vfork_sibling_stack[256 * 1024] __attribute__((aligned(16)));

pid_t forkctl_vfork_sibling(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd, const char *file,
                            char *const argv[], char *const envp[], const char *path, int *keep, int nkeep,
                            int *exec_errno) {
  // As posix_spawn does: no signal may reach a handler in the child, which runs on the
  // template's memory until exec; the child resets every action before it unblocks.
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  struct vfork_sibling_args a = {moves, nmoves, cwd_fd, file, argv, envp, path, keep, nkeep, 0};
  pid_t pid = clone(vfork_sibling_child, vfork_sibling_stack + sizeof(vfork_sibling_stack),
                    CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, &a);
  int saved = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    errno = saved;
    return -1;
  }
  *exec_errno = a.exec_errno;
  return pid;
}
