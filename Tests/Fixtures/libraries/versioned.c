/* A pool's function worker whose code says which build it is: `pool reload` must load the
   library anew (PoolReloadTests). Built with -DVERSION='"vN"'. */
#include <forkctl.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION "unversioned"
#endif

int serve(int argc, char **argv) {
  (void)argc;
  (void)argv;
  forkctl_notify("READY=1\nSTATUS=" VERSION);
  for (;;) pause();
}
