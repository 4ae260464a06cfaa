#define _GNU_SOURCE
#include "forkctl_shims.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The header spells these out so that Swift, which cannot see _GNU_SOURCE macros, can use them.
_Static_assert(FORKCTL_EPOLLIN == EPOLLIN && FORKCTL_EPOLLOUT == EPOLLOUT && FORKCTL_EPOLLERR == EPOLLERR &&
                   FORKCTL_EPOLLHUP == EPOLLHUP && FORKCTL_EPOLLRDHUP == EPOLLRDHUP &&
                   FORKCTL_EPOLLONESHOT == EPOLLONESHOT,
               "epoll event bits");
_Static_assert(FORKCTL_EPOLL_CTL_ADD == EPOLL_CTL_ADD && FORKCTL_EPOLL_CTL_DEL == EPOLL_CTL_DEL &&
                   FORKCTL_EPOLL_CTL_MOD == EPOLL_CTL_MOD,
               "epoll_ctl operations");
_Static_assert(FORKCTL_POLLRDHUP == POLLRDHUP, "POLLRDHUP");

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

pid_t forkctl_exited_child(pid_t pid, int *wstatus) {
  siginfo_t info;
  info.si_pid = 0;
  // WNOWAIT leaves the child a zombie (waitid(2)), so its pid names it, and no other
  // process, until it is reaped.
  if (waitid(pid > 0 ? P_PID : P_ALL, (id_t)(pid > 0 ? pid : 0), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
  // The status as waitpid would encode it, for the W* macros (wait(2)).
  if (info.si_code == CLD_EXITED) {
    *wstatus = (info.si_status & 0xff) << 8;
  } else {
    *wstatus = (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
  }
  return info.si_pid;
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

// Reads a /proc stat file (one read: the kernel writes it whole) into `buf`, NUL-terminated;
// -1 when it cannot be opened or is empty.
static int read_stat(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n;
  do {
    n = read(fd, buf, size - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  return 0;
}

int forkctl_thread_count(void) {
  // /proc/self/stat: "pid (comm) state ppid ..." where comm may hold spaces and parentheses,
  // so parse from the last ')'. num_threads is field 20 (proc(5)).
  char buf[1024];
  if (read_stat("/proc/self/stat", buf, sizeof(buf)) < 0) return -1;
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

void forkctl_set_process_name(const char *name) { prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL); }

int forkctl_has_executed(pid_t pid) {
  // /proc/PID/stat: "pid (comm) state ...", comm as the process last set it (proc(5)).
  char path[32], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  if (read_stat(path, buf, sizeof(buf)) < 0) return -1;
  char *open_paren = strchr(buf, '(');
  char *close_paren = strrchr(buf, ')');
  if (!open_paren || !close_paren || close_paren[1] != ' ') return -1;
  // execve names the process after the base name of the file it ran, which has no '/',
  // while a process object names itself with one.
  if (memchr(open_paren + 1, '/', (size_t)(close_paren - open_paren - 1)) == NULL) return 1;
  // Still its own name: it died (a zombie, or exiting: PF_EXITING, 0x4, in the flags, field
  // 9, is set before exit closes its descriptors), or it is in execve, which closes
  // close-on-exec descriptors just before it renames the process.
  char state = close_paren[2];
  if (state == 'Z' || state == 'X') return 0;
  const char *p = close_paren + 2;
  for (int field = 3; field < 9; field++) {
    p = strchr(p, ' ');
    if (!p) return -1;
    p++;
  }
  unsigned long flags = strtoul(p, NULL, 10);
  return (flags & 0x4) ? 0 : 1;
}

int forkctl_peer_gone_unread(int fd) {
  struct pollfd p = {.fd = fd, .events = FORKCTL_POLLRDHUP};
  int n;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0 || !(p.revents & (FORKCTL_POLLRDHUP | POLLHUP))) return 0;
  // The peer's last bytes may still wait to be read (unix(7): FIONREAD, SIOCINQ).
  int unread = 0;
  if (ioctl(fd, FIONREAD, &unread) != 0) return 0;
  return unread == 0;
}

int forkctl_group_has_other_members(pid_t group) {
  // Every /proc/PID/stat whose process group (field 5) is `group`, the leader excepted.
  DIR *proc = opendir("/proc");
  if (!proc) return -1;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(proc))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == group) continue;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n;
    do {
      n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    // After "(comm) ": state, ppid, pgrp.
    char *p = strrchr(buf, ')');
    long pgrp = -1;
    if (p && sscanf(p + 1, " %*c %*d %ld", &pgrp) == 1 && pgrp == group) found = 1;
  }
  closedir(proc);
  return found;
}

int forkctl_wifexited(int status) { return WIFEXITED(status); }
int forkctl_wexitstatus(int status) { return WEXITSTATUS(status); }
int forkctl_wifsignaled(int status) { return WIFSIGNALED(status); }
int forkctl_wtermsig(int status) { return WTERMSIG(status); }
int forkctl_wcoredump(int status) { return WCOREDUMP(status); }


int forkctl_posix_spawn(const char *path, char *const argv[], char *const envp[], const int *fds,
                  int fd_count, int detach, pid_t *pid) {
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
  if (detach == FORKCTL_SPAWN_NEW_SESSION) flags |= POSIX_SPAWN_SETSID;
  // Process group 0: the new process's own pid (posix_spawnattr_setpgroup(3)).
  if (detach == FORKCTL_SPAWN_NEW_GROUP) flags |= POSIX_SPAWN_SETPGROUP;
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

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

int forkctl_peer_pidfd(int sock) {
  int fd = -1;
  socklen_t len = sizeof(fd);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) < 0) return -1;
  return fd;
}

int forkctl_pidfd_send_signal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
  errno = ENOSYS;
  return -1;
#endif
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
