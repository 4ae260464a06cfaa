// Pseudo-terminals and the terminal ioctls, which Swift cannot call (ioctl is variadic).
#define _GNU_SOURCE
#include "forkctl_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

int forkctl_open_pty(int *master, int *slave) {
  // O_NOCTTY: opening a terminal must never make it forkctl's controlling terminal
  // (open(2)); O_CLOEXEC: neither end may leak into anything forkctl executes.
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return -1;
  if (grantpt(m) < 0 || unlockpt(m) < 0) goto fail;
  // TIOCGPTPEER (Linux 4.13) opens the slave of this very master, with no path to look up
  // that a container's /dev/pts could make name another one (ioctl_tty(2)); before it,
  // ptsname's path.
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    char name[128];
    if (ptsname_r(m, name, sizeof(name)) != 0) goto fail;
    do {
      s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    } while (s < 0 && errno == EINTR);
    if (s < 0) goto fail;
  }
  *master = m;
  *slave = s;
  return 0;
fail:;
  int saved = errno;
  close(m);
  errno = saved;
  return -1;
}

int forkctl_get_window_size(int fd, unsigned short size[4]) {
  struct winsize w;
  if (ioctl(fd, TIOCGWINSZ, &w) < 0) return -1;
  size[0] = w.ws_row;
  size[1] = w.ws_col;
  size[2] = w.ws_xpixel;
  size[3] = w.ws_ypixel;
  return 0;
}

int forkctl_set_window_size(int fd, const unsigned short size[4]) {
  struct winsize w = {.ws_row = size[0], .ws_col = size[1], .ws_xpixel = size[2], .ws_ypixel = size[3]};
  return ioctl(fd, TIOCSWINSZ, &w);
}

void forkctl_stop_self(int sig) {
  // The signal is blocked for the signalfd: raised, it stays pending until unblocked here,
  // and then takes its default action, stop, before sigprocmask returns (sigprocmask(2):
  // "at least one [unblocked pending signal] is delivered before the call returns"). A
  // SIGCONT resumes the process right there, and the signal is blocked again.
  struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
  sigaction(sig, &dfl, &old);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  raise(sig);
  sigprocmask(SIG_UNBLOCK, &one, NULL);
  sigprocmask(SIG_BLOCK, &one, NULL);
  sigaction(sig, &old, NULL);
}

int forkctl_device_number(const char *path, uint64_t *device) {
  struct stat st;
  if (stat(path, &st) < 0) return -1;
  *device = st.st_rdev;
  return 0;
}

long forkctl_read_syscall_number(void) { return SYS_read; }
