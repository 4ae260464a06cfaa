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
 */
#ifndef FORKCTL_H
#define FORKCTL_H

#include <stdlib.h>

#define FORKCTL_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* The shape of forkctl_init and of every worker entry. */
typedef int (*forkctl_entry)(int argc, char **argv);

/* Declared so that a definition with another signature fails to compile. */
int forkctl_init(int argc, char **argv);

/*
 * The descriptor of the worker's control socket, kept with `call --keep-control` (or
 * `run --keep-control`), from FORKCTL_CONTROL_FD; -1 without one. Later send-fd and send-arg
 * frames arrive on it (forkctl-protocol(7), COMMANDS).
 */
static inline int forkctl_control_fd(void) {
  const char *v = getenv("FORKCTL_CONTROL_FD");
  if (v == NULL || *v == '\0') return -1;
  char *end;
  long n = strtol(v, &end, 10);
  return (*end == '\0' && n >= 0 && n <= 1 << 20) ? (int)n : -1;
}

#ifdef __cplusplus
}
#endif

#endif /* FORKCTL_H */
