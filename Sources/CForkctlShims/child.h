// What the exec path (exec.c) and the call path (call.c) share, private to this target.
#ifndef FORKCTL_CHILD_H
#define FORKCTL_CHILD_H

#include "forkctl_shims.h"

// The caller's process attributes applied in a new worker (exec.c): a process group or, with
// FORKCTL_ATTR_NEW_SESSION_TTY, a session and its monitor; limits, nice value, umask,
// no_new_privs, capabilities, ignored signals, the mask last. `calling` 1 for a worker that
// calls a loaded library's function: its monitor forks with glibc's fork(), and a signal the
// library handles is not set to SIG_IGN. Returns 0 or FORKCTL_FAILURE(step, errno).
int forkctl_apply_attributes(const struct forkctl_attributes *a, int calling);

// Places `moves` (a source on its target; the last for a target wins) and /dev/null on any of
// 0, 1, 2 not a target, lifting every source and the `nkeep` descriptors of `keep` above the
// highest target first (their new numbers written back to `keep`, close-on-exec). Before an
// exec (`calling` 0) every other descriptor up to the highest target is closed and the lifted
// copies are left to exec; for a call (1) nothing else is touched and the copies are closed.
// `*highest_target` gets the highest target, at least 2. Returns 0 or an errno.
int forkctl_place_descriptors(const struct forkctl_fd_move *moves, int nmoves, int *keep, int nkeep, int calling,
                              int *highest_target);

#endif
