// Sealed files (issue 14): the language hosts' scripts, which the daemon hands each host on
// descriptor 4 as a read-only memfd that nobody can change once sealed (memfd_create(2),
// fcntl(2) F_ADD_SEALS). Apart from shims.c, whose concern is processes and descriptors.
#define _GNU_SOURCE
#include "forkctl_shims.h"

#include <fcntl.h>
#include <sys/mman.h>

int forkctl_memfd_create(const char *name) {
  return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

int forkctl_seal_read_only(int fd) {
  return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
}
