/*
 * forkctl.h: the C interface between forkctl and a library loaded into a template
 * (forkctl(1) load, call, spawn --call; FUNCTION WORKERS). ABI 1.
 *
 * A library loaded with `forkctl load ID LIBRARY [-- ARG...]` may export:
 *
 *   int forkctl_init(int argc, char **argv);
 *     Run once, in the template, right after dlopen(3) with RTLD_NOW: argv is LIBRARY, then
 *     the ARGs. Build here what every worker should share (tables, models, caches): the
 *     workers get it copy-on-write. Return 0; anything else fails the load, and the template
 *     exits with that value. Another name is chosen with `load --init SYMBOL`. Do not start
 *     threads here: a template with more than one thread refuses to fork (seed 003).
 *
 *   int NAME(int argc, char **argv);
 *     A worker's entry, called by `forkctl call ID -- NAME [ARG...]` or `forkctl spawn
 *     --from ID --call NAME [-- ARG...]`: argv is NAME, then the strings sent with send-arg,
 *     then the ARGs, as a program's main would get them. Its return value is the worker's
 *     exit status.
 *
 * What differs from a program exec'd by `run`, since there is no execve(2):
 *   - descriptors: those sent are placed as for a program and 0, 1, 2 are /dev/null when not
 *     sent; descriptors the init opened stay open, and one sent to the same number replaces
 *     it: open yours above the numbers callers send (fcntl(fd, F_DUPFD_CLOEXEC, 100));
 *   - signals: handlers and ignored signals the init set stay; forkctl's own are reset; the
 *     mask and the ignored set are the caller's, as for a program;
 *   - stdio: the template flushes its buffers before each fork, so what the init printed is
 *     written once;
 *   - the end: when NAME returns the worker calls exit(3), so atexit(3) handlers and
 *     destructors run and stdio is flushed, once per worker; with `call --quick-exit` it
 *     calls _exit(2) instead;
 *   - the worker is made by the C library's fork(2): pthread_atfork(3) child handlers run in
 *     it, and its thread identity, robust and priority-inheritance mutexes are its own. Its
 *     parent is the forkctl daemon, not the template.
 *
 * A pool worker (forkctl(1) pool create), a program or a function, reports its state with
 * forkctl_notify below; it needs nothing else from this header.
 */
#ifndef FORKCTL_H
#define FORKCTL_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FORKCTL_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* The shape of forkctl_init and of every worker entry. */
typedef int (*forkctl_entry)(int argc, char **argv);

/* Declared so that a definition with another signature fails to compile. */
int forkctl_init(int argc, char **argv);

/*
 * Not part of the interface: the descriptor number in the environment variable `name`;
 * -1 when it is unset or empty, -2 when it is not a number from 0 to 2^20.
 */
static inline int forkctl_descriptor_from_environment_(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') return -1;
  char *end;
  long n = strtol(v, &end, 10);
  return (*end == '\0' && n >= 0 && n <= 1 << 20) ? (int)n : -2;
}

/*
 * The descriptor of the worker's control socket, kept with `call --keep-control` (or
 * `run --keep-control`), from FORKCTL_CONTROL_FD; -1 without one. Later send-fd and send-arg
 * frames arrive on it (forkctl-protocol(7), COMMANDS).
 */
static inline int forkctl_control_fd(void) {
  int fd = forkctl_descriptor_from_environment_("FORKCTL_CONTROL_FD");
  return fd >= 0 ? fd : -1;
}

/*
 * Sends `message`, sd_notify(3) text of one or more KEY=VALUE lines ("BUSY=1",
 * "READY=1\nSTATUS=warming up"), as one datagram to the pool that started this worker:
 *   - to the descriptor named in FORKCTL_NOTIFY_FD (every pool worker has one), with send(2)
 *     and MSG_NOSIGNAL, so that a pool already gone is an error returned, not a SIGPIPE;
 *   - else to NOTIFY_SOCKET as sd_notify does (a pool created with --notify-socket, or
 *     systemd): a path, or an abstract address when it starts with '@', with sendto(2) on a
 *     socket of its own that it closes before returning.
 * Returns 1 when sent; 0 when neither variable is set (not in a pool: nothing to do, as
 * sd_notify returns 0 outside systemd); -errno on failure (-EBADF for a FORKCTL_NOTIFY_FD
 * that is not a descriptor number, -EAFNOSUPPORT for a NOTIFY_SOCKET that is neither a path
 * nor '@', -ENAMETOOLONG for one longer than sun_path). It allocates nothing and leaves
 * errno as it found it, so it can be called between a system call and the check of its
 * errno. It reads the environment with getenv(3): not from a signal handler, nor while
 * another thread changes the environment.
 */
static inline int forkctl_notify(const char *message) {
  int saved = errno, result = 1;
  size_t length = strlen(message);
  int fd = forkctl_descriptor_from_environment_("FORKCTL_NOTIFY_FD");
  const char *address = getenv("NOTIFY_SOCKET");
  if (fd >= 0) {
    while (send(fd, message, length, MSG_NOSIGNAL) < 0) {
      if (errno != EINTR) {
        result = -errno;
        break;
      }
    }
  } else if (fd == -2) {
    result = -EBADF;
  } else if (address == NULL || address[0] == '\0') {
    result = 0;
  } else if (address[0] != '/' && address[0] != '@') {
    result = -EAFNOSUPPORT;
  } else if (strlen(address) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    result = -ENAMETOOLONG;
  } else {
    struct sockaddr_un to;
    size_t n = strlen(address);
    memset(&to, 0, sizeof to);
    to.sun_family = AF_UNIX;
    memcpy(to.sun_path, address, n);
    /* An abstract address has no terminating NUL: its length is part of the name
       (unix(7), "abstract"), and systemd's NOTIFY_SOCKET=@name counts none. */
    if (address[0] == '@') to.sun_path[0] = '\0';
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (address[0] == '/'));
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      result = -errno;
    } else {
      while (sendto(s, message, length, MSG_NOSIGNAL, (const struct sockaddr *)&to, size) < 0) {
        if (errno != EINTR) {
          result = -errno;
          break;
        }
      }
      close(s); /* never retried on EINTR: the descriptor is gone either way (close(2)) */
    }
  }
  errno = saved;
  return result;
}

#ifdef __cplusplus
}
#endif

#endif /* FORKCTL_H */
