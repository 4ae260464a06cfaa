#ifndef FORKCTL_CLIBBSD_SHIM_H
#define FORKCTL_CLIBBSD_SHIM_H
// libbsd without the overlay, so that its headers do not shadow glibc's for other modules.
#include <bsd/unistd.h>
#include <bsd/libutil.h>

// setproctitle is variadic and cannot be called from Swift. A format that starts with '-'
// drops the "prog: " prefix (setproctitle(3bsd)).
static inline void forkctl_setproctitle(const char *title) {
  setproctitle("-%s", title);
}
#endif
